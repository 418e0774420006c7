"""Loops taken in turn, each configuration in a worker process of its own.

This machine's speed drifts by +-20% over seconds (a shared CPU: the same eager loop measured 1.4 s and
2.1 s in one minute), so loop times taken at different moments cannot be compared. Every worker
(bench/worker.py), once it has made its cold measurement, stays alive with its warm model and takes one
loop whenever the coordinator asks; the coordinator asks the workers of a workload one at a time, round
after round, in an order that rotates every round. A speedup is the median over rounds of the ratio of two
loops of the same round, so drift slower than a round cancels; a worker that is not asked waits on its
socket and costs no CPU (NOTE [One process per configuration, in turn]).

A cachepass worker also reports, per loop, the time its compiled variants took inside that very loop
plus the loop's own per-step work (the ideal: efficiency = ideal / loop), the same variants timed alone
right after the loop (`efficiency_alone`), and its runtime's own time (bench/ideal.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# NOTE [One process per configuration, in turn]
# Loops used to take turns inside one process, which kept diffusers' hooks and the peers under
# torch.compile out: their recompiles share a model class's `forward` with every other compiled model in
# the process, and a peer's graph break that Dynamo cannot resume from marks that code object skipped for
# every instance (a cachepass model of the same class was then traced block by block). In processes of
# their own, nothing of Dynamo's is shared, and every configuration -- eager, compiled, cachepass, diffusers'
# hooks, the peers -- is timed in the same rounds.


@dataclass
class Rounds:
    """What the rounds measured, per configuration: one value per round."""

    loops: dict[str, list[float]] = field(default_factory=dict)  # loop seconds
    ideal: dict[str, list[float]] = field(default_factory=dict)  # cachepass: variants inside the loop + loop work
    ideal_alone: dict[str, list[float]] = field(default_factory=dict)  # cachepass: the variants timed alone after it
    runtime: dict[str, list[float]] = field(default_factory=dict)  # cachepass: its runtime's own seconds

    def add(self, name: str, loop: dict[str, float]) -> None:
        for key in asdict(self):
            if key in loop:
                getattr(self, key).setdefault(name, []).append(loop[key])


class Worker:
    """A bench.worker process that measures cold, then takes loops on request until told to finish."""

    def __init__(self, arguments: Sequence[str], inductor_cache: str, log: Path, root: Path = ROOT) -> None:
        """`root`: the tree whose `bench` and `cachepass` the worker imports (bench/revisions.py passes an
        older revision's)."""
        ours, theirs = socket.socketpair()
        self._log = log
        with log.open("w") as output:  # the worker's own copy of the file stays open
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", *arguments, "--serve", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": inductor_cache},
                cwd=root, stdout=output, stderr=subprocess.STDOUT)
        theirs.close()
        self._socket = ours
        self._channel = ours.makefile("rw")
        self._ended = False

    def measured(self) -> bool:
        """Waits for the cold measurement; False when the worker ended instead (skipped, or failed)."""
        self._ended = self._read() is None
        return not self._ended

    def loop(self) -> dict[str, float]:
        self._send("loop")
        reply = self._read()
        if reply is None:
            self._ended = True
            raise RuntimeError(f"a worker ended during the rounds:\n{self.log_tail()}")
        return reply

    def finish(self) -> int:
        """Lets the worker finish (its last checks, its JSON file); returns its exit code."""
        try:
            if not self._ended:
                self._send("finish")
            self._channel.close()
        except OSError:  # it ended already
            pass
        self._socket.close()
        return self.process.wait()

    def log_tail(self, characters: int = 2000) -> str:
        return self._log.read_text(errors="replace")[-characters:]

    def _send(self, command: str) -> None:
        self._channel.write(json.dumps({"do": command}) + "\n")
        self._channel.flush()

    def _read(self) -> dict[str, Any] | None:
        line = self._channel.readline()
        return json.loads(line) if line else None


def in_turn(workers: dict[str, Worker], rounds: int) -> Rounds:
    """A warm-up loop each (the workers sat idle while the others measured), then `rounds` rounds of one loop
    each, one worker at a time, in an order that rotates every round so that no configuration always follows
    the same one."""
    for worker in workers.values():
        worker.loop()
    names = list(workers)
    measured = Rounds()
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in [*names[shift:], *names[:shift]]:
            measured.add(name, workers[name].loop())
    return measured


def serve(fd: int, take_loop: Callable[[], dict[str, float]]) -> None:
    """The worker's side: say the cold measurement is done, then run one loop per request and reply with
    what it measured, until told to finish."""
    with socket.socket(fileno=fd) as connection, connection.makefile("rw") as channel:
        channel.write(json.dumps({"measured": True}) + "\n")
        channel.flush()
        for line in channel:
            if json.loads(line)["do"] == "finish":
                return
            channel.write(json.dumps(take_loop()) + "\n")
            channel.flush()
