"""Running the bench: every (workload, configuration) in a cold worker process, then the rounds in turn
(bench/turns.py) across the workers of each CPU workload; their results as dicts, one per row."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from cachepass.measure import median_ratio

from .configurations import CONFIGURATIONS, applies, why_not
from .turns import ROOT, Rounds, Worker, in_turn
from .workloads import WORKLOADS


def run_all(workloads: list[str], configurations: list[str], repeats: int, compiler: str, out: Path,
            warm_cache: bool, rounds: int, second_process: Collection[str] = ()) -> list[dict[str, Any]]:
    """Every (workload, configuration) in a cold worker, one at a time; then, per CPU workload, the rounds in
    turn across those workers, which waited with their warm models (bench/turns.py). The configurations in
    `second_process` also run their first generation once more in a new process, with the Inductor cache the
    cold worker left (`second_process()`)."""
    chosen = {w: [c for c in configurations if applies(CONFIGURATIONS[c], WORKLOADS[w])] for w in workloads}
    # A peer that does not apply to a workload gets a row saying why (the others are simply not run there).
    results = [{"workload": w, "configuration": c, "skipped": why_not(CONFIGURATIONS[c], WORKLOADS[w])}
               for w in workloads for c in configurations
               if CONFIGURATIONS[c].peer and not applies(CONFIGURATIONS[c], WORKLOADS[w])]
    paired = [w for w in workloads if WORKLOADS[w].paired_timing and len(chosen[w]) > 1]
    labels = [f"{w}: {c}" for w in workloads for c in [*chosen[w], *(["paired timing"] if w in paired else [])]]
    progress = iter(enumerate(labels))
    shared_cache = tempfile.mkdtemp(prefix="cachepass-bench-inductor-")
    for workload in workloads:
        waiting: dict[str, Worker] = {}
        seconds: dict[str, dict[str, Any]] = {}  # the second processes' fields, per configuration
        for configuration in chosen[workload]:
            show_progress(*next(progress), len(labels))
            cache = shared_cache if warm_cache else tempfile.mkdtemp(prefix="cachepass-bench-inductor-")
            stem = out / f"{workload}--{slug(configuration)}"
            worker = Worker(_worker_arguments(workload, configuration, repeats, compiler, stem), cache,
                            Path(f"{stem}.log"))
            if workload in paired and worker.measured():
                waiting[configuration] = worker  # warm, idle until the rounds
            else:
                results.append(_finished(worker, workload, configuration, stem))  # frees a GPU's memory first
            if configuration in second_process and (configuration in waiting or measured(results[-1])):
                seconds[configuration] = second_generation(workload, configuration, compiler, cache, stem)
            if cache != shared_cache:
                shutil.copytree(cache, shared_cache, dirs_exist_ok=True)
        if waiting:
            show_progress(*next(progress), len(labels))
            loops = _rounds(waiting, rounds)
            results += [_finished(worker, workload, name, out / f"{workload}--{slug(name)}")
                        for name, worker in waiting.items()]
            _attach_paired(results, workload, loops)
        for result in results:
            if result["workload"] == workload and measured(result):
                result["first_generation_seconds"] = None if warm_cache else result["warmup_seconds"]
                result.update(seconds.get(result["configuration"], {}))
    show_progress(len(labels), "done", len(labels))
    return results


def second_generation(workload: str, configuration: str, compiler: str, cache: str, stem: Path) -> dict[str, Any]:
    """The first generation once more, in a new process with the Inductor cache `cache` that the cold worker left
    (a new worker, a serverless restart): its time, from the first call to the end of the generation, and how
    Inductor's and AOTAutograd's caches answered (torch's counters), in total and per cachepass variant."""
    log, json_path = Path(f"{stem}.second.log"), Path(f"{stem}.second.json")
    with log.open("w") as output:
        arguments = _worker_arguments(workload, configuration, 1, compiler, Path(f"{stem}.second"))
        code = subprocess.run([sys.executable, "-m", "bench.worker", *arguments, "--first-generation"], cwd=ROOT,
                              stdout=output, stderr=subprocess.STDOUT,
                              env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}).returncode
    if code != 0:
        return {"second_process_error": log.read_text(errors="replace")[-2000:]}
    second = json.loads(json_path.read_text())
    return {"second_process_seconds": second["seconds"], "second_process_cache": second["inductor_cache"],
            "second_process_variant_cache": second["variant_cache"]}


def _worker_arguments(workload: str, configuration: str, repeats: int, compiler: str, stem: Path) -> list[str]:
    return [workload, configuration, "--repeats", str(repeats), "--compiler", compiler, "--json", f"{stem}.json",
            "--latent", f"{stem}.pt"]


def _rounds(workers: dict[str, Worker], rounds: int) -> Rounds | str:
    """The rounds in turn, or what went wrong (the workers are finished either way)."""
    if len(workers) < 2:
        return "fewer than two configurations measured: nothing to time in turn"
    try:
        return in_turn(workers, rounds)
    except RuntimeError as error:
        return str(error)


def _finished(worker: Worker, workload: str, configuration: str, stem: Path) -> dict[str, Any]:
    """Lets the worker finish and reads its measurement (or its failure)."""
    if worker.finish() != 0:
        return {"workload": workload, "configuration": configuration, "error": worker.log_tail()}
    return json.loads(Path(f"{stem}.json").read_text())


def measured(result: dict[str, Any]) -> bool:
    return "error" not in result and "skipped" not in result


def _attach_paired(results: list[dict[str, Any]], workload: str, paired: Rounds | str) -> None:
    """The rounds' loop times, and for cachepass the paired efficiency (bench/turns.py): the median over rounds
    of ideal / loop, with the variants timed inside the loop (`efficiency`) or alone right after it
    (`efficiency_alone`). The worker's own figures stay under `worker_*`."""
    for result in results:
        if result["workload"] != workload or not measured(result):
            continue
        name = result["configuration"]
        if isinstance(paired, str):
            result["paired_error"] = paired
            continue
        if name in paired.loops:
            result["paired_loops"] = paired.loops[name]
            result["paired_loop_seconds"] = statistics.median(paired.loops[name])
        if paired.ideal.get(name):
            loops = result["paired_loops"]
            result["paired_ideal"] = paired.ideal[name]
            result["worker_ideal_loop_seconds"] = result["ideal_loop_seconds"]
            result["worker_efficiency"] = result["efficiency"]
            result["ideal_loop_seconds"] = statistics.median(paired.ideal[name])
            result["efficiency"] = median_ratio(paired.ideal[name], loops)
            result["efficiency_alone"] = median_ratio(paired.ideal_alone[name], loops)
            if paired.runtime.get(name):
                steps = result["steps"]
                result["runtime_ms_per_step"] = 1000 * statistics.median(paired.runtime[name]) / steps
                result["dynamo_ms_per_step"] = 1000 * statistics.median(
                    (loop - ideal) / steps for loop, ideal in zip(loops, paired.ideal[name])
                ) - result["runtime_ms_per_step"]


def show_progress(done: int, label: str, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:60]:<60}", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()
