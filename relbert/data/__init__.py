"""Readers for the benchmark and training data formats, each validating with FILE:LINE errors.

- :mod:`relbert.data.analogy`: analogy questions (JSONL ``{"stem", "choice", "answer"}``).
- :mod:`relbert.data.lexical`: lexical relation classification (TSV, CogALex ``gold_task2.txt``).
- :mod:`relbert.data.paths`: where the shared data folder is.
"""
