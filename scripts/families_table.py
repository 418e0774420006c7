"""Regenerate the model-family table in docs/methods.md from the parity tests' own results.

    python scripts/families_table.py            # runs tests/test_families.py, rewrites docs/methods.md's table

Each passing case of tests/test_families.py::test_family_matches_diffusers_hooks records what it
measured (cached kinds, worst difference to diffusers' hooks, graphs, breaks, recompiles); this script
runs the tests with recording on and writes those records between the markers in docs/methods.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- families-table:start -->", "<!-- families-table:end -->"
TARGET = ROOT / "docs" / "methods.md"


def run_tests(record: Path) -> int:
    env = {**os.environ, "CACHEPASS_FAMILIES_RECORD": str(record)}
    command = [sys.executable, "-m", "pytest", "-q", "tests/test_families.py", "-k", "test_family_matches"]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def table(records: list[dict]) -> str:
    rows = []
    for r in sorted(records, key=lambda r: r["case"]):
        kinds = ", ".join(f"{kind} x{n}" for kind, n in r["cached"].items())
        note = f"diffusers' rule files {', '.join(r['misclassified'])} differently" if r["misclassified"] else ""
        rows.append((r["case"], r["model"], kinds, f"yes ({r['worst_diff']:.1e})", r["graphs"], r["breaks"],
                     r["recompiles"], r["variants"], r["compiler"], note))
    return tabulate(rows, headers=("case", "diffusers class", "cached kinds (sites)", "parity with hooks (max diff)",
                                   "graphs", "breaks", "recompiles", "variants", "inner compiler", "note"),
                    tablefmt="github")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "families.jsonl"
        status = run_tests(record)
        records = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    if status != 0:
        print("some family tests failed; the table lists only the passing cases", file=sys.stderr)
    readme = TARGET.read_text()
    if START not in readme or END not in readme:
        print(f"{TARGET} has no {START} ... {END} markers", file=sys.stderr)
        return 2
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    TARGET.write_text(f"{head}{START}\n{table(records)}\n{END}{tail}")
    print(table(records))
    return status


if __name__ == "__main__":
    sys.exit(main())
