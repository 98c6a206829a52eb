"""What made a collection: ``relbert-embed`` writes, beside its output, the vectors' kind
(:class:`relbert.embedding.kind.VectorKind`: model, precision, template, aggregation, offset
weight, dimension, max length), the rows and the package version (``OUT.npy.provenance.json``), and ``relbert-search``
takes that model by default and refuses, in one line, a ``--model`` that differs (a collection
searched with another model's queries returns plausible but wrong neighbours)."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Optional, Union

from .kind import SAME_SPACE, VectorKind

SUFFIX = ".provenance.json"
#: The keys a provenance record holds: the vectors' kind, then the collection's own (0.1 and 0.2
#: wrote the same set); others warn once.
KEYS = (*(f.name for f in fields(VectorKind)), "normalize", "rows", "relbert_version")


def path_for(output: Union[str, Path]) -> Path:
    """The provenance file of a collection (``out.npy`` -> ``out.npy.provenance.json``)."""
    output = Path(output)
    return output.with_name(output.name + SUFFIX)


def write(output: Union[str, Path], kind: VectorKind, normalize: bool, rows: int) -> None:
    """Write the provenance of ``output`` (atomically), after the output itself is complete."""
    from ..atomic import write_json_atomic
    from ..version import __version__

    record = {**kind.record(), "normalize": normalize, "rows": rows, "relbert_version": __version__}
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


def check_same_space(first: Optional[dict], second: Optional[dict], first_name, second_name) -> None:
    """Refuse, in one line, two records of vectors of different kinds (offset weight or dimension):
    their cosines do not compare. A missing record (an older collection) is not checked."""
    ours = VectorKind.from_record(first)
    if ours is not None:
        ours.check(VectorKind.from_record(second), SAME_SPACE, lambda key, a, b: (
            f"{first_name} holds vectors of {key} {a:g} but {second_name} was made from vectors of {key} {b:g}: "
            "they do not mix (rebuild one with the other's)"))
