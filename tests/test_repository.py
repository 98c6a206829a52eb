"""Repository hygiene: source, docs, small fixtures and the shipped deltas; never an archive or a
downloaded tool (install those instead)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".egg", ".tar.bz2", ".tar.xz")


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return out.splitlines()


def test_no_archive_is_tracked_outside_the_fixtures():
    archives = [f for f in tracked_files() if f.endswith(ARCHIVES) and not f.startswith("tests/fixtures/")]
    assert archives == [], f"archives are tracked (install tools, never commit them): {archives}"
