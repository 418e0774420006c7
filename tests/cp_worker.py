"""One rank of a context-parallel test run: `python tests/cp_worker.py RANK WORLD PORT OUT CASE...`.

Each rank joins a gloo group on 127.0.0.1 (with a timeout, so that ranks that stop agreeing fail instead
of hanging), runs every case of tests/cp_cases.py named on the command line (`CASE:skew`: the last rank runs other
timesteps, which must raise RanksDisagree on every rank) and saves its results to OUT/rank<RANK>-<CASE>.pt. tests/test_context_parallel.py starts the ranks and compares."""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402


def main() -> None:
    rank, world, port, out, *names = sys.argv[1:]
    torch.set_num_threads(1)  # two ranks on two cores
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=int(rank), world_size=int(world),
                            timeout=datetime.timedelta(seconds=int(os.environ.get("CP_TIMEOUT", "90"))))
    from cp_cases import run_case

    from cachepass.integrations.parallel import RanksDisagree

    try:
        for name in names:
            skew = name.endswith(":skew")
            try:
                result = run_case(name.removesuffix(":skew"), skew=skew)
            except RanksDisagree as err:
                result = {"error": str(err)}
            name = name.replace(":", "-")
            torch.save(result, Path(out) / f"rank{rank}-{name}.pt")
            print(f"rank {rank}: {name} done", flush=True)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
