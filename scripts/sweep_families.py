"""Every diffusers transformer class with a time input x every cachepass method, against the references.

    python scripts/sweep_families.py -j 2                   # all classes: results/families.jsonl + docs/families.md
    python scripts/sweep_families.py WanTransformer3DModel  # some classes
    python scripts/sweep_families.py --table                # docs/families.md from the JSONL only

Each class runs in its own process (fresh Dynamo state; a crash or hang costs one class), each cell under a
timeout. The cell logic, its references and its outcomes are in tests/sweep.py (tests/test_sweep.py runs it
in CI on a few classes); the tiny configs in tests/tiny_configs.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
RESULTS = ROOT / "docs" / "families.jsonl"
TABLE = ROOT / "docs" / "families.md"


def worker(name: str, cell_timeout: int) -> int:
    import torch

    import sweep

    torch.set_num_threads(1)
    start = time.time()
    result = sweep.sweep_class(name, cell_timeout=cell_timeout)
    record = dataclasses.asdict(result) | {"seconds": round(time.time() - start, 1)}
    print("SWEEP-RESULT " + json.dumps(record), flush=True)
    return 0


def run_one(name: str, cell_timeout: int, class_timeout: int) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--cell-timeout", str(cell_timeout)]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=class_timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "fullgraph": False, "note": f"class over {class_timeout} s", "cells": []}
    for line in done.stdout.splitlines():
        if line.startswith("SWEEP-RESULT "):
            return json.loads(line.removeprefix("SWEEP-RESULT "))
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return {"model": name, "fullgraph": False, "note": f"worker died (rc {done.returncode}): {tail}", "cells": []}


def versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{p} {version(p)}" for p in ("torch", "diffusers", "cache-dit")) + f", Python {platform.python_version()}"


class Notes:
    """Reasons as numbered notes under the table (a table cell holds the outcome and a note number)."""

    def __init__(self) -> None:
        self.texts: dict[str, dict[str, int]] = {"refused": {}, "hook fails": {}, "defect": {}}

    PREFIX = {"refused": "r", "hook fails": "h", "defect": "x"}

    def mark(self, kind: str, text: str) -> str:
        numbers = self.texts[kind]
        text = text.removeprefix("DynamoConfigError: ").replace("|", "\\|")
        return self.PREFIX[kind] + str(numbers.setdefault(text, len(numbers) + 1))

    def lines(self) -> list[str]:
        titles = {"refused": "Refused by cachepass (the ConfigError's first line)",
                  "hook fails": "The reference fails (its error)", "defect": "Crashes, differences, timeouts, cells not run"}
        out = []
        for kind, numbers in self.texts.items():
            if numbers:
                out += ["", f"{titles[kind]}:", ""] + [f"- {self.PREFIX[kind]}{n}: {text}" for text, n in numbers.items()]
        return out


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def cell_text(cell: dict, notes: Notes) -> str:
    outcome, detail, ours = cell["outcome"], cell["detail"], cell["ours"]
    if outcome == "equal":
        return f"equal {ours}"
    if outcome == "runs (no reference)":
        return f"runs {ours}"
    if outcome == "reused nothing":
        return "reused nothing" + (f" {ours}" if ours else "")
    if outcome == "hook fails":
        error, _, _ = detail.partition("; cachepass reuses")
        return f"hook fails ({notes.mark('hook fails', error)}); ours {ours}"
    if outcome == "refused":
        reason, _, theirs = detail.partition(" (the reference fails too: ")
        text = f"refused ({notes.mark('refused', reason)})"
        return text + (f", hook fails too ({notes.mark('hook fails', theirs.rstrip(')'))})" if theirs else "")
    if outcome in ("both fail", "not run") or (outcome == "crash" and "(the reference fails too: " in detail):
        ours, _, theirs = detail.partition(" (the reference fails too: ")
        text = f"{'not run' if outcome == 'not run' else 'both fail'}: ours ({notes.mark('defect', ours)})"
        return text + (f", hook ({notes.mark('hook fails', theirs.rstrip(')'))})" if theirs else "")
    return f"**{outcome}** ({notes.mark('defect', detail)})"


def table(records: list[dict], header: str) -> str:
    import sweep

    methods = sweep.METHOD_NAMES
    notes = Notes()
    counts = Counter(c["outcome"] for r in records for c in r["cells"])
    lines = [header, "", "Outcomes over all cells: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()) + "."]
    without = [r for r in records if not r["cells"]]
    lines += ["", f"Classes: {len(records)}; swept: {len(records) - len(without)}; not swept: {len(without)} "
              "(listed after the table).", ""]
    lines.append("| class | whole graph | " + " | ".join(methods) + " |")
    lines.append("|---|---|" + "---|" * len(methods))
    for r in sorted(records, key=lambda r: r["model"]):
        if not r["cells"]:
            continue
        by = {c["method"]: c for c in r["cells"]}
        whole = "yes" if r["fullgraph"] else "no"
        lines.append(f"| {r['model']} | {whole} | "
                     + " | ".join(cell_text(by[m], notes) if m in by else "-" for m in methods) + " |")
    lines += notes.lines()
    captured = [r for r in records if r["note"] and r["cells"]]
    if captured:
        lines += ["", "Classes torch cannot capture whole (their cells ran without `fullgraph`):", ""]
        lines += [f"- {r['model']}: {r['note']}" for r in sorted(captured, key=lambda r: r["model"])]
    if without:
        lines += ["", "Not swept:", ""] + [f"- {r['model']}: {r['note']}" for r in sorted(without, key=lambda r: r["model"])]
    return "\n".join(lines) + "\n"


HEADER = """# Every diffusers transformer x every cachepass method

