"""What made a collection: ``relbert-embed`` writes, beside its output, the model, precision,
template, aggregation, offset weight, dimension and package version (``OUT.npy.provenance.json``), and ``relbert-search``
takes that model by default and refuses, in one line, a ``--model`` that differs (a collection
searched with another model's queries returns plausible but wrong neighbours)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Union

SUFFIX = ".provenance.json"
#: The keys a provenance record holds (0.1 and 0.2 wrote the same set); others warn once.
KEYS = ("model", "precision", "template", "aggregation", "max_length", "normalize", "offset_weight", "rows",
        "dimension", "relbert_version")


def path_for(output: Union[str, Path]) -> Path:
    """The provenance file of a collection (``out.npy`` -> ``out.npy.provenance.json``)."""
    output = Path(output)
    return output.with_name(output.name + SUFFIX)


def model_key(name: Optional[str]) -> str:
    """One spelling per model: the embedded default's names are one, a folder is its absolute path."""
    from ..models.loading import DEFAULT_NAME

    if name is None or name == DEFAULT_NAME:
        return DEFAULT_NAME
    return os.path.abspath(name) if os.path.isdir(name) else name


def write(output: Union[str, Path], model_name: Optional[str], model, normalize: bool, rows: int) -> None:
    """Write the provenance of ``output`` (atomically), after the output itself is complete."""
    from .. import __version__
    from ..io import write_json_atomic

    record = {"model": model_key(model_name), "precision": model.precision, "template": model.template,
              "aggregation": model.aggregation, "max_length": model.max_length, "normalize": normalize,
              "offset_weight": model.offset_weight, "rows": rows, "dimension": model.dimension,
              "relbert_version": __version__}
    write_json_atomic(path_for(output), record, indent=1, ensure_ascii=False)


def read(vectors: Union[str, Path]) -> Optional[dict]:
    """The provenance of a collection, or None (made before provenance was written, or by hand); a
    damaged record is a one-line :class:`~relbert.errors.CollectionError`."""
    path = path_for(vectors)
    if not path.is_file():
        return None
    from ..errors import CollectionError

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:  # damaged: said, never taken for "made before provenance existed"
        raise CollectionError(f"{path}: the collection's provenance record is damaged ({str(err).splitlines()[0]}); "
                              "embed the collection again, or delete that file to use it without one") from None
    if not isinstance(record, dict):
        raise CollectionError(f"{path}: the collection's provenance record is not a JSON object; embed the collection "
                              "again, or delete that file to use it without one")
    from ..io import warn_unknown_keys

    warn_unknown_keys(record, KEYS, f"{path.name}")
    return record


def check_same_kind(first: Optional[dict], second: Optional[dict], first_name, second_name) -> None:
    """Refuse, in one line, two records of vectors of different kinds (offset weight or dimension):
    their cosines do not compare. A missing record (an older collection) is not checked."""
    from ..errors import CollectionError

    if first is None or second is None:
        return
    for key, default in (("offset_weight", 0.0), ("dimension", None)):
        a, b = first.get(key, default), second.get(key, default)
        if a is not None and b is not None and a != b:
            raise CollectionError(f"{first_name} holds vectors of {key} {a:g} but {second_name} was made from "
                                  f"vectors of {key} {b:g}: they do not mix (rebuild one with the other's)")
