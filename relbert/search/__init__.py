"""Relation search over an embedded collection (``relbert-search``, ``relbert-index``).

- :mod:`.exact`: :class:`~relbert.search.exact.RelationIndex`, the top-k pairs by cosine (exact,
  or an approximate index's candidates re-ranked exactly);
- :mod:`.index`: the FAISS index, built in chunks and stored with its collection's record;
- :mod:`.provenance`: which model made a collection, so queries are embedded the same way.
"""
