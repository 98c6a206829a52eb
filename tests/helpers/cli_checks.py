"""Checks the CLI tests share: a mistake is one ``error:`` line with exit status 2, and it is
caught before any model loads."""
from __future__ import annotations


def one_error_line(result):
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def no_model_load(monkeypatch):
    from relbert.models import parts

    def refuse(*args, **kwargs):
        raise AssertionError("the encoder was loaded")

    monkeypatch.setattr(parts, "load_encoder", refuse)
