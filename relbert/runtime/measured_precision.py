"""``precision="auto"`` on a CPU: the precision measured fastest for this model on this machine.

CPU flags do not tell which precision is faster: on an Intel Xeon with AVX-512 BF16 but no AMX bf16
ran 0.71x of fp32, on an AMD EPYC with the same flags 1.6x, with AMX 3.3x. So the first time a model
runs on a CPU, ``auto`` times each candidate precision the model is validated for (today fp32 and
bf16) on :data:`ROWS` of the model's own prompts, takes the fastest and caches the
result in ``$RELBERT_HOME/precision.json`` (default ``~/.cache/relbert``), keyed by the CPU's model
name, its flags, the cores this process may use, the torch version and the model. Later runs read
the cache; an unreadable cache, or an entry that does not fit its key, is measured again.
"""
from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import torch

#: Candidates ``auto`` may choose on a CPU for a model validated in bf16 (int8 only where a model's
#: card allows it for auto, which none does).
CPU_CANDIDATES = ("fp32", "bf16")
#: Timed batches per candidate, after one untimed warm-up batch; the best is kept.
ROUNDS = 2
#: A candidate whose warm-up takes this many times the fastest batch so far is not timed further.
CLEARLY_SLOWER = 2.0
#: Prompts in the timing batch (the torch runtime's CPU batch is 64; half keeps the first run short).
ROWS = 32
#: The cache file's format.
FORMAT = 1
#: Word pairs the timing batch is made of (ordinary lengths; the template is the model's own).
PAIRS = [("paris", "france"), ("dog", "bark"), ("wheel", "car"), ("hot", "cold"), ("a washing machine", "laundry"),
         ("teacher", "school"), ("knife", "cut"), ("oak", "tree")]


def cache_file() -> Path:
    """``$RELBERT_HOME/precision.json`` (default ``~/.cache/relbert``)."""
    from ..home import relbert_home

    return relbert_home() / "precision.json"


def cpu_model_name(path: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (``platform.processor()`` where /proc/cpuinfo is absent)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = max(1, min(cores, int(int(quota) // int(period)) or 1))
    except (OSError, ValueError):
        pass
    return cores


def match_threads() -> int:
    """torch's intra-op threads capped at the cores this process may use (a container's CPU quota or
    affinity can be below the machine's cores, which torch counts: more threads than cores only
    contend). Returns the thread count."""
    cores = usable_cores()
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
    return torch.get_num_threads()


def machine_key() -> Dict[str, object]:
    """What a measurement holds for: the CPU, its flags, the cores and the torch build."""
    from .precision import cpu_flags

    flags = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:16]
    return {"cpu": cpu_model_name(), "flags": flags, "cores": usable_cores(), "torch": torch.__version__}


def model_key(name: str, config) -> str:
    """The model a measurement holds for: its name and the encoder's shape."""
    shape = [getattr(config, k, None) for k in ("model_type", "hidden_size", "num_hidden_layers")]
    return f"{name}|{'/'.join(map(str, shape))}"


@dataclass
class Choice:
    """The precision ``auto`` chose on a CPU and the rates behind it."""

    precision: str
    rates: Dict[str, float]  # pairs/s per candidate
    date: str  # when they were measured (ISO date)
    cached: bool = False

    def reason(self) -> str:
        others = " over ".join(f"{p} ({r:,.0f} pairs/s)" for p, r in sorted(self.rates.items(), key=lambda kv: -kv[1]))
        where = "read from the cache of a measurement" if self.cached else "measured"
        return f"auto: {others}, {where} on this CPU on {self.date}"


def read_cache(path: Path) -> dict:
    """The cache's entries, or {} for a missing or unreadable one (measured again, then rewritten)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]


def cache_key(machine: Dict[str, object], model: str) -> str:
    return json.dumps({**machine, "model": model}, sort_keys=True)


def lookup(path: Path, key: str, candidates: Sequence[str]) -> Optional[Choice]:
    """The cached choice under ``key`` if it is whole and measured the same candidates."""
    entry = read_cache(path).get(key)
    try:
        rates = {str(p): float(r) for p, r in entry["rates"].items()}
        precision, date = str(entry["precision"]), str(entry["date"])
    except (TypeError, KeyError, AttributeError, ValueError):
        return None
    if sorted(rates) != sorted(candidates) or precision not in rates or not all(r > 0 for r in rates.values()):
        return None
    return Choice(precision, rates, date, cached=True)


def store(path: Path, key: str, choice: Choice) -> None:
    """Add ``choice`` under ``key`` (atomic; a cache that cannot be written is only not kept)."""
    from ..atomic import write_json_atomic

    entries = read_cache(path)
    entries[key] = {"precision": choice.precision, "rates": choice.rates, "date": choice.date}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"format": FORMAT, "entries": entries})
    except OSError:
        pass


def measure(runners: Dict[str, Callable[[], None]], rows: int, timer: Callable[[], float] = time.perf_counter,
            rounds: int = ROUNDS, clearly_slower: float = CLEARLY_SLOWER) -> Dict[str, float]:
    """Pairs/s of each runner (one call embeds ``rows`` prompts): one warm-up call, then the best
    of ``rounds`` timed calls. A runner whose warm-up alone takes ``clearly_slower`` times the best
    call so far is not timed further (its rate is the warm-up's): it cannot win, and an emulated
    precision would otherwise cost seconds."""
    rates: Dict[str, float] = {}
    fastest = float("inf")
    for name, run in runners.items():
        start = timer()
        run()
        warm_up = timer() - start
        best = warm_up
        if warm_up < clearly_slower * fastest:
            best = float("inf")
            for _ in range(rounds):
                start = timer()
                run()
                best = min(best, timer() - start)
        fastest = min(fastest, best)
        rates[name] = rows / max(best, 1e-9)
    return rates


def timing_runners(encoder: torch.nn.Module, tokenizer, candidates: Sequence[str], rows: int) -> Dict[str, Callable[[], None]]:
    """A call per candidate that runs ``encoder`` (fp32) at that precision on ``rows`` of the model's
    own prompts (bf16 on a copy: the fp32 weights stay untouched)."""
    from .torch_runtime import apply_precision

    batch = tokenizer.encode([PAIRS[i % len(PAIRS)] for i in range(rows)])
    inputs = {k: torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask")}
    modules = {p: encoder if p == "fp32" else apply_precision(copy.deepcopy(encoder), p, torch.device("cpu"))
               for p in candidates}

    def runner(module):
        def run():
            with torch.inference_mode():
                module(**inputs)
        return run

    return {p: runner(m) for p, m in modules.items()}


def choose_on_cpu(encoder: torch.nn.Module, tokenizer, name: str, *, rows: int = ROWS,
                  candidates: Sequence[str] = CPU_CANDIDATES, timer: Callable[[], float] = time.perf_counter,
                  path: Optional[Path] = None, today: Optional[str] = None) -> Choice:
    """The candidate measured fastest for this model on this CPU: from the cache, else measured
    now (and cached)."""
    path = cache_file() if path is None else path
    key = cache_key(machine_key(), model_key(name, encoder.config))
    cached = lookup(path, key, candidates)
    if cached is not None:
        return cached
    rates = measure(timing_runners(encoder, tokenizer, candidates, rows), rows, timer)
    best = max(candidates, key=lambda p: (rates[p], p == "fp32"))  # fp32 wins ties: no rounding
    choice = Choice(best, {p: round(r, 1) for p, r in rates.items()},
                    today or datetime.date.today().isoformat())
    store(path, key, choice)
    return choice
