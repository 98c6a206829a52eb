"""Builds PairTokenizer's C++ implementation (``relbert._C``) from a Hugging Face tokenizer.

The tokenizer's own ``tokenizer.json`` (its serialized backend) is read here and the C++
WordPiece or byte-level BPE is configured from it. Configurations the C++ core does not
implement (other normalizers, pre-tokenizers or models) return None: the Python backend is
then used, with identical results.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Optional, Tuple

AGGREGATION_CODES = {"mask": 0, "average": 1, "average_no_mask": 2}


def compiled_module():
    """``relbert._C``, or None where the extension was not built (set RELBERT_REQUIRE_EXT=1 to make that an error)."""
    try:
        from .. import _C
    except ImportError as err:
        if os.environ.get("RELBERT_REQUIRE_EXT") == "1":
            raise ImportError(f"relbert._C is required (RELBERT_REQUIRE_EXT=1) but cannot be imported: {err}") from err
        return None
    return _C


def word_tokenizer(hf_tokenizer) -> Tuple[Optional[object], str]:
    """A ``relbert._C`` word tokenizer equivalent to ``hf_tokenizer``, or (None, reason)."""
    _C = compiled_module()
    if _C is None:
        return None, "relbert._C is not built"
    spec = json.loads(hf_tokenizer.backend_tokenizer.to_str())
    model, norm, pre = spec.get("model") or {}, spec.get("normalizer"), spec.get("pre_tokenizer")
    vocab = model.get("vocab")
    if model.get("type") == "WordPiece":
        if pre is None or pre.get("type") != "BertPreTokenizer":
            return None, f"pre-tokenizer {pre and pre.get('type')} is not BertPreTokenizer"
        if norm is None:
            flags = (False, False, False, False)
        elif norm.get("type") == "BertNormalizer":
            lower = bool(norm.get("lowercase", True))
            strip = norm.get("strip_accents")
            flags = (bool(norm.get("clean_text", True)), bool(norm.get("handle_chinese_chars", True)),
                     lower if strip is None else bool(strip), lower)
        else:
            return None, f"normalizer {norm.get('type')} is not supported"
        unk = vocab.get(model.get("unk_token", "[UNK]"))
        if unk is None:
            return None, "the unknown token is not in the vocabulary"
        return _C.WordPiece(vocab, unk, model.get("continuing_subword_prefix", "##"),
                            int(model.get("max_input_chars_per_word", 100)), *flags), ""
    if model.get("type") == "BPE":
        if norm is not None:
            return None, f"normalizer {norm.get('type')} before byte-level BPE is not supported"
        if pre is None or pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
            return None, "only the ByteLevel pre-tokenizer (GPT-2 pattern) is supported for BPE"
        if model.get("dropout") or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") \
                or model.get("byte_fallback"):
            return None, "BPE dropout, subword prefixes/suffixes and byte fallback are not supported"
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
        unk_token = model.get("unk_token")
        unk = vocab.get(unk_token, -1) if unk_token else -1
        return _C.ByteLevelBPE(vocab, merges, bool(pre.get("add_prefix_space", False)), unk,
                               bool(model.get("ignore_merges", False))), ""
    return None, f"model type {model.get('type')} is not supported by the C++ core"


def pair_encoder(python_encoder, aggregation: str, pad_id: int, mask_id: int):
    """A ``relbert._C.PairEncoder`` for the template program of a PythonPairEncoder, or None."""
    if python_encoder.program is None:
        return None
    tok, reason = word_tokenizer(python_encoder.tok)
    if tok is None:
        if compiled_module() is not None:
            warnings.warn(f"relbert: using the Python tokenizer: {reason}", stacklevel=4)
        else:
            warnings.warn("relbert: the C++ tokenizer (relbert._C) was not built, so the Python tokenizer runs "
                          "(same ids, slower); reinstall with a C++17 compiler and pybind11 present: "
                          "pip install --force-reinstall --no-deps -e . (RELBERT_REQUIRE_EXT=1 makes a failed "
                          "build an error)", stacklevel=4)
        return None
    runs, slots = python_encoder.program
    encoder = compiled_module().PairEncoder(
        tok, runs, [(s.word, s.prefix, s.left or "", s.right or "") for s in slots],
        python_encoder._special_texts, pad_id, mask_id, AGGREGATION_CODES[aggregation])
    return encoder
