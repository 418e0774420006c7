"""`cachepass demo`: eager vs diffusers' hook vs Inductor vs cachepass on a small built-in model.

The method shown is the registry's demo method (`methods.demo_method`: PAB), at its plug-in's `demo_config`.

Everything is built from configs with random weights, so it runs anywhere with no downloads. The
loop is a classifier-free-guidance Euler loop (batch 2), see `measure.denoise`.

It prints a progress line to stderr as it goes (each configuration's warm-up loop and timed loops, and
each variant cachepass compiles), then the table and the plan to stdout. It takes many minutes on a loaded
2-core machine: measured 2026-12-07 on 2 shared cores (load average 6-8), 20 minutes from a cold Inductor
cache (1213 s, of which the warm-up loops, where it compiles, 430 s); from a warm cache the warm-up loops
took 247 s, then the 12 timed loops as cold (27-140 s each there). `--size tiny` takes about 2 minutes.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

import torch
from tabulate import tabulate

from .api import reset
from .compiler.lower import logger as lower_logger
from .measure import DiffusersHooked, InTurnTiming, max_abs, rel_l2, time_in_turn
from .methods import demo_method
from .models import build
from .report import report, schedule_line
from .timesteps import timesteps_linspace

# NOTE [Two statistics in the demo table]
# "median loop s" is the median of a configuration's timed loops: the time a user would see. The
# "vs" columns are the median over rounds of (baseline loop / this loop) within the same round: the
# configurations run in turn, so a drift of the shared machine's speed slower than a round cancels in
# each round's ratio. A ratio of the medians would bring the drift back (the median loops of two
# configurations may come from different rounds); the ratios alone would hide the time. So the
# table keeps both, names each in its header, explains them under the table, and says so when a row's
# two figures disagree by more than DISAGREEMENT.
DISAGREEMENT = 0.10


@dataclass(frozen=True)
class DemoRow:
    name: str
    first_loop_seconds: float  # compilation included
    loop_seconds: float  # median over rounds
    vs_eager: float  # median over rounds of eager loop / this loop (NOTE [Two statistics in the demo table])
    vs_inductor: float
    vs_uncached: float  # relative L2 of the final latent against eager without caching
    vs_hook: float | None  # max abs difference of the final latent against diffusers' hook


def run_demo(model_name: str = "cogvideox", size: str = "small", steps: int = 50, rounds: int = 3,
             out: TextIO | None = None) -> str:
    """The demo's report (table and plan); progress lines go to `out` (default: stderr) as it runs."""
    progress = Progress(out or sys.stderr)
    progress.say(f"cachepass demo: building {model_name} ({size}); then a warm-up loop per configuration "
                 f"(the compiled ones compile in it), then {rounds} rounds of {steps}-step loops")
    demo = build(model_name, size)
    timesteps = timesteps_linspace(steps)
    plugin = demo_method().plugin
    config = plugin.demo_config()
    hook, ours = f"diffusers {plugin.bench_label} hook (eager)", f"cachepass {plugin.bench_label} (inductor)"
    cached = torch.compile(demo.module, backend="cachepass", options={"cache": config})
    runs = {
        "eager": demo.module,
        hook: DiffusersHooked(demo, config),
        "torch.compile (inductor)": torch.compile(demo.module),
        ours: cached,
    }
    # In turn, not one after the other: a shared CPU's speed drifts more than the differences measured here.
    with progress.variant_compiles():
        timing = time_in_turn(demo, runs, timesteps, rounds, progress=progress.configuration)
    progress.say("done")
    final = {name: loops[-1].final for name, loops in timing.rounds.items()}
    rows = [DemoRow(name, timing.first_loop_seconds[name], timing.median_seconds(name),
                    timing.speedup(name, "eager"), timing.speedup(name, "torch.compile (inductor)"),
                    rel_l2(final[name], final["eager"]),
                    max_abs(final[name], final[hook]) if name in (hook, ours) else None)
            for name in runs]
    text = [f"cachepass demo: {model_name} ({size}, random weights), {steps}-step CFG loop (batch 2) from "
            f"timestep 999 to 0, {torch.get_num_threads()} CPU threads; a warm-up loop each, then {rounds} rounds "
            f"of one loop each in turn",
            _table(rows, steps) + "\n" + _footnote(timing, rounds),
            _plan_summary(cached)]
    reset(cached)
    return "\n\n".join(text)


