"""``relbert-classify``: a classifier for your own labelled pairs (fit), and labels for new pairs (predict)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from .common import Group, check_output, load_model
from .options import model_options
from .evaluate_command import batch_size_option, quiet_option
from .types import SEED


@click.group(cls=Group)
def classify():
    """Label word pairs with relations you have examples of: an MLP on the relation vectors."""


@classify.command("fit")
@click.argument("labelled", metavar="LABELLED.tsv", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False),
              help="Folder for the classifier (classifier.json + classifier.safetensors; no pickle).")
@click.option("--validation", "validation_file", default=None, type=click.Path(dir_okay=False),
              metavar="VAL.tsv", help="Labelled pairs to choose the paper's grid on (learning rate x hidden size, "
                                      "validation micro-F1), as relbert-eval classification does; default: the "
                                      "library's MLP settings.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Cross-validation folds for the reported macro F1 (at most the rarest label's count).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="random_state of the classifier and the folds.")
@batch_size_option
@quiet_option
@model_options
def fit_cmd(labelled, output, validation_file, folds, seed, batch_size, quiet, model, template, aggregation,
            max_length, device, precision, runtime, offset_weight):
    """Fit a classifier on LABELLED.tsv (head<TAB>tail<TAB>label per line): prints cross-validated
    macro F1 and a per-label table, then saves the classifier fitted on every pair into -o."""
    from ..data.lexical import read_labeled_pairs
    from ..evaluation.classification import choose_classifier, features
    from ..evaluation.classifier import SavedClassifier, cross_validate
    from ..errors import InputError

    out = Path(output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{output}: exists and is not a folder")
    check_output(out / "classifier.json") if out.is_dir() else check_output(out)
    try:
        data = read_labeled_pairs(labelled)
        val = read_labeled_pairs(validation_file) if validation_file else None
    except FileNotFoundError as err:
        raise UsageError(f"{err.filename}: no such file")
    except InputError as err:
        raise UsageError(str(err))
    if not data.pairs:
        raise UsageError(f"{labelled}: no labelled pairs")
    labels = sorted(set(data.labels))
    if len(labels) < 2:
        raise UsageError(f"{labelled}: one label only ({labels[0]}): a classifier needs two or more")
    if val is not None:  # the grid would be chosen on pairs no setting can get right
        unseen = sorted(set(val.labels) - set(labels))
        if unseen:
            raise UsageError(f"{validation_file}: label{'s' if len(unseen) > 1 else ''} {', '.join(unseen)} "
                             f"never appear{'' if len(unseen) > 1 else 's'} in {labelled}: the classifier cannot "
                             "predict them; add training pairs for them or remove them from the validation file")
    relbert = load_model(model, template, aggregation, max_length, device, precision, runtime=runtime,
                         offset_weight=offset_weight)
    x = {"train": features(relbert, data, batch_size, not quiet)}
    y = {"train": data.labels}
    if val is not None:
        x["val"], y["val"] = features(relbert, val, batch_size, not quiet), val.labels
    config, clf, _ = choose_classifier(x, y, labels, seed=seed, show_progress=not quiet)
    scores = cross_validate(x["train"], data.labels, folds=folds, seed=seed, config=config)
    click.echo(f"cross-validated macro F1 ({scores['folds']} folds): {scores['f1_macro']:.1f} "
               f"(+/- {scores['f1_macro_std']:.1f})")
    width = max(8, *(len(label) + 2 for label in labels))
    click.echo(f"{'label':<{width}}{'pairs':>8}{'F1':>8}")
    for label in labels:
        click.echo(f"{label:<{width}}{scores['counts'][label]:>8}{scores['f1_per_label'][label]:>8.1f}")
    saved = SavedClassifier.from_sklearn(clf, relbert.kind().record())
    saved.save(out, {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
                     "cross_validation": scores, "trained_on": str(labelled), "pairs": len(data.pairs),
                     "seed": seed})
    if not quiet:
        click.echo(f"wrote the classifier ({len(labels)} labels, {len(data.pairs)} pairs) to {output}", err=True)


@classify.command("predict")
@click.argument("folder", metavar="CLASSIFIER", type=click.Path(file_okay=False))
@click.argument("pairs", metavar="PAIRS", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="TSV: head, tail, label, probability per input line.")
@batch_size_option
@quiet_option
@model_options
def predict_cmd(folder, pairs, output, batch_size, quiet, model, template, aggregation, max_length, device, precision,
                runtime, offset_weight):
    """Label each pair of PAIRS (head<TAB>tail per line) with CLASSIFIER's most probable label.

    The pairs are embedded by the model the classifier was fitted on (recorded in it); another
    --model, template, aggregation or offset weight is refused."""
    from ..data.lexical import LabeledPairs
    from ..evaluation.classification import features
    from ..evaluation.classifier import SavedClassifier, check_same_model
    from ..atomic import atomic_output
    from ..io import read_pairs

    saved, _ = SavedClassifier.load(folder)
    check_output(output)
    if pairs != "-" and not Path(pairs).is_file():
        raise UsageError(f"{pairs}: no such file")
    rows = read_pairs(pairs)
    made = saved.model
    name = model if model is not None else (None if made["model"] == "relbert-minilm" else made["model"])
    relbert = load_model(name, template or made["template"], aggregation or made["aggregation"],
                         max_length, device, precision, runtime=runtime,
                         offset_weight=made["offset_weight"] if offset_weight is None else offset_weight)
    check_same_model(saved, relbert, folder)
    x = features(relbert, LabeledPairs(rows, [""] * len(rows)), batch_size, not quiet)
    labels, probs = saved.predict(x)
    with atomic_output(Path(output), "w") as handle:
        for (head, tail), label, p in zip(rows, labels, probs):
            handle.write(f"{head}\t{tail}\t{label}\t{p:.4f}\n")
    if not quiet:
        click.echo(f"wrote {len(rows)} labelled pair{'' if len(rows) == 1 else 's'} to {output}", err=True)