Written by `scripts/sweep_families.py` (the cell logic: tests/sweep.py; tiny configs read from diffusers' own model
tests: tests/tiny_configs.py). Each cell: the class built from its tiny config with random weights, compiled with
`backend="cachepass"`, `options={{"cache": cfg, "compiler": "eager"}}`, `fullgraph=True` where plain Dynamo
captures the class whole (else without), 8 steps (timesteps 999 .. 0), compared step by step with the reference on
an eager deep copy: diffusers' hook (`enable_cache`) for pab, fastercache (batched CFG, batch 2), fbc, magcache,
taylorseer, seacache; cache-dit for dbcache; no reference for teacache (it must run and reuse). `equal` = every step
within {tolerance:g} and the same steps reused (the letters: C computed, R reused something; FasterCache: values only,
see tests/sweep.py). Thresholds of fbc / seacache / dbcache measured per class on the reference (NOTE [Thresholds
on tiny random weights]).

Measured {date} on {machine}; {versions}; cachepass at commit {commit}.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("classes", nargs="*")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("--worker")
    parser.add_argument("--cell-timeout", type=int, default=240)
    parser.add_argument("--class-timeout", type=int, default=1500)
    parser.add_argument("--table", action="store_true", help="only write docs/families.md from the JSONL")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.cell_timeout)
    import sweep

    if not args.table:
        names = args.classes or list(sweep.time_inputs())
        done = {json.loads(line)["model"] for line in RESULTS.read_text().splitlines()} if RESULTS.exists() else set()
        todo = [n for n in names if n not in done or args.classes]
        with ThreadPoolExecutor(args.jobs) as pool, RESULTS.open("a") as out:
            for record in pool.map(lambda n: run_one(n, args.cell_timeout, args.class_timeout), todo):
                out.write(json.dumps(record) + "\n")
                out.flush()
                print(record["model"], record.get("seconds"), Counter(c["outcome"] for c in record["cells"]), flush=True)
    latest = {}
    for line in RESULTS.read_text().splitlines():
        record = json.loads(line)
        latest[record["model"]] = record
    for name in sweep.time_inputs():
        latest.setdefault(name, {"model": name, "fullgraph": False, "note": "not run yet", "cells": []})
    machine = f"{platform.machine()} Linux, {os.cpu_count()} CPU cores shared, 1 torch thread"
    header = HEADER.format(tolerance=sweep.TOLERANCE, date=datetime.date.today().isoformat(), machine=machine,
                           versions=versions(), commit=commit())
    TABLE.write_text(table(list(latest.values()), header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