class Progress:
    """Progress lines, "[ 12s] configuration: what", each flushed at once so a slow compile shows where it is."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.perf_counter()
        self.current = "cachepass"  # the configuration running now, named on its variant compiles

    def say(self, line: str) -> None:
        # One write per line: print() writes the newline apart, and compile workers share this stream.
        self.out.write(f"[{time.perf_counter() - self.start:3.0f}s] {line}\n")
        self.out.flush()

    def configuration(self, name: str, what: str) -> None:
        self.current = name
        self.say(f"{name}: {what}")

    @contextlib.contextmanager
    def variant_compiles(self) -> Iterator[None]:
        """A line per variant cachepass compiles: lower.py's own INFO record, shown while the demo runs."""
        handler = _LineHandler(self)
        level = lower_logger.level
        lower_logger.addHandler(handler)
        lower_logger.setLevel(logging.INFO if level == logging.NOTSET else min(level, logging.INFO))
        try:
            yield
        finally:
            lower_logger.removeHandler(handler)
            lower_logger.setLevel(level)


class _LineHandler(logging.Handler):
    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.say(f"{self.progress.current}: {record.getMessage().removeprefix('cachepass lower: ')}")


def _table(rows: list[DemoRow], steps: int) -> str:
    body = [(r.name, f"{r.first_loop_seconds:.1f}", f"{r.loop_seconds:.3f}", f"{1000 * r.loop_seconds / steps:.2f}",
             f"{r.vs_eager:.2f}x", f"{r.vs_inductor:.2f}x", f"{r.vs_uncached:.2e}",
             "-" if r.vs_hook is None else f"{r.vs_hook:.1e}") for r in rows]
    return tabulate(body, headers=("configuration", "warm-up loop s", "median loop s", "ms/step (median loop)",
                                   "vs eager (median of round ratios)", "vs inductor (median of round ratios)",
                                   "final rel L2 vs eager", "final max diff vs hook"))


def _footnote(timing: InTurnTiming, rounds: int) -> str:
    """Under the table: what each statistic is, and each row whose two figures disagree (NOTE [Two statistics
    in the demo table])."""
    lines = textwrap.wrap(
        f"median loop s: the median of a configuration's {rounds} timed loops. vs eager / vs inductor: the median "
        f"over rounds of (the baseline's loop s / this loop s) in the same round, which cancels drift of the "
        f"machine's speed between rounds; the ratio of two median loop s can differ from it.", width=120)
    for baseline in ("eager", "torch.compile (inductor)"):
        for name in timing.rounds:
            paired = timing.speedup(name, baseline)
            of_medians = timing.median_seconds(baseline) / timing.median_seconds(name)
            if abs(of_medians / paired - 1) > DISAGREEMENT:
                per_round = ", ".join(f"{b / n:.2f}x" for b, n in zip(timing.seconds(baseline), timing.seconds(name)))
                lines.append(f"  * {name} vs {baseline}: {paired:.2f}x per round (rounds: {per_round}) but "
                             f"{of_medians:.2f}x between the median loops: the machine's speed drifted between "
                             f"rounds; more --rounds narrow this.")
    return "\n".join(lines)


def _plan_summary(compiled) -> str:
    [graph] = report(compiled).graphs
    last_loop = [s for s in graph.steps if s.generation == graph.steps[-1].generation]
    return "\n".join([
        f"plan: {graph.reason}",
        f"steps (C = compute and write the cache, R = read it): {schedule_line(last_loop)}",
        "",
        graph.variant_table(),
        "",
        graph.tag_table(),
    ])
