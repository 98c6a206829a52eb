"""Run inside the official relbert==2.0.2 venv: embed pairs with the reference implementation.

usage: python official_embed.py MODEL PAIRS.tsv OUT.npy [TEMPLATE AGGREGATION]
Prints the template and aggregation the official package used.
"""
import sys

import numpy as np
import relbert.lm
import relbert.util

# The official package pings google.com to decide whether to go online: stay offline.
relbert.util.internet_connection = relbert.lm.internet_connection = lambda: False
from relbert import RelBERT  # noqa: E402

model, pairs_file, out = sys.argv[1:4]
kwargs = {"template": sys.argv[4], "aggregation_mode": sys.argv[5]} if len(sys.argv) > 5 else {}
pairs = [tuple(line.rstrip("\n").split("\t")) for line in open(pairs_file, encoding="utf-8")]
lm = RelBERT(model, **kwargs)
np.save(out, np.asarray(lm.get_embedding(pairs, batch_size=32), dtype=np.float32))
print(repr(lm.template), lm.aggregation_mode)
