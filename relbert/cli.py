"""Command-line entry points. Parsing and error reporting only; the work lives in the library."""
from __future__ import annotations

import sys

import click

from .templates import AGGREGATIONS

#: Exit status for bad input (a malformed file, an unknown model): as click's usage errors.
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> "NoReturn":  # noqa: F821
    """Print one line on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_model(model, template, aggregation, max_length, device):
    """Load a RelBERT model, turning load failures into one clear line."""
    from .model import ModelNotFoundError, RelBERT

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # transformers' per-tensor "Loading weights" bar says nothing useful
    try:
        return RelBERT.from_pretrained(
            model, template=template, aggregation=aggregation, max_length=max_length, device=device
        )
    except ModelNotFoundError as err:
        fail(str(err).splitlines()[0])
    except ValueError as err:  # bad template / aggregation
        fail(str(err))


def model_options(func):
    """Options shared by every command that loads a model."""
    options = [
        click.option("--model", "-m", default=None, metavar="NAME_OR_PATH",
                     help="Hugging Face model name or folder (default: the embedded default model)."),
        click.option("--template", "-t", default=None,
                     help="Template name a-e or a custom string with <subj>, <obj>, <mask> (default: the model's own, else a)."),
        click.option("--aggregation", "-a", type=click.Choice(AGGREGATIONS), default=None,
                     help="Pooling (default: the model's own, else average_no_mask)."),
        click.option("--max-length", type=click.IntRange(min=4), default=64, show_default=True,
                     help="Longest prompt in tokens; longer prompts are an error, never truncated."),
        click.option("--device", default=None, help="torch device (default: cuda if available, else cpu)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("pairs", metavar="PAIRS", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Output .npy file: float32 (N, hidden), row i = line i of PAIRS.")
@model_options
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--no-normalize", is_flag=True, help="Write raw masked sums (the official package's vectors) instead of unit vectors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def embed(pairs, output, model, template, aggregation, max_length, device, batch_size, no_normalize, quiet):
    """Embed the word pairs of PAIRS (head<TAB>tail per line; - for stdin) into OUTPUT.

    Every line is a pair (no header, no comments); blank lines, wrong field counts, empty
    words and invalid UTF-8 stop the run with FILE:LINE and exit status 2. The output is
    written atomically: on any error nothing is written and an existing file is untouched.
    """
    from .io import InputError, read_pairs, save_npy_atomic
    from .tokenization import PromptTooLongError

    try:
        data = read_pairs(pairs)
    except InputError as err:
        fail(str(err))
    except OSError as err:
        fail(f"{pairs}: {err.strerror or err}")
    if not data:
        fail(f"{pairs}: no pairs in the file")
    relbert = load_model(model, template, aggregation, max_length, device)
    try:
        vectors = relbert.embed(data, batch_size=batch_size, normalize=not no_normalize, show_progress=not quiet)
    except PromptTooLongError as err:
        line = next(i for i, p in enumerate(data, start=1) if p in err.lengths)
        fail(f"{pairs}:{line}: {err}")
    save_npy_atomic(output, vectors)
    if not quiet:
        click.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 to {output}", err=True)


# --- relbert-eval ----------------------------------------------------------------------------
def _data_dir(data_dir):
    from .data.paths import data_root

    try:
        return data_root(data_dir)
    except FileNotFoundError:
        if data_dir:
            fail(f"data folder not found: {data_dir}")
        return None


def _embedder(model, template, aggregation, max_length, device, baseline):
    from .model import default_model_path

    if baseline == "vanilla":
        # The untrained encoder with the template: the base model, never a fine-tuned block.
        relbert = load_model(model or default_model_path(), template or "a", aggregation or "average_no_mask", max_length, device)
        relbert_describe = relbert.describe()
        relbert.describe = lambda: {**relbert_describe, "baseline": "vanilla"}
        return relbert
    relbert = load_model(model, template, aggregation, max_length, device)
    if baseline == "diff":
        from .evaluation.baselines import WordDiffBaseline

        return WordDiffBaseline(relbert)
    return relbert


def _finish(report, output, quiet):
    from .evaluation.report import table, with_average, write_report

    with_average(report)
    click.echo(table(report))
    if output:
        write_report(report, output)
        if not quiet:
            click.echo(f"wrote {output}", err=True)


eval_options = [
    click.option("--baseline", type=click.Choice(["vanilla", "diff"]), default=None,
                 help="Evaluate a reference instead: the untrained encoder with the template, or word-vector difference."),
    click.option("--data-dir", default=None, type=click.Path(file_okay=False),
                 help="Data folder (default: $RELBERT_DATA, else ../shared/data)."),
    click.option("--batch-size", "-b", type=click.IntRange(min=1), default=128, show_default=True),
    click.option("--output", "-o", default=None, type=click.Path(dir_okay=False), help="Write the JSON report here."),
    click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
]


def with_eval_options(func):
    for option in reversed(eval_options):
        func = option(func)
    return model_options(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def evaluate():
    """Evaluate relation embeddings: analogy questions, relation classification, comparisons."""


@evaluate.command("analogy")
@click.option("--dataset", "-d", "datasets", multiple=True, metavar="NAME_OR_PATH",
              help="Dataset name under DATA/analogy (u2, u4, google, bats, ...) or a JSONL file; repeatable (default: all).")
@click.option("--split", type=click.Choice(["valid", "test"]), default="test", show_default=True)
@click.option("--reverse-pair", is_flag=True, help="Score the reversed pairs (tail, head).")
@click.option("--bidirectional", is_flag=True, help="Score = forward cosine x reversed-pair cosine.")
@with_eval_options
def evaluate_analogy_cmd(datasets, split, reverse_pair, bidirectional, model, template, aggregation, max_length, device,
                         baseline, data_dir, batch_size, output, quiet):
    """Analogy accuracy: the candidate pair most cosine-similar to the stem pair."""
    from .data.analogy import available_analogy, resolve_analogy
    from .evaluation.analogy import evaluate_analogy
    from .io import InputError

    if reverse_pair and bidirectional:
        fail("choose --reverse-pair or --bidirectional, not both")
    root = _data_dir(data_dir)
    if not datasets:
        if root is None:
            fail("no --dataset given and no data folder found (pass --data-dir or set RELBERT_DATA)")
        datasets = available_analogy(root)
    try:
        loaded = [resolve_analogy(d, split, root) for d in datasets]
    except InputError as err:
        fail(str(err))
    except FileNotFoundError as err:
        fail(str(err))
    embedder = _embedder(model, template, aggregation, max_length, device, baseline)
    report = {"task": "analogy", **embedder.describe(), "split": split,
              "options": {"reverse_pair": reverse_pair, "bidirectional": bidirectional}, "datasets": {}}
    for dataset in loaded:
        try:
            scores = evaluate_analogy(embedder, dataset, reverse_pair=reverse_pair, bidirectional=bidirectional,
                                      batch_size=batch_size, show_progress=not quiet)
        except ValueError as err:
            fail(f"{dataset.path}: {err}")
        scores.pop("predictions")
        report["datasets"][dataset.name] = scores
    _finish(report, output, quiet)


@evaluate.command("classification")
@click.option("--dataset", "-d", "datasets", multiple=True, metavar="NAME_OR_FOLDER",
              help="Dataset under DATA/lexical_relation (BLESS, CogALexV, EVALution, K&H+N, ROOT09) or a folder; repeatable (default: all).")
@click.option("--seed", type=int, default=0, show_default=True, help="random_state of the MLP classifier.")
@with_eval_options
def evaluate_classification_cmd(datasets, seed, model, template, aggregation, max_length, device, baseline, data_dir,
                                batch_size, output, quiet):
    """Lexical relation classification: an MLP on concat(emb(h, t), emb(t, h))."""
    from .data.lexical import available_lexical, resolve_lexical
    from .evaluation.classification import evaluate_classification
    from .io import InputError

    root = _data_dir(data_dir)
    if not datasets:
        if root is None:
            fail("no --dataset given and no data folder found (pass --data-dir or set RELBERT_DATA)")
        datasets = available_lexical(root)
    try:
        loaded = [resolve_lexical(d, root) for d in datasets]
    except (InputError, FileNotFoundError) as err:
        fail(str(err))
    embedder = _embedder(model, template, aggregation, max_length, device, baseline)
    report = {"task": "classification", **embedder.describe(), "split": "test", "datasets": {}}
    for name, splits in loaded:
        if not quiet:
            click.echo(f"{name}: training classifiers ...", err=True)
        try:
            report["datasets"][name] = evaluate_classification(embedder, splits, seed=seed, batch_size=batch_size,
                                                               show_progress=not quiet)
        except ValueError as err:
            fail(f"{name}: {err}")
    _finish(report, output, quiet)


@evaluate.command("compare")
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def compare_cmd(reports):
    """Print JSON reports side by side as a markdown table."""
    import json

    from .evaluation.report import compare

    loaded = []
    for path in reports:
        try:
            report = json.loads(open(path, encoding="utf-8").read())
            if not isinstance(report, dict) or "datasets" not in report or "task" not in report:
                raise ValueError("not a relbert-eval report (no 'task'/'datasets')")
        except ValueError as err:
            fail(f"{path}: {err}")
        loaded.append(report)
    if len({r["task"] for r in loaded}) > 1:
        fail("reports mix tasks (analogy and classification): compare one task at a time")
    click.echo(compare(loaded))


if __name__ == "__main__":  # pragma: no cover
    embed()
