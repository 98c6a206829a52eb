"""Embedding a file of pairs into a collection, and what a collection records of its making.

- :mod:`.kind`: :class:`~relbert.embedding.kind.VectorKind`, what made a vector (one record, one comparison).
- :mod:`.provenance`: the kind written beside a collection (``OUT.npy.provenance.json``).
- :mod:`.plan`: the one planning read of the input and the prompts of a row range read back.
- :mod:`.writer`: the ``.npy`` filled by positioned writes; :mod:`.formats`: npz and word2vec.
- :mod:`.state`: the run's record on disk (resume, shards); :mod:`.run`: :class:`~relbert.embedding.run.EmbedRun`.
- :mod:`.unknown_words`: words the model cannot read, found while planning.
"""
