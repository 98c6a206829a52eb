"""The model card (``README.md``) written into every saved model folder: what the model is (base
encoder, template, aggregation, offset weight, width), how it was trained where known (loss,
data, recipe, the selected epoch and its validation scores) and how to load it. Users of the
official package cannot tell its variants apart; a folder written here says. Loading ignores
the file."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..atomic import atomic_output

CARD = "README.md"


def facts_of(model) -> dict:
    """What the card says of a loaded :class:`relbert.RelBERT`."""
    base = getattr(model.encoder.config, "_name_or_path", None) or model.name_or_path
    return {"name": str(model.display_name), "base": str(base), "template": model.template,
            "aggregation": model.aggregation, "offset_weight": float(model.offset_weight),
            "dimension": int(model.dimension)}


def facts_of_folder(folder) -> dict:
    """The same facts read from a saved folder's ``config.json`` (after a change to it)."""
    import json

    from .loading import read_relbert_config, stored_offset_weight

    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    stored = read_relbert_config(config)
    weight = stored_offset_weight(config)
    hidden = int(config.get("hidden_size", 0))
    return {"name": Path(folder).name, "base": str(config.get("_name_or_path") or folder), "template": stored["template"],
            "aggregation": stored["aggregation"], "offset_weight": weight, "dimension": hidden * (2 if weight else 1)}


def card_text(facts: dict, training: Optional[dict] = None) -> str:
    """The card of a model (:func:`facts_of`), with ``training`` (a run's ``training_config.json``)
    where it was trained here."""
    from ..version import __version__
    from ..templates import template_name

    name = template_name(facts["template"]) if facts.get("template") else None
    weight = facts["offset_weight"]
    lines = [
        f"# {Path(facts['name']).name or facts['name']} (a RelBERT relation model)", "",
        "Relation embeddings from a language model (Ushio, Camacho-Collados, Schockaert, RelBERT, arXiv 2310.00299):",
        "a word pair is written into the template, the encoder reads it, and the hidden states are pooled into one",
        "vector for the relation between the words.", "",
        "| | |", "|---|---|",
        f"| base encoder | `{facts['base']}` |",
        f"| template | {f'`{name}`: ' if name else ''}`{facts['template']}` |",
        f"| aggregation | `{facts['aggregation']}` |",
        f"| offset weight λ | {weight:g} ({'relation + word offset, twice the width' if weight else 'relation vector alone'}) |",
        f"| vector width | {facts['dimension']} |",
        f"| written by | relbert-toolkit {__version__} |",
    ]
    if training:
        rows = [("loss", training.get("loss")), ("data", training.get("data")), ("recipe", training.get("recipe")),
                ("started from", training.get("start") or training.get("model")), ("epochs", training.get("epochs")),
                ("learning rate", training.get("lr")), ("negatives", training.get("num_negative")),
                ("seed", training.get("seed")), ("selected epoch", training.get("selected_epoch"))]
        if training.get("distill_from"):
            rows.insert(1, ("distilled from", training["distill_from"]))
        lines += ["", "## Training", "", "| | |", "|---|---|"]
        lines += [f"| {key} | `{value}` |" for key, value in rows if value is not None]
        validation = training.get("validation")
        if isinstance(validation, dict) and validation:
            lines += ["", "Validation (the selected epoch; accuracy %):", "", "| set | score |", "|---|---:|"]
            lines += [f"| {key} | {float(value):.2f} |" for key, value in validation.items()
                      if isinstance(value, (int, float))]
    lines += ["", "## Use", "", "```python", "from relbert import RelBERT", "",
              "model = RelBERT.from_pretrained(\"path/to/this/folder\")",
              "vectors = model.embed([(\"paris\", \"france\"), (\"tokyo\", \"japan\")])", "```", "",
              "or `relbert-embed pairs.tsv -o out.npy --model path/to/this/folder`. The official `relbert` package",
              "loads the folder too (it reads the relation vector; λ is this toolkit's). Publishing it to a model hub:",
              "docs/python.md, \"Publishing a model folder\".", ""]
    return "\n".join(lines)


def write_card(folder, facts: dict, training: Optional[dict] = None) -> None:
    """Write (atomically) the card of a model (:func:`facts_of`) into ``folder``."""
    with atomic_output(Path(folder) / CARD) as handle:
        handle.write(card_text(facts, training).encode("utf-8"))


def refresh_card(folder) -> None:
    """Rewrite ``folder``'s card from its ``config.json`` and ``training_config.json`` (after the
    offset weight was chosen and written into them)."""
    import json

    path = Path(folder) / "training_config.json"
    training = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    facts = facts_of_folder(folder)
    if training:  # the folder's config names the folder itself: the run knows what it started from
        facts.update(name=f"{Path(folder).resolve().parent.name}/{Path(folder).name}",
                     base=str(training.get("start") or training.get("model") or facts["base"]))
    write_card(folder, facts, training)
