"""A local model folder checked before transformers reads it: every way a folder can be wrong
(missing, empty, half-copied, a broken ``config.json``, truncated weights) is one line naming the
folder, the file and what to do, instead of a huggingface or safetensors traceback."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from ..errors import ModelFolderError

#: Files a folder's tokenizer can be read from (at least one must be there).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model")
#: Weights files transformers reads, safetensors first.
WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")
#: A safetensors header larger than this is not one (the format caps it at 100 MB).
MAX_HEADER = 100_000_000

AGAIN = "copy the folder again (or re-run what wrote it)"


def check_model_folder(folder: str) -> None:
    """Raise :class:`ModelFolderError` (one line) unless ``folder`` looks like a loadable model:
    an existing folder with a JSON-object ``config.json`` naming its ``model_type``, weights whose
    headers are whole, and a tokenizer file."""
    path = Path(folder)
    if not path.exists():
        raise ModelFolderError(f"model folder {folder}: no such folder")
    if not path.is_dir():
        raise ModelFolderError(f"model folder {folder}: not a folder")
    names = set(os.listdir(path))
    if not names:
        raise ModelFolderError(f"model folder {folder}: the folder is empty (a model folder holds config.json, "
                               "the weights and the tokenizer's files)")
    if "config.json" not in names:
        raise ModelFolderError(f"model folder {folder}: no config.json: not a model folder, or a copy that did not "
                               f"finish; {AGAIN}")
    check_config(path / "config.json")
    weights = [n for n in WEIGHTS_FILES if n in names]
    if not weights:
        raise ModelFolderError(f"model folder {folder}: no weights (model.safetensors or pytorch_model.bin): a copy "
                               f"that did not finish? {AGAIN}")
    if "model.safetensors" in names:
        check_safetensors(path / "model.safetensors")
    elif "model.safetensors.index.json" in names:
        for shard in sorted(set(read_json(path / "model.safetensors.index.json").get("weight_map", {}).values())):
            check_safetensors(path / shard)
    if not names.intersection(TOKENIZER_FILES):
        raise ModelFolderError(f"model folder {folder}: no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); "
                               f"{AGAIN}")


def read_json(file: Path) -> dict:
    """A JSON object from ``file``, or a one-line :class:`ModelFolderError` naming what is wrong."""
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFolderError(f"model folder {file.parent}: {file.name} is missing; {AGAIN}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFolderError(f"model folder {file.parent}: {file.name} is not valid JSON ({err}); {AGAIN}") from None
    if not isinstance(value, dict):
        raise ModelFolderError(f"model folder {file.parent}: {file.name} must hold a JSON object, "
                               f"not {type(value).__name__}")
    return value


def check_config(file: Path) -> dict:
    """``config.json``: a JSON object whose ``model_type`` is a name transformers knows."""
    config = read_json(file)
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ModelFolderError(f"model folder {file.parent}: config.json has no model_type string "
                               f"(found {model_type!r}); it is not a transformers model's config")
    from transformers import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING:
        raise ModelFolderError(f"model folder {file.parent}: config.json names model_type {model_type!r}, which this "
                               "transformers does not know (misspelt, or a newer transformers is needed)")
    return config


def check_safetensors(file: Path) -> None:
    """A safetensors file whose header is whole and whose tensors all fit in the file (a truncated
    copy fails here, before transformers maps it)."""
    folder = file.parent
    if not file.is_file():
        raise ModelFolderError(f"model folder {folder}: {file.name} is missing; {AGAIN}")
    size = file.stat().st_size
    with open(file, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ModelFolderError(f"model folder {folder}: {file.name} is not a safetensors file "
                                   f"(header too small: {size} bytes); {AGAIN}")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER or 8 + length > size:
            raise ModelFolderError(f"model folder {folder}: {file.name} is not a safetensors file (header too small "
                                   f"for its stated {length} bytes; the file has {size}): truncated? {AGAIN}")
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ModelFolderError(f"model folder {folder}: {file.name} is not a safetensors file (unreadable header); "
                                   f"{AGAIN}") from None
    if not isinstance(header, dict):
        raise ModelFolderError(f"model folder {folder}: {file.name} is not a safetensors file (unreadable header)")
    ends = [entry.get("data_offsets", [0, 0])[1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict)]
    needed = 8 + length + max(ends, default=0)
    if needed > size:
        raise ModelFolderError(f"model folder {folder}: {file.name} is truncated ({size} of {needed} bytes); {AGAIN}")
