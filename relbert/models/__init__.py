"""Finding, fetching, shipping and saving models.

- :mod:`.loading`: where a model comes from (a folder, a hub name, the embedded default, a named
  model), the pickled-weights check, the settings it runs with and the parts
  :meth:`relbert.RelBERT.from_parts` is built from;
- :mod:`.saving`: the standalone checkpoint :meth:`relbert.RelBERT.save_pretrained` writes;
- :mod:`.named`: the named models (relbert-mpnet) and the cache they are fetched into;
  :mod:`.download`: ``relbert-download NAME``;
- :mod:`.shipping`: the fine-tuned deltas shipped in the package, applied over a base encoder;
  :mod:`.delta`: the maintainer tool that writes one.

``relbert-mpnet/`` beside these modules is that model's shipped delta and metadata.
"""
