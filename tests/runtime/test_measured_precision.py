"""``precision="auto"`` on a CPU picks the precision measured fastest for the model, caches the
choice keyed by CPU, flags, cores, torch and model, re-measures a corrupt or stale cache, and
says why. The timer is faked so that either order can be made to win."""
from __future__ import annotations

import json

import pytest

from relbert.runtime import measured_precision as mp


class FakeClock:
    """A timer where each call of a runner advances time by that runner's cost."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_runners(clock: FakeClock, costs: dict, calls: dict):
    def runner(name):
        def run():
            calls[name] = calls.get(name, 0) + 1
            clock.now += costs[name]
        return run
    return {name: runner(name) for name in costs}


@pytest.mark.parametrize("costs, fastest", [({"fp32": 0.10, "bf16": 0.25}, "fp32"),
                                            ({"fp32": 0.30, "bf16": 0.10}, "bf16")])
def test_the_faster_precision_wins_either_way(tmp_path, monkeypatch, minilm, costs, fastest):
    clock, calls = FakeClock(), {}
    monkeypatch.setattr(mp, "timing_runners", lambda enc, tok, cands, rows: fake_runners(clock, costs, calls))
    choice = mp.choose_on_cpu(minilm.encoder, minilm.tokenizer, "m", timer=clock, path=tmp_path / "p.json",
                              today="2026-12-07")
    assert choice.precision == fastest and not choice.cached
    assert choice.rates == {p: pytest.approx(mp.ROWS / c, rel=1e-3) for p, c in costs.items()}
    slower = "bf16" if fastest == "fp32" else "fp32"
    reason = choice.reason()
    assert reason.startswith(f"auto: {fastest} (") and f"over {slower} (" in reason and "2026-12-07" in reason
    # the cache answers the second time: nothing is run
    calls.clear()
    again = mp.choose_on_cpu(minilm.encoder, minilm.tokenizer, "m", timer=clock, path=tmp_path / "p.json")
    assert again.precision == fastest and again.cached and calls == {}
    assert "read from the cache" in again.reason()


def test_a_clearly_slower_candidate_is_not_timed_further():
    clock, calls = FakeClock(), {}
    rates = mp.measure(fake_runners(clock, {"fp32": 0.1, "bf16": 0.5}, calls), 32, clock)
    assert calls == {"fp32": 1 + mp.ROUNDS, "bf16": 1}
    assert rates["fp32"] == pytest.approx(320) and rates["bf16"] == pytest.approx(64)


def test_the_cache_is_keyed_by_machine_torch_and_model(tmp_path, monkeypatch, minilm):
    clock, calls = FakeClock(), {}
    monkeypatch.setattr(mp, "timing_runners",
                        lambda enc, tok, cands, rows: fake_runners(clock, {"fp32": 0.1, "bf16": 0.15}, calls))
    path = tmp_path / "p.json"
    run = lambda name="m": mp.choose_on_cpu(minilm.encoder, minilm.tokenizer, name, timer=clock, path=path)  # noqa: E731
    run()
    measured = sum(calls.values())
    run()
    assert sum(calls.values()) == measured  # same key: cached
    run("another model")
    assert sum(calls.values()) == 2 * measured
    for field, value in (("torch", "0.0.1"), ("cores", 999), ("cpu", "Another CPU"), ("flags", "0" * 16)):
        machine = {**mp.machine_key(), field: value}
        monkeypatch.setattr(mp, "machine_key", lambda m=machine: m)
        before = sum(calls.values())
        run()
        assert sum(calls.values()) == before + measured, field
    entries = json.loads(path.read_text())["entries"]
    assert len(entries) == 6


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": 1, "entries": []}', '{"format": 99, "entries": {}}',
                                     "CORRUPT_ENTRY"])
def test_a_corrupt_cache_is_measured_again_and_rewritten(tmp_path, monkeypatch, minilm, content):
    clock, calls = FakeClock(), {}
    monkeypatch.setattr(mp, "timing_runners",
                        lambda enc, tok, cands, rows: fake_runners(clock, {"fp32": 0.2, "bf16": 0.1}, calls))
    path = tmp_path / "p.json"
    if content == "CORRUPT_ENTRY":  # the right key, but an entry that does not hold a measurement
        key = mp.cache_key(mp.machine_key(), mp.model_key("m", minilm.encoder.config))
        content = json.dumps({"format": mp.FORMAT, "entries": {key: {"precision": "int8", "rates": {"x": -1}}}})
    path.write_text(content)
    choice = mp.choose_on_cpu(minilm.encoder, minilm.tokenizer, "m", timer=clock, path=path)
    assert choice.precision == "bf16" and not choice.cached and calls
    assert mp.lookup(path, mp.cache_key(mp.machine_key(), mp.model_key("m", minilm.encoder.config)),
                     mp.CPU_CANDIDATES).precision == "bf16"


def test_real_timing_runs_both_precisions_on_the_models_prompts(minilm):
    """The runners embed the model's own prompts; bf16 runs on a copy (fp32 weights untouched)."""
    import torch

    before = {k: v.clone() for k, v in list(minilm.encoder.state_dict().items())[:4]}
    runners = mp.timing_runners(minilm.encoder, minilm.tokenizer, mp.CPU_CANDIDATES, 4)
    rates = mp.measure(runners, 4)
    assert set(rates) == {"fp32", "bf16"} and all(r > 0 for r in rates.values())
    after = minilm.encoder.state_dict()
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], v) for k, v in before.items())


