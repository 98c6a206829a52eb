"""The record of an embed run on disk (what ``--resume`` reads) and the fingerprint of what made it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Optional

from ..atomic import write_json_atomic
from ..errors import ResumeError
from .plan import WorkFiles

#: Layout of the files beside the output and of the run's record; a --resume across versions that
#: changed either is refused (4: the model's part of the record is its VectorKind).
STREAM_VERSION = 4


def model_fingerprint(model, options) -> str:
    """Hash of what decides the output bits: the vectors' kind, the runtime, parameter checksums, options."""
    import torch

    # the chunk size is not part of it: a resumed run takes the interrupted run's, from its state
    chosen = {k: v for k, v in asdict(options).items() if k != "chunk_size"}
    described = {**model.kind().record(), "runtime": model.runtime.name, **chosen, "device": model.device.type,
                 "stream": STREAM_VERSION}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    with torch.no_grad():
        for name, tensor in model.encoder.named_parameters():  # (int8 weights are packed, not parameters)
            digest.update(f"{name}{tuple(tensor.shape)}{float(tensor.double().sum()):.12e}".encode())
    return digest.hexdigest()


class RunState:
    """What a run has done, on disk: its record (rows, input fingerprint, layout version, chunk
    size, model fingerprint) and each rank's finished chunks (one progress file a rank)."""

    def __init__(self, files: WorkFiles, record: Optional[dict] = None):
        self.files, self.record = files, record

    @classmethod
    def read(cls, files: WorkFiles) -> "RunState":
        """An interrupted run's state, or a one-line ResumeError naming its file when it is damaged."""
        path = files.state
        try:
            record = json.loads(path.read_text())
            if isinstance(record, dict) and isinstance(record.get("rows"), int) and "input_sha256" in record:
                return cls(files, record)
            problem = "not a progress record"
        except (OSError, ValueError) as err:
            problem = str(err).splitlines()[0]
        raise ResumeError(f"--resume: {path} is damaged ({problem}); start again without --resume")

    def save(self) -> None:
        write_json_atomic(self.files.state, self.record)

    @property
    def rows(self) -> int:
        return int(self.record["rows"])

    @property
    def chunk(self) -> int:
        return int(self.record["chunk"])

    def chunks(self) -> int:
        return (self.rows + self.chunk - 1) // self.chunk

    def done(self) -> set:
        """Chunks finished so far, merged from every rank's own progress file."""
        done = set()
        for path in self.files.rank_files():
            done.update(json.loads(path.read_text()))
        return done

    def record_done(self, rank: int, index: int) -> None:
        """Add a finished chunk to ``rank``'s progress file (atomically; ranks never share a file)."""
        path = self.files.state.with_name(f"{self.files.state.name}.rank{rank}")
        done = json.loads(path.read_text()) if path.is_file() else []
        write_json_atomic(path, done + [index])

    def rows_in(self, chunks) -> int:
        return sum(min(self.chunk, self.rows - c * self.chunk) for c in chunks)
