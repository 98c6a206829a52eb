"""Tokenizers built inside the tests with HF `tokenizers` (the independent reference).

- a byte-level BPE with RoBERTa's special tokens and post-processing (``<s> … </s>``,
  ``<mask>`` with lstrip), trained on a small corpus;
- a cased WordPiece (no lowercasing, accents kept) with BERT post-processing.
Both are saved as Hugging Face folders so every code path loads them like a real model.
"""
from __future__ import annotations

from pathlib import Path

CORPUS = [
    "Today, I finally discovered the relation between dog and cat : dog is the mask of cat",
    "I wasn\u2019t aware of this relationship, but I just read in the encyclopedia that x is y\u2019s z",
    "Paris is the capital of France. Tokyo is the capital of Japan. Natural selection drives evolution.",
    "The café serves crème brûlée; naïve über-coöperation isn't rock'n'roll, it's 1990s-era jazz!",
    "Москва столица России. 東京は日本の首都です。 العربية 😀 emoji 🎉 test",
] * 20


def build_bpe(folder: Path, add_prefix_space: bool = False) -> Path:
    from tokenizers import AddedToken, ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast

    tok = ByteLevelBPETokenizer(add_prefix_space=add_prefix_space)
    tok.train_from_iterator(CORPUS, vocab_size=600, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
                                                      add_prefix_space=add_prefix_space, trim_offsets=True)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok._tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token=AddedToken("<mask>", lstrip=True, rstrip=False),
    )
    fast.save_pretrained(folder)
    return folder


def build_cased_wordpiece(folder: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=800, special_tokens=special, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(folder)
    return folder


#: Words that stress the template boundaries and normalizers.
ADVERSARIAL_WORDS = [
    "natural selection", "well-being", "rock'n'roll", "o'clock", "dogs'", "st.", "U.S.", "1990s", "42", "3.14",
    "Paris", "NASA", "McDonald's", "café", "Crème Brûlée", "naïve", "Москва", "東京", "العربية", "😀", "🎉party",
    "supercalifragilisticexpialidocious" * 4, "x" * 150, "<mask>", "[MASK]", "<s>", "</s>", "[CLS]", "a<mask>b",
    "[mask]", "<subj>", "<obj>", "it's", "’s", "dog’", "(parenthesis)", "a  b", " lead", "trail ", "tab\there",
    "e\u0301", "ﬁ", "Ⅻ", "\u00adsoft", "🏳️‍🌈", "ǅ", "ß", "İstanbul", "x\u200by",
]


def build_unigram(folder: Path, bert_style: bool = False) -> Path:
    """A SentencePiece-style Unigram tokenizer (Metaspace pre-tokenizer, NFKC), trained here.

    ``bert_style`` gives ALBERT's special tokens (``[CLS] … [SEP]``, ``[MASK]``); otherwise
    XLM-R's (``<s> … </s>``, ``<mask>``).
    """
    from tokenizers import AddedToken, SentencePieceUnigramTokenizer, processors
    from transformers import PreTrainedTokenizerFast

    if bert_style:
        special = {"pad": "<pad>", "unk": "<unk>", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
        order = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    else:
        special = {"pad": "<pad>", "unk": "<unk>", "cls": "<s>", "sep": "</s>", "mask": "<mask>"}
        order = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = SentencePieceUnigramTokenizer()
    tok.train_from_iterator(CORPUS, vocab_size=400, special_tokens=order, unk_token="<unk>", show_progress=False)
    cls, sep = special["cls"], special["sep"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok._tokenizer, unk_token=special["unk"], pad_token=special["pad"], cls_token=cls,
        sep_token=sep, bos_token=cls, eos_token=sep, mask_token=AddedToken(special["mask"], lstrip=True, rstrip=False))
    fast.save_pretrained(folder)
    return folder
