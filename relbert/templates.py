"""Prompt templates: the paper's five by name, and checks for custom ones.

A template is a string with three markers: ``<subj>`` (the head word), ``<obj>`` (the tail
word) and ``<mask>`` (replaced by the tokenizer's mask token). Markers are filled
positionally, once each occurrence, so a word that itself contains ``<obj>`` stays literal.
"""
from __future__ import annotations

import re
from typing import List

from .errors import OptionError

SUBJ, OBJ, MASK = "<subj>", "<obj>", "<mask>"
MARKERS = (SUBJ, OBJ, MASK)

#: The five templates of the RelBERT paper (Table 1), verbatim: d and e use U+2019.
TEMPLATES = {
    "a": "Today, I finally discovered the relation between <subj> and <obj> : <subj> is the <mask> of <obj>",
    "b": "Today, I finally discovered the relation between <subj> and <obj> : <obj> is <subj>'s <mask>",
    "c": "Today, I finally discovered the relation between <subj> and <obj> : <mask>",
    "d": "I wasn\u2019t aware of this relationship, but I just read in the encyclopedia that <subj> is the <mask> of <obj>",
    "e": "I wasn\u2019t aware of this relationship, but I just read in the encyclopedia that <obj> is <subj>\u2019s <mask>",
}

AGGREGATIONS = ("mask", "average", "average_no_mask")

_MARKER_RE = re.compile("(" + "|".join(re.escape(m) for m in MARKERS) + ")")


def resolve_template(template: str) -> str:
    """Return the template string for a paper template name or a custom template.

    Args:
        template: ``"a"`` to ``"e"``, or a custom string containing ``<subj>``, ``<obj>``
            and ``<mask>``.

    Raises:
        ValueError: if a custom template lacks one of the three markers.
    """
    if template in TEMPLATES:
        return TEMPLATES[template]
    if not isinstance(template, str):
        raise TypeError(f"template must be a string, got {type(template).__name__}")
    missing = [m for m in MARKERS if m not in template]
    if missing:
        raise OptionError(
            f"template {template!r} is neither a paper template name ({', '.join(TEMPLATES)}) "
            f"nor a custom template: it lacks {', '.join(missing)} (a custom template needs "
            f"{', '.join(MARKERS)})"
        )
    return template


def template_name(template: str) -> str | None:
    """The paper name (``"a"``..``"e"``) of a template string, or None for a custom one."""
    for name, text in TEMPLATES.items():
        if text == template:
            return name
    return None


def check_aggregation(aggregation: str) -> str:
    """Validate an aggregation mode name and return it."""
    if aggregation not in AGGREGATIONS:
        raise OptionError(f"unknown aggregation {aggregation!r}: choose one of {', '.join(AGGREGATIONS)}")
    return aggregation


def split_template(template: str) -> List[str]:
    """Split a template into alternating text and marker pieces.

    ``split_template("x <subj> y <mask>")`` is ``["x ", "<subj>", " y ", "<mask>", ""]``:
    even indices are literal text, odd indices are markers.
    """
    return _MARKER_RE.split(resolve_template(template))


def fill_template(template: str, head: str, tail: str, mask_token: str) -> str:
    """Render the prompt for one pair: markers are replaced positionally.

    Args:
        template: a template name or string (see :func:`resolve_template`).
        head: the word filling ``<subj>``.
        tail: the word filling ``<obj>``.
        mask_token: the tokenizer's mask token text (``[MASK]``, ``<mask>``).
    """
    fill = {SUBJ: head, OBJ: tail, MASK: mask_token}
    pieces = split_template(template)
    return "".join(fill[p] if i % 2 else p for i, p in enumerate(pieces))
