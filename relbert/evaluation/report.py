"""Evaluation reports: JSON files, a table on stdout, and side-by-side comparison."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Union

from ..templates import template_name


def label(report: dict) -> str:
    """Short column name for a report: the model's last two path parts (``run/model``, a hub
    name's ``org/name``), template and baseline."""
    model = str(report.get("model", "?"))
    name = model if " " in model else ("/".join(Path(model).parts[-2:]).lstrip("/") or model)
    if report.get("baseline"):
        return f"{name} ({report['baseline']})"
    template = report.get("template")
    return f"{name} [{template_name(template) or 'custom'}]" if template else name


def distinct_labels(reports: List[dict]) -> List[str]:
    """Column names that tell the reports apart: :func:`label`, with more of the model's path
    where two would read alike (``run1/model`` and ``run2/model``), then the offset weight, the
    precision, and last a number."""
    names = [label(r) for r in reports]
    for depth in range(2, 6):
        clash = {n for n in names if names.count(n) > 1}
        if not clash:
            return names
        names = [_with_path(r, depth) if n in clash else n for n, r in zip(names, reports)]
    for key in ("offset_weight", "precision"):
        clash = {n for n in names if names.count(n) > 1}
        names = [f"{n} {key}={r.get(key)}" if n in clash and len({str(o.get(key)) for o, m in zip(reports, names)
                                                                  if m == n}) > 1 else n
                 for n, r in zip(names, reports)]
    clash = {n for n in names if names.count(n) > 1}
    return [f"{n} #{i + 1}" if n in clash else n for i, n in enumerate(names)]


def _with_path(report: dict, depth: int) -> str:
    model = str(report.get("model", "?"))
    parts = Path(model).parts
    shown = "/".join(parts[-depth:]) if " " not in model else model
    base = label({**report, "model": "x"})[1:]  # the template or baseline suffix
    return shown + base


def headline(report: dict, dataset: str) -> float:
    """The number a dataset row shows: classification micro-F1, else (analogy, mapping) accuracy."""
    scores = report["datasets"][dataset]
    return scores["f1_micro"] if report["task"] == "classification" else scores["accuracy"]


def with_average(report: dict) -> dict:
    values = [headline(report, d) for d in report["datasets"]]
    report["average"] = sum(values) / len(values) if values else None
    return report


def table(report: dict) -> str:
    """A plain-text table of one report."""
    task = report["task"]
    metric = "micro-F1" if task == "classification" else "accuracy"
    split = f" ({report['split']})" if report.get("split", "test") else ""  # mapping has no split
    lines = [f"{task}{split} — {label(report)}",
             f"{'dataset':<24}{'size':>8}{metric:>12}"]
    for key, scores in report["datasets"].items():
        name = row_name(key, scores)
        size = scores.get("n_questions") or scores.get("n_problems") or scores.get("sizes", {}).get("test")
        extra = ""
        if task == "classification":
            extra = f"   macro-F1 {scores['f1_macro']:.1f}  acc {scores['accuracy']:.1f}"
        elif task == "mapping":
            extra = f"   exact match {scores['exact_match']}/{scores['n_problems']}"
            for problem, result in scores["per_problem"].items():
                lines.append(f"  {problem:<22}{len(result['prediction']):>8}{result['accuracy']:>12.1f}")
        lines.append(f"{name:<24}{size:>8}{headline(report, key):>12.1f}{extra}")
    if report.get("average") is not None:
        lines.append(f"{'average':<24}{'':>8}{report['average']:>12.1f}")
    return "\n".join(lines)


def row_name(key: str, scores: dict) -> str:
    """A dataset's name in the tables: a user's file by its file name, a benchmark by its key."""
    return Path(scores["file"]).name if scores.get("file") else key


def per_relation_table(report: dict) -> str:
    """Accuracy per relation (the questions' ``prefix``) of each dataset that labels them."""
    lines = []
    for key, scores in report["datasets"].items():
        groups = scores.get("per_prefix") or {}
        if not groups:
            continue
        name = row_name(key, scores)
        width = max(24, *(len(g) + 2 for g in groups))
        lines += [f"{name}: per relation", f"{'relation':<{width}}{'questions':>10}{'accuracy':>10}"]
        lines += [f"{g:<{width}}{r['n_questions']:>10}{r['accuracy']:>10.1f}" for g, r in groups.items()]
    return "\n".join(lines)


def write_report(report: dict, path: Union[str, Path]) -> None:
    from ..atomic import write_json_atomic

    write_json_atomic(path, report, indent=2, ensure_ascii=False)


def compare(reports: List[dict]) -> str:
    """Markdown table: one row per dataset, one column per report."""
    datasets: Dict[str, None] = {}
    for report in reports:
        datasets.update(dict.fromkeys(report["datasets"]))
    # each column names its split: a valid and a test report of one model are different numbers
    header = "| dataset | " + " | ".join(name + (f" — {r['split']}" if r.get("split") else "")
                                       for name, r in zip(distinct_labels(reports), reports)) + " |"
    rule = "|---|" + "---:|" * len(reports)
    rows = []
    extra = ["weighted"] if any("weighted" in r for r in reports) else []  # validation reports
    for name in list(datasets) + ["average"] + extra:
        cells = []
        for report in reports:
            if name in ("average", "weighted"):
                value = report.get(name)
            else:
                value = headline(report, name) if name in report["datasets"] else None
            cells.append("–" if value is None else f"{value:.1f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join([header, rule] + rows)


def read_reports(paths) -> list:
    """``relbert-eval`` JSON reports of one task, read for :func:`compare`; a file that is not one,
    or reports of several tasks, is a one-line UsageError."""
    import json

    from ..errors import UsageError

    loaded = []
    for path in paths:
        try:
            report = json.loads(open(path, encoding="utf-8").read())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise UsageError(f"{path}: {err}")
        if not isinstance(report, dict) or "datasets" not in report or "task" not in report:
            raise UsageError(f"{path}: not a relbert-eval report (no 'task'/'datasets')")
        loaded.append(report)
    if len({r["task"] for r in loaded}) > 1:
        raise UsageError("reports mix tasks (" + ", ".join(sorted({r["task"] for r in loaded})) + "): compare one "
                         "task at a time")
    return loaded
