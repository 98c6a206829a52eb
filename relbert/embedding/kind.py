"""What made a vector: one record, written once into everything that stores vectors or features.

A :class:`VectorKind` is made by the model (:meth:`VectorKind.of`) and written, as its
:meth:`~VectorKind.record`, into the collection's provenance (:mod:`relbert.embedding.provenance`),
the classifier's record (:mod:`relbert.evaluation.classifier`), the embed run's fingerprint
(:mod:`relbert.embedding.run`) and the evaluation report (``RelBERT.describe``). Two kinds are
compared by one method, :meth:`VectorKind.check`, which raises the one error,
:class:`relbert.errors.KindMismatchError`. A new property of the vectors is a new field here:
every record then holds it and every comparison can name it (docs/architecture.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable, Optional, Sequence


@dataclass(frozen=True)
class VectorKind:
    """The model and the options that decide what a vector means (two vectors compare only
    within one kind). A field a record made before it existed reads as None."""

    model: Optional[str]  # models.loading.model_key: the default's name, a folder's absolute path, or a hub name
    template: Optional[str]
    aggregation: Optional[str]
    offset_weight: Optional[float]  # λ of the relation + offset vector (0: the relation vector alone)
    precision: Optional[str]  # fp32, bf16, fp16, int8
    dimension: Optional[int]
    max_length: Optional[int]

    @classmethod
    def of(cls, model) -> "VectorKind":
        """The kind of ``model``'s vectors (a :class:`relbert.RelBERT`, recorded under its :attr:`~relbert.RelBERT.key`)."""
        return cls(model=model.key,
                   template=model.template, aggregation=model.aggregation,
                   offset_weight=float(model.offset_weight), precision=model.precision,
                   dimension=int(model.dimension), max_length=int(model.max_length))

    @classmethod
    def from_record(cls, record: Optional[dict]) -> Optional["VectorKind"]:
        """The kind a stored record holds (0.1 and 0.2 records included: what they lack reads as
        None; an offset weight absent means 0, as those versions embedded), or None without one."""
        if record is None:
            return None
        values = {f.name: record.get(f.name) for f in fields(cls)}
        if values["offset_weight"] is None:
            values["offset_weight"] = 0.0
        return cls(**values)

    def record(self) -> dict:
        """The fields as a JSON-ready dict (the keys every record of vectors holds)."""
        return asdict(self)

    def differences(self, other: "VectorKind", compared: Sequence[str]) -> list:
        """``(field, ours, theirs)`` for each of ``compared`` where both are known and differ."""
        found = []
        for name in compared:
            ours, theirs = getattr(self, name), getattr(other, name)
            if ours is None or theirs is None:
                continue
            if isinstance(ours, float) or isinstance(theirs, float):
                differ = abs(float(ours) - float(theirs)) > 1e-12
            else:
                differ = ours != theirs
            if differ:
                found.append((name, ours, theirs))
        return found

    def check(self, other: Optional["VectorKind"], compared: Sequence[str],
              line: Callable[[str, object, object], str]) -> None:
        """Refuse ``other`` where it differs from this kind in one of ``compared``: a
        :class:`~relbert.errors.KindMismatchError` whose one line is ``line(field, ours, theirs)``
        for the first difference. ``other`` None (a record made before records existed) passes."""
        from ..errors import KindMismatchError

        if other is None:
            return
        found = self.differences(other, compared)
        if found:
            raise KindMismatchError(line(*found[0]))


#: What makes vectors comparable at all (an index with its collection, queries with a collection).
SAME_SPACE = ("offset_weight", "dimension")
#: What a classifier's features must share with the vectors it is given.
SAME_FEATURES = ("model", "template", "aggregation", "offset_weight", "dimension")