def test_from_pretrained_auto_uses_the_measurement_and_env_overrides(tmp_path, monkeypatch):
    from relbert import RelBERT

    monkeypatch.setenv("RELBERT_HOME", str(tmp_path))
    forced = {}

    def fake_choose(encoder, tokenizer, name, candidates=mp.CPU_CANDIDATES, **kw):
        forced["candidates"] = candidates
        return mp.Choice("bf16", {"bf16": 200.0, "fp32": 100.0}, "2026-12-07")

    monkeypatch.setattr(mp, "choose_on_cpu", fake_choose)
    model = RelBERT.from_pretrained(device="cpu")
    assert forced["candidates"] == ("fp32", "bf16")
    assert model.precision == "bf16" and model.precision_reason.startswith("auto: bf16 (200 pairs/s) over fp32")
    monkeypatch.setenv("RELBERT_PRECISION", "fp32")
    forced.clear()
    model = RelBERT.from_pretrained(device="cpu")
    assert model.precision == "fp32" and model.precision_reason == "from RELBERT_PRECISION" and not forced
    monkeypatch.setenv("RELBERT_PRECISION", "fp64")
    from relbert.errors import OptionError

    with pytest.raises(OptionError, match="RELBERT_PRECISION 'fp64'"):
        RelBERT.from_pretrained(device="cpu")


def test_relbert_info_reports_the_machine_and_the_cached_choices(tmp_path, monkeypatch):
    import platform

    import torch
    from click.testing import CliRunner

    from relbert.cli import info

    monkeypatch.setenv("RELBERT_HOME", str(tmp_path))
    key = mp.cache_key(mp.machine_key(), "my-model|bert/384/6")
    mp.store(mp.cache_file(), key, mp.Choice("fp32", {"fp32": 353.0, "bf16": 252.0}, "2026-12-06"))
    result = CliRunner().invoke(info, [])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"cpu: {mp.cpu_model_name()} ({platform.machine()})" in out
    assert f"torch threads {torch.get_num_threads()}" in out and f"torch {torch.__version__}" in out
    assert "my-model|bert/384/6: fp32 (fp32 353 pairs/s, bf16 252 pairs/s; 2026-12-06)" in out


def test_threads_never_exceed_the_usable_cores(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(mp, "usable_cores", lambda: 1)
        torch.set_num_threads(2)
        assert mp.match_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_embed_verbose_says_why(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from relbert.cli import embed

    pairs = tmp_path / "p.tsv"
    pairs.write_text("paris\tfrance\n")
    result = CliRunner().invoke(embed, [str(pairs), "-o", str(tmp_path / "o.npy"), "-q", "-v", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "precision fp32 (as requested); runtime torch on cpu" in result.output
