"""Progress off a terminal: a plain line at most every interval, with the rate and the time left."""
from __future__ import annotations

import io

from relbert.progress import ProgressLines, progress_bar


def test_lines_off_a_terminal_say_rate_and_time_left(monkeypatch):
    stream = io.StringIO()
    clock = iter([0.0, 30.0, 61.0, 62.0, 130.0])
    monkeypatch.setattr("relbert.progress.time.monotonic", lambda: next(clock))
    bar = ProgressLines(total=100, desc="epoch 1/3", unit="rel", stream=stream)  # starts at t=0
    bar.update(10)  # t=30: within the interval, nothing
    bar.set_postfix(loss="1.234")
    bar.update(20)  # t=61: one line
    bar.update(10)  # t=62: too soon
    bar.update(10)  # t=130: another
    lines = stream.getvalue().splitlines()
    assert lines == ["epoch 1/3: 30/100 rel (0.5 rel/s, about 142 s left, loss=1.234)",
                     "epoch 1/3: 50/100 rel (0.4 rel/s, about 130 s left, loss=1.234)"]


def test_a_short_run_prints_nothing_and_quiet_is_silent(capsys):
    with progress_bar(True, total=5, desc="x") as bar:  # pytest's stderr is not a terminal
        assert isinstance(bar, ProgressLines)
        bar.update(5)
    with progress_bar(False, total=5, desc="x") as bar:
        bar.update(5)
    assert capsys.readouterr().err == ""
