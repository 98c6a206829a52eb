"""``relbert-eval``: analogy, relation classification, relation mapping, validation, compare."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError, UserError
from ..training.config import SELECTIONS, VALIDATION_SETS  # no torch
from ..data.paths import load_datasets
from ..training.validation import build_validators, validation_names
from .common import Group, check_output, load_model
from .options import data_dir_option, model_options
from .types import NON_NEGATIVE, SEED


def _embedder(model, template, aggregation, max_length, device, baseline, precision="fp32", runtime=None,
              offset_weight=None):
    """The model to evaluate (at ``offset_weight``, default the model's own), or a baseline built on
    the *base* encoder (--model, else the packaged MiniLM without the shipped fine-tuning)."""
    from ..models.loading import default_model_path

    if baseline is None:
        return load_model(model, template, aggregation, max_length, device, precision, runtime=runtime,
                          offset_weight=offset_weight)
    if offset_weight:
        raise UsageError("--offset-weight is for a model, not a --baseline (diff is the offset alone)")
    base = model or default_model_path()
    relbert = load_model(base, template or "a", aggregation or "average_no_mask", max_length, device, precision,
                         runtime=runtime, offset_weight=0)
    if model is None:
        relbert.display_name = "all-MiniLM-L6-v2 (packaged base)"
    if baseline == "diff":
        from ..evaluation.baselines import WordDiffBaseline

        return WordDiffBaseline(relbert)
    relbert.baseline = "vanilla"  # the untrained encoder with the template
    return relbert


def _finish(report, output, quiet):
    from ..evaluation.report import table, with_average, write_report

    with_average(report)
    click.echo(table(report))
    if output:
        write_report(report, output)
        if not quiet:
            click.echo(f"wrote {output}", err=True)


batch_size_option = click.option("--batch-size", "-b", type=click.IntRange(min=1), default=128, show_default=True,
                                 help="Prompts per encoder call.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
eval_options = [
    click.option("--baseline", type=click.Choice(["vanilla", "diff"]), default=None,
                 help="Evaluate a reference on the base encoder (--model, else the packaged MiniLM): vanilla = "
                      "the untrained encoder with the template; diff = word-vector difference."),
    data_dir_option,
    batch_size_option,
    click.option("--output", "-o", default=None, type=click.Path(dir_okay=False), help="Write the JSON report here."),
    quiet_option,
]


def with_eval_options(func):
    for option in reversed(eval_options):
        func = option(func)
    return model_options(func, precision_default="fp32")


@click.group(cls=Group)
def evaluate():
    """Evaluate relation embeddings: analogy questions, relation classification, relation mapping, comparisons."""


@evaluate.command("analogy")
@click.option("--dataset", "-d", "datasets", multiple=True, metavar="NAME_OR_PATH",
              help="Dataset name under DATA/analogy (u2, u4, google, bats, ...) or a JSONL file; repeatable (default: all).")
@click.option("--split", type=click.Choice(["valid", "test"]), default="test", show_default=True,
              help="Which split to score (choose models on valid; report test).")
@click.option("--reverse-pair", is_flag=True, help="Score the reversed pairs (tail, head).")
@click.option("--bidirectional", is_flag=True, help="Score = forward cosine x reversed-pair cosine.")
@click.option("--per-relation/--no-per-relation", default=None,
              help="A table of accuracy per relation (the questions' prefix) after the totals (default: on for "
                   "your own file, off for the benchmarks).")
@with_eval_options
def evaluate_analogy_cmd(datasets, split, reverse_pair, bidirectional, per_relation, model, template, aggregation,
                         max_length, device, precision, runtime, offset_weight, baseline, data_dir, batch_size, output,
                         quiet):
    """Analogy accuracy: the candidate pair most cosine-similar to the stem pair."""
    from ..data.analogy import available_analogy, resolve_analogy
    from ..evaluation.analogy import evaluate_analogy

    if reverse_pair and bidirectional:
        raise UsageError("choose --reverse-pair or --bidirectional, not both")
    if output:
        check_output(output)
    loaded = load_datasets(datasets, data_dir, available_analogy, lambda d, root: resolve_analogy(d, split, root))
    embedder = _embedder(model, template, aggregation, max_length, device, baseline, precision, runtime,
                         offset_weight)
    own = {d.name for d in loaded if _is_file(d.path, datasets)}  # a user's files: no split, their own names
    report = {"task": "analogy", **embedder.describe(), "split": split if len(own) < len(loaded) else None,
              "options": {"reverse_pair": reverse_pair, "bidirectional": bidirectional}, "datasets": {}}
    for dataset in loaded:
        try:
            scores = evaluate_analogy(embedder, dataset, reverse_pair=reverse_pair, bidirectional=bidirectional,
                                      batch_size=batch_size, show_progress=not quiet)
        except UserError as err:  # a prompt too long for the model, say: named with its file
            raise UsageError(f"{dataset.path}: {err}")
        scores.pop("predictions")
        if dataset.name in own:
            scores["file"] = str(dataset.path)
        report["datasets"][dataset.name] = scores
    _finish(report, output, quiet)
    if per_relation if per_relation is not None else bool(own):  # on by default for a user's file
        from ..evaluation.report import per_relation_table

        relations = per_relation_table(report)
        if relations:
            click.echo(relations)


def _is_file(path, given) -> bool:
    """Whether the user named this dataset by its file (not a benchmark name)."""
    return any(Path(g).suffix == ".jsonl" or Path(g).is_file() for g in given
               if Path(g).resolve() == Path(path).resolve())


@evaluate.command("classification")
@click.option("--dataset", "-d", "datasets", multiple=True, metavar="NAME_OR_FOLDER",
              help="Dataset under DATA/lexical_relation (BLESS, CogALexV, EVALution, K&H+N, ROOT09) or a folder; repeatable (default: all).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="random_state of the MLP classifier.")
@with_eval_options
def evaluate_classification_cmd(datasets, seed, model, template, aggregation, max_length, device, precision, runtime, offset_weight, baseline,
                                data_dir, batch_size, output, quiet):
    """Lexical relation classification: an MLP on concat(emb(h, t), emb(t, h))."""
    from ..data.lexical import available_lexical, resolve_lexical
    from ..evaluation.classification import evaluate_classification

    if output:
        check_output(output)
    loaded = load_datasets(datasets, data_dir, available_lexical, resolve_lexical)
    embedder = _embedder(model, template, aggregation, max_length, device, baseline, precision, runtime,
                         offset_weight)
    report = {"task": "classification", **embedder.describe(), "split": "test", "datasets": {}}
    for name, splits in loaded:
        if not quiet:
            click.echo(f"{name}: training classifiers ...", err=True)
        try:
            report["datasets"][name] = evaluate_classification(embedder, splits, seed=seed, batch_size=batch_size,
                                                               show_progress=not quiet)
        except UserError as err:
            raise UsageError(f"{name}: {err}")
        if output:  # a long run keeps every finished dataset on disk
            from ..evaluation.report import with_average, write_report

            write_report(with_average(dict(report)), output)
    _finish(report, output, quiet)


@evaluate.command("mapping")
@click.option("--dataset", "-d", "dataset", default="relation_mapping", show_default=True, metavar="NAME_OR_FILE",
              help="Dataset folder name under DATA (holding data.jsonl) or a JSONL file.")
@with_eval_options
def evaluate_mapping_cmd(dataset, model, template, aggregation, max_length, device, precision, runtime, offset_weight, baseline,
                         data_dir, batch_size, output, quiet):
    """Relation mapping problem (Turney 2008): the exact best bijection of every problem."""
    from ..data.mapping import resolve_mapping
    from ..evaluation.mapping import evaluate_mapping

    if output:
        check_output(output)
    (problems,) = load_datasets([dataset], data_dir, None, resolve_mapping)
    embedder = _embedder(model, template, aggregation, max_length, device, baseline, precision, runtime,
                         offset_weight)
    report = {"task": "mapping", **embedder.describe(), "split": None, "datasets": {}}
    scores = evaluate_mapping(embedder, problems, batch_size=batch_size, show_progress=not quiet)
    report["datasets"][Path(dataset).stem if dataset.endswith(".jsonl") else dataset] = scores
    _finish(report, output, quiet)


@evaluate.command("validation")
@click.option("--validation", default=",".join(VALIDATION_SETS), show_default=True,
              help="Comma-separated validation sets, as relbert-train --validation ('semeval' = held-out SemEval pairs).")
@click.option("--selection", type=click.Choice(SELECTIONS), default="balanced", show_default=True,
              help="The score reported as 'selection' (with its standard error): balanced (each set counts once; "
                   "mean is its earlier name) or weighted by each set's number of questions.")
@with_eval_options
def evaluate_validation_cmd(validation, selection, model, template, aggregation, max_length, device, precision,
                            runtime, offset_weight, baseline, data_dir, batch_size, output, quiet):
    """The validation score relbert-train selects epochs by, for any model (e.g. an averaged checkpoint)."""
    from ..training.config import selection_score
    from ..training.config import selection_se

    if output:
        check_output(output)
    names = validation_names(validation)
    if not names:
        raise UsageError("--validation names no set")
    validators = build_validators(names, data_dir, batch_size)
    embedder = _embedder(model, template, aggregation, max_length, device, baseline, precision, runtime,
                         offset_weight)
    report = {"task": "validation", **embedder.describe(), "split": "valid", "datasets": {}}
    for name, validator in validators.items():
        report["datasets"][name] = {"accuracy": float(validator(embedder)), "n_questions": validator.questions}
    scores = {name: s["accuracy"] for name, s in report["datasets"].items()}
    sizes = {name: s["n_questions"] for name, s in report["datasets"].items()}
    report["mean"] = selection_score(scores, sizes, "mean")
    report["weighted"] = selection_score(scores, sizes, "weighted")
    report["balanced"] = report["mean"]
    report["selection"] = {"rule": selection, "score": report[selection],
                           "se": selection_se(scores, sizes, selection)}
    _finish(report, output, quiet)
    click.echo(f"{'weighted':<24}{sum(sizes.values()):>8}{report['weighted']:>12.1f}")
    click.echo(f"{'selection (' + selection + ')':<24}{'':>8}{report[selection]:>12.2f} +/- "
               f"{report['selection']['se']:.2f}")


#: The sets choose-offset scores by default: every benchmark with a validation split.
ALL_VALIDATION_SETS = ("semeval", "u2", "u4", "google", "bats", "conceptnet", "t_rex_draft")


@evaluate.command("choose-offset")
@click.option("--validation", default=",".join(ALL_VALIDATION_SETS), show_default=True,
              help="Comma-separated validation sets whose mean accuracy chooses the weight.")
@click.option("--grid", default=None, metavar="L1,L2,...",
              help="Offset weights to score (default: 0 to 2 in 12 steps).")
@click.option("--output", "-o", "save_to", default=None, type=click.Path(file_okay=False),
              help="Save the model with the chosen weight into this folder (config.json's relbert_config records it).")
@click.option("--max-drop", type=NON_NEGATIVE, default=1.0, show_default=True,
              help="A weight is chosen only if no set scores more than this many points below its score at 0.")
@click.option("--report", default=None, type=click.Path(dir_okay=False), help="Write the grid as JSON here.")
@data_dir_option
@batch_size_option
@quiet_option
@model_options
def choose_offset_cmd(validation, grid, save_to, max_drop, report, data_dir, batch_size, quiet, model, template, aggregation,
                      max_length, device, precision, runtime, offset_weight):
    """Choose a model's offset weight on validation: score a grid of weights (one encoder pass),
    print the table, and save the model with the best mean over the sets into -o FOLDER."""
    from ..evaluation.offset_choice import (best_offset_weight, grid_table, keep_unless_clear, parse_grid, public,
                                            score_offset_grid)
    from ..model import RelBERT
    from ..models.loading import resolve

    if offset_weight is not None:
        raise UsageError("choose-offset chooses the offset weight itself: drop --offset-weight (--grid sets the candidates)")
    weights = parse_grid(grid)
    if report:
        check_output(report)
    if save_to and Path(save_to).exists() and not Path(save_to).is_dir():
        raise UsageError(f"{save_to}: exists and is not a folder")
    names = validation_names(validation)
    if not names:
        raise UsageError("--validation names no set")
    validators = build_validators(names, data_dir, batch_size)
    spec, settings = resolve(model, template=template, aggregation=aggregation, device=device, precision=precision,
                             runtime=runtime)
    relbert = RelBERT.from_resolved(spec, settings, max_length=max_length, runtime=runtime, offset_weight=0)
    rows = score_offset_grid(relbert, {name: v.dataset for name, v in validators.items()}, weights,
                             batch_size=batch_size, show_progress=not quiet)
    present = spec.offset_weight  # the model's own weight (it was loaded at 0 to score the grid)
    best = best_offset_weight(rows, max_drop, prefer=present)
    chosen, kept = keep_unless_clear(rows, best, present)
    click.echo(grid_table(rows, chosen))
    click.echo(f"chosen offset weight: {chosen:g} (best mean over {len(rows[0]['datasets'])} validation sets among "
               f"the weights costing no set more than {max_drop:g} points; a tie keeps the model's own)")
    if kept:
        click.echo(f"kept the model's own {chosen:g}: {kept['best']:g} gains {kept['gain']:+.2f} points, within one "
                   f"standard error ({kept['se']:.2f}) of the paired difference")
    if report:
        from ..atomic import write_json_atomic

        write_json_atomic(Path(report), {"task": "choose-offset", **relbert.describe(), "offset_weight": chosen,
                                         "best": best, "kept": kept, "grid": public(rows)}, indent=1)
    if save_to:
        relbert.offset_weight = chosen
        relbert.save_pretrained(save_to)
        if not quiet:
            click.echo(f"saved the model with offset_weight {chosen:g} to {save_to}", err=True)


@evaluate.command("compare")
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def compare_cmd(reports):
    """Print JSON reports side by side as a markdown table."""
    from ..evaluation.report import compare, read_reports

    click.echo(compare(read_reports(reports)))
