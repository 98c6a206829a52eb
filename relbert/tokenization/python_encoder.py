"""The pure-Python pair encoder: the template tokenized once into fixed runs and word slots,
each distinct word once per slot context (the reference the compiled ``relbert._C`` matches)."""
from __future__ import annotations

import unicodedata
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

from ..templates import MASK, OBJ, SUBJ, fill_template, split_template

Pair = Tuple[str, str]


#: Bound of the per-slot word caches (distinct words, all slots together).
MAX_CACHED_WORDS = 1 << 17

# Pairs used to derive and verify the template's token runs (plain lowercase words that
# every vocabulary splits cleanly at the slot boundaries).
_PROBES = (("dog", "cat"), ("natural selection", "evolution"), ("paris", "france"))


def _is_punct(ch: str) -> bool:
    """Punctuation as BERT's pre-tokenizer defines it (ASCII symbols count)."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_alnum(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN"


def _boundary_splits(left: Optional[str], right: Optional[str]) -> bool:
    """Whether every supported pre-tokenizer splits between chars ``left`` and ``right``.

    None stands for the edge of the string. Whitespace always splits; so does punctuation
    next to a letter or digit (in BERT punctuation is isolated, in GPT-2's pattern letters,
    digits and other characters form different runs).
    """
    if left is None or right is None or left.isspace() or right.isspace():
        return True
    return (_is_alnum(left) and _is_punct(right)) or (_is_punct(left) and _is_alnum(right))


class _Slot:
    """A word position in the template: which word, and the text around it."""

    __slots__ = ("word", "prefix", "left", "right")

    def __init__(self, word: int, prefix: str, left: Optional[str], right: Optional[str]):
        self.word = word  # 0 = head (<subj>), 1 = tail (<obj>)
        self.prefix = prefix  # " " when the template's space before the slot belongs to the word's first token
        self.left = left  # template char before the slot (None at the start)
        self.right = right  # template char after the slot (None at the end)


class PythonPairEncoder:
    """Pure-Python backend: template runs + per-slot word cache, ids from the HF tokenizer."""

    def __init__(self, hf_tokenizer, template: str):
        self.tok = hf_tokenizer
        self.template = template
        self.mask_token = hf_tokenizer.mask_token
        # Added-token texts, lowercased: a word containing one is tokenized as a full prompt.
        self._special_texts = sorted({t.content.lower() for t in hf_tokenizer.added_tokens_decoder.values()})
        self._cache: List[Dict[str, List[int]]] = []
        #: Most distinct words cached over all slots; when full the cache starts over (bounded
        #: memory for any vocabulary; the C++ core has the same bound).
        self.max_words = MAX_CACHED_WORDS
        self.program = self._build_program()
        if self.program is None:
            warnings.warn(
                f"relbert: could not split template {template!r} into fixed token runs for this "
                "tokenizer; every prompt is tokenized in full (exact, slower)",
                stacklevel=3,
            )

    # -- construction -------------------------------------------------------------------
    def _build_program(self):
        pieces = split_template(self.template)
        head, tail = _PROBES[0]
        runs, slots = self._carve(pieces, head, tail)
        if runs is None:
            return None
        program = (runs, slots)
        self._cache = [dict() for _ in slots]
        for h, t in _PROBES:
            if self._fast_ids(program, h, t) != self._full_ids(h, t):
                return None
        return program

    def _carve(self, pieces: List[str], head: str, tail: str):
        """Tokenize a probe prompt with offsets and cut it into template runs and slots."""
        words = {SUBJ: head, OBJ: tail, MASK: self.mask_token}
        text, spans, slots = "", [], []
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                text += piece
                continue
            start = len(text)
            text += words[piece]
            if piece == MASK:
                continue
            before, after = pieces[i - 1], pieces[i + 1]
            # Two markers side by side: the words would touch; no fixed split exists.
            if (before == "" and i > 1) or (after == "" and i < len(pieces) - 2):
                return None, None
            prefix = " " if before.endswith(" ") else ""
            slots.append(_Slot(0 if piece == SUBJ else 1, prefix, before[-1] if before else None, after[0] if after else None))
            spans.append((start, len(text)))
        enc = self.tok(text, return_offsets_mapping=True, add_special_tokens=True)
        runs: List[List[int]] = [[] for _ in range(len(slots) + 1)]
        current = 0
        for tid, (s, e) in zip(enc["input_ids"], enc["offset_mapping"]):
            hit = next((k for k, (ws, we) in enumerate(spans) if s < we and e > ws), None)
            if hit is None:
                runs[current].append(tid)
            else:
                if hit < current - 1 or hit > current:
                    return None, None
                current = hit + 1
        return runs, slots

    # -- encoding -----------------------------------------------------------------------
    def _word_ok(self, word: str, slot: _Slot) -> bool:
        if word[0].isspace() or word[-1].isspace():
            return False
        if not (_boundary_splits(slot.left, word[0]) and _boundary_splits(word[-1], slot.right)):
            return False
        low = word.lower()
        return not any(s in low for s in self._special_texts)

    def _fast_ids(self, program, head: str, tail: str) -> Optional[List[int]]:
        runs, slots = program
        if sum(map(len, self._cache)) + len(slots) > self.max_words:
            for cache in self._cache:
                cache.clear()
        ids = list(runs[0])
        for k, slot in enumerate(slots):
            word = tail if slot.word else head
            cache = self._cache[k]
            piece = cache.get(word)
            if piece is None:
                if not self._word_ok(word, slot):
                    return None
                piece = self.tok(slot.prefix + word, add_special_tokens=False)["input_ids"]
                cache[word] = piece
            ids.extend(piece)
            ids.extend(runs[k + 1])
        return ids

    def _full_ids(self, head: str, tail: str) -> List[int]:
        return self.tok(fill_template(self.template, head, tail, self.mask_token))["input_ids"]

    def token_ids(self, pairs: Sequence[Pair]) -> List[List[int]]:
        """Unpadded ids of each pair's prompt, special tokens included."""
        out = []
        for head, tail in pairs:
            ids = self._fast_ids(self.program, head, tail) if self.program is not None else None
            out.append(ids if ids is not None else self._full_ids(head, tail))
        return out
