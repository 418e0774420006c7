"""This tree against an older revision of cachepass, in the same rounds: `python -m bench.revisions`.

    python -m bench.revisions --against d057e56 --workload cogvideox-small \\
        --configurations "cachepass PAB" "cachepass FBC"

For "no worse than before" claims (a refactor, a runtime change). Two bench runs taken minutes apart cannot
be compared on a shared CPU (bench/turns.py), so every configuration runs twice here -- once from this tree,
once from `git archive REV` of the same repository (its own `bench` and `cachepass`, imported by a worker whose
working directory is that copy) -- and all the workers take their loops in turn, in the same rounds. A ratio
is the median over rounds of (this tree / REV) of the same round.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from tabulate import tabulate

from cachepass.measure import median_ratio

from .turns import ROOT, Rounds, Worker, in_turn
from .workloads import WORKLOADS


def export(revision: str, into: Path) -> Path:
    """`revision`'s cachepass/ and bench/ under `into` (a clean copy: no build outputs, no local edits)."""
    archive = subprocess.run(["git", "archive", revision, "cachepass", "bench"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def check_imports(root: Path) -> None:
    """A worker started in `root` must import that tree's cachepass, not the installed one."""
    found = subprocess.run([sys.executable, "-c", "import cachepass; print(cachepass.__file__)"], cwd=root,
                           check=True, capture_output=True, text=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"a worker in {root} imports {found}: unset PYTHONPATH and run again")


def start(root: Path, workload: str, configuration: str, repeats: int, out: Path, tag: str) -> Worker:
    stem = out / f"{tag}--{configuration.replace(' ', '-')}"
    worker = Worker([workload, configuration, "--repeats", str(repeats), "--compiler", "inductor",
                     "--json", f"{stem}.json", "--latent", f"{stem}.pt"],
                    tempfile.mkdtemp(prefix="cachepass-revisions-inductor-"), Path(f"{stem}.log"), root=root)
    if not worker.measured():
        raise SystemExit(f"{tag} {configuration} failed:\n{worker.log_tail()}")
    return worker


def table(measured: Rounds, configurations: list[str], steps: int, revision: str) -> str:
    def per_step(values: list[float]) -> str:
        return f"{1000 * statistics.median(values) / steps:.2f}"

    rows = []
    for name in configurations:
        now, then = f"now: {name}", f"{revision}: {name}"
        rows.append((name, per_step(measured.runtime[then]), per_step(measured.runtime[now]),
                     f"{median_ratio(measured.runtime[now], measured.runtime[then]):.2f}",
                     per_step(measured.loops[then]), per_step(measured.loops[now]),
                     f"{median_ratio(measured.loops[now], measured.loops[then]):.3f}"))
    return tabulate(rows, headers=("configuration", f"runtime ms/step {revision}", "runtime ms/step now",
                                   "now / then", f"loop ms/step {revision}", "loop ms/step now", "now / then"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.revisions", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, metavar="REV", help="the git revision to compare with")
    parser.add_argument("--workload", default="cogvideox-small", choices=sorted(WORKLOADS))
    parser.add_argument("--configurations", nargs="+", required=True, metavar="NAME",
                        help="bench configurations both revisions know ('cachepass' and a method's bench label)")
    parser.add_argument("--repeats", type=int, default=1, help="timed loops per worker before the rounds")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench-revisions"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    old = export(args.against, Path(tempfile.mkdtemp(prefix="cachepass-revision-")))
    for root in (ROOT, old):
        check_imports(root)
    workers = {}
    for configuration in args.configurations:
        for tag, root in (("now", ROOT), (args.against, old)):
            print(f"[revisions] {tag}: {configuration} (cold measurement)", flush=True)
            workers[f"{tag}: {configuration}"] = start(root, args.workload, configuration, args.repeats,
                                                       args.out, tag)
    print(f"[revisions] {args.rounds} rounds in turn", flush=True)
    measured = in_turn(workers, args.rounds)
    for worker in workers.values():
        worker.finish()
    print(table(measured, args.configurations, WORKLOADS[args.workload].steps, args.against))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
