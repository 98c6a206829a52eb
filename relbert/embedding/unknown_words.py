"""Words a model cannot read: the tokenizer gives only its unknown token for them (every emoji to a
WordPiece vocabulary without them, a 10,000-character word), or nothing at all, or they hold a
NUL or another control character. Their pairs get a vector all the same, but one that says
nothing of the word (``🐶:🐱`` and ``🍎:🍌`` embed identically), so ``relbert-embed`` counts them and
names the first few, and ``--strict`` makes the first one an error."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

Pair = Tuple[str, str]

#: How many are named in the closing line.
SHOWN = 5
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def why_unreadable(word: str, own_ids: np.ndarray, unk_id: Optional[int]) -> Optional[str]:
    """Why the model cannot read ``word`` (its own token ids ``own_ids``), or None."""
    found = _CONTROL.search(word)
    if found:
        name = unicodedata.name(found.group(), None) or f"U+{ord(found.group()):04X}"
        return f"a control character ({name})"
    if len(own_ids) == 0:
        return "no tokens at all"
    if unk_id is not None and bool(np.all(own_ids == unk_id)):
        return "only the unknown token"
    return None


@dataclass
class UnknownWords:
    """The pairs of a file with a word the model cannot read: a count and the first few."""

    source: str
    strict: bool = False
    count: int = 0
    examples: List[Tuple[int, str, str]] = field(default_factory=list)  # line, word, why

    def check_block(self, rows: Sequence[int], pairs: Sequence[Pair], ids: np.ndarray, offsets: np.ndarray,
                    pooled: np.ndarray, unk_id: Optional[int]) -> None:
        """Check a block's pairs (``rows`` 0-based) from :meth:`relbert.PairTokenizer.encode_words` output
        of their words, two a pair in order. With :attr:`strict`, the first is an InputError."""
        from ..errors import InputError

        own = pooled.astype(bool)
        for k, (row, pair) in enumerate(zip(rows, pairs)):
            for j, word in enumerate(pair):
                start, stop = offsets[2 * k + j], offsets[2 * k + j + 1]
                why = why_unreadable(word, ids[start:stop][own[start:stop]], unk_id)
                if why is None:
                    continue
                if self.strict:
                    raise InputError(self.source, row + 1, f"the model cannot read the word {_short(word)!r}: "
                                                           f"{why} (--strict)")
                self.count += 1
                if len(self.examples) < SHOWN:
                    self.examples.append((row + 1, word, why))
                break  # a pair counts once

    def summary(self) -> Optional[str]:
        """One line for the user, or None when every word was read."""
        if not self.count:
            return None
        shown = "; ".join(f"{self.source}:{line} {_short(word)!r} ({why})" for line, word, why in self.examples)
        more = f" and {self.count - len(self.examples)} more" if self.count > len(self.examples) else ""
        return (f"note: {self.count} pair{'s' if self.count != 1 else ''} hold a word the model cannot read, so its "
                f"vector says nothing of that word: {shown}{more} (--strict makes this an error; docs/commands.md)")


def _short(word: str, limit: int = 30) -> str:
    return word if len(word) <= limit else word[:limit] + "..."
