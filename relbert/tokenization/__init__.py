"""Fused template tokenization: word pairs -> model-ready batches.

- :mod:`.pair_tokenizer`: :class:`PairTokenizer` (ids identical to the Hugging Face tokenizer's
  for the full prompt; the compiled core where built, the Python one otherwise) and the pair checks.
- :mod:`.python_encoder`: the pure-Python encoder (template runs + word slots, the reference).
- :mod:`.compiled`: builds the C++ encoder (``relbert._C``) from the tokenizer's ``tokenizer.json``.
- :mod:`.prompts`: :class:`Prompts`, tokenized prompts ready for the model (``RelBERT.embed_prompts``).
"""
from .pair_tokenizer import PairTokenizer
from .prompts import Prompts

__all__ = ["PairTokenizer", "Prompts"]
