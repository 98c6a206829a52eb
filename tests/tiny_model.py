"""Tiny randomly initialised encoders (BERT; RoBERTa and DistilBERT for architecture checks), saved as HF folders.

Fast enough for training, resume, torchrun and scale tests (100k+ pairs in seconds).
"""
from __future__ import annotations

from pathlib import Path


def build_tiny_bert(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from relbert.model import default_model_path

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


def build_tiny_roberta(folder):
    """A tiny RoBERTa with a byte-level BPE tokenizer trained in the tests."""
    import torch
    from transformers import AutoTokenizer, RobertaConfig, RobertaModel

    from tokenizer_fixtures import build_bpe

    build_bpe(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    config = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(folder)
    return folder


def build_tiny_distilbert(folder):
    """A tiny DistilBERT (a layer layout other than BERT's) with the packaged MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    from relbert.model import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    config = DistilBertConfig(vocab_size=tok.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    torch.manual_seed(0)
    DistilBertModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_tiny_mpnet(folder):
    """A tiny MPNet (relative position bias, no SDPA in transformers: eager attention) with the
    packaged MiniLM WordPiece tokenizer."""
    import torch
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    from relbert.model import default_model_path

    tok = AutoTokenizer.from_pretrained(default_model_path())
    config = MPNetConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    MPNetModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_tiny_xlmr(folder):
    """A tiny XLM-RoBERTa with a SentencePiece-style Unigram tokenizer trained in the tests."""
    import torch
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    from tokenizer_fixtures import build_unigram

    build_unigram(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    XLMRobertaModel(config).save_pretrained(folder)
    return folder


def build_tiny_albert(folder):
    """A tiny ALBERT (factorised embeddings, shared layers) with a Unigram tokenizer trained in the tests."""
    import torch
    from transformers import AlbertConfig, AlbertModel, AutoTokenizer

    from tokenizer_fixtures import build_unigram

    build_unigram(folder, bert_style=True)
    tok = AutoTokenizer.from_pretrained(folder)
    config = AlbertConfig(vocab_size=len(tok), embedding_size=16, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64, max_position_embeddings=130,
                          pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    AlbertModel(config).save_pretrained(folder)
    return folder
