"""Tiny randomly initialised encoders, saved as HF folders: BERT (training, resume, torchrun and
scale tests: 100k+ pairs in seconds) and one per architecture / tokenizer family for the
architecture checks (DistilBERT, MPNet, RoBERTa, XLM-R, ALBERT).
"""
from __future__ import annotations

from pathlib import Path


def _minilm_tokenizer(folder):
    """The packaged MiniLM WordPiece tokenizer, saved into ``folder``."""
    from transformers import AutoTokenizer

    from relbert.models.loading import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    tok.save_pretrained(folder)
    return tok


def _trained_tokenizer(folder, build):
    """A tokenizer trained in the tests by ``build(folder)`` (tokenizer_fixtures), loaded back."""
    from transformers import AutoTokenizer

    build(folder)
    return AutoTokenizer.from_pretrained(folder)


def _save_model(folder, model_class, config, seed: int = 0):
    """``model_class(config)`` initialised with ``seed`` and saved into ``folder``."""
    import torch

    torch.manual_seed(seed)
    model_class(config).save_pretrained(folder)
    return folder


def build_tiny_bert(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    from transformers import BertConfig, BertModel

    tok = _minilm_tokenizer(folder)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128)
    return Path(_save_model(folder, BertModel, config, seed))


def _tiny_roberta_family(folder, build, config_class, model_class):
    """A 2-layer, 32-wide RoBERTa-family encoder whose tokenizer ``build`` trains in the tests."""
    tok = _trained_tokenizer(folder, build)
    config = config_class(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id)
    return _save_model(folder, model_class, config)


def build_tiny_roberta(folder):
    """A tiny RoBERTa with a byte-level BPE tokenizer trained in the tests."""
    from transformers import RobertaConfig, RobertaModel

    from helpers.tokenizer_fixtures import build_bpe

    return _tiny_roberta_family(folder, build_bpe, RobertaConfig, RobertaModel)


def build_tiny_distilbert(folder):
    """A tiny DistilBERT (a layer layout other than BERT's) with the packaged MiniLM tokenizer."""
    from transformers import DistilBertConfig, DistilBertModel

    tok = _minilm_tokenizer(folder)
    config = DistilBertConfig(vocab_size=tok.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    return _save_model(folder, DistilBertModel, config)


def build_tiny_mpnet(folder):
    """A tiny MPNet (relative position bias, no SDPA in transformers: eager attention) with the
    packaged MiniLM WordPiece tokenizer."""
    from transformers import MPNetConfig, MPNetModel

    tok = _minilm_tokenizer(folder)
    config = MPNetConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id)
    return _save_model(folder, MPNetModel, config)


def build_tiny_xlmr(folder):
    """A tiny XLM-RoBERTa with a SentencePiece-style Unigram tokenizer trained in the tests."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from helpers.tokenizer_fixtures import build_unigram

    return _tiny_roberta_family(folder, build_unigram, XLMRobertaConfig, XLMRobertaModel)


def build_tiny_albert(folder):
    """A tiny ALBERT (factorised embeddings, shared layers) with a Unigram tokenizer trained in the tests."""
    from transformers import AlbertConfig, AlbertModel

    from helpers.tokenizer_fixtures import build_unigram

    tok = _trained_tokenizer(folder, lambda f: build_unigram(f, bert_style=True))
    config = AlbertConfig(vocab_size=len(tok), embedding_size=16, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64, max_position_embeddings=130,
                          pad_token_id=tok.pad_token_id)
    return _save_model(folder, AlbertModel, config)
