"""Run inside the official relbert==2.0.2 venv: write a checkpoint the way the authors published theirs.

usage: python official_save_bin.py MODEL TEMPLATE AGGREGATION OUT_DIR
The official package builds the model (its relbert_config set from TEMPLATE and AGGREGATION);
the weights are stored as pickled ``pytorch_model.bin`` (safe_serialization=False), as on the
hub (relbert/relbert-roberta-large and the others), with config.json and the tokenizer.
"""
import sys

import relbert.lm
import relbert.util

relbert.util.internet_connection = relbert.lm.internet_connection = lambda: False
from relbert import RelBERT  # noqa: E402

model, template, aggregation, out = sys.argv[1:5]
lm = RelBERT(model, template=template, aggregation_mode=aggregation)
lm.model.save_pretrained(out, safe_serialization=False)
lm.tokenizer.save_pretrained(out)
print(sorted(__import__("os").listdir(out)))
