"""Embedding a file of pairs beyond the model itself: what the planning pass checks of the input
(:mod:`relbert.embedding.unknown_words`: words the model cannot read). The streamed run lives in
:mod:`relbert.streaming`."""
