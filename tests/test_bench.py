"""`python -m bench --smoke` runs every configuration in worker processes and writes a JSON file with
every field; the cached configurations agree with diffusers' hooks."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import peers
from bench.configurations import CONFIGURATIONS, REFERENCE_OF
from bench.worker import Measurement
from bench.workloads import WORKLOADS
from cachepass.measure import median_ratio

ROOT = Path(__file__).resolve().parent.parent
# the cachepass FirstBlockCache row of each composition (None: FBC alone)
CACHEPASS_ROW = {c.calibrator: n for n, c in CONFIGURATIONS.items() if c.cachepass and c.method == "fbc"}
QUALITY = ("speedup_vs_eager", "speedup_vs_inductor", "rel_l2_vs_uncached", "psnr_vs_uncached", "max_diff_vs_hook",
           "timing")


def test_smoke_bench_writes_every_field(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads((tmp_path / "bench-smoke.json").read_text())
    assert {"date", "machine", "preset", "compiler", "repeats", "results"} <= set(document)
    results = {r["configuration"]: r for r in document["results"]}
    assert set(results) == set(CONFIGURATIONS)
    for name in [n for n, c in CONFIGURATIONS.items() if c.peer]:  # CI runs without the peers installed
        installed = importlib.util.find_spec({"cache-dit": "cache_dit", "ParaAttention": "para_attn"}[
            CONFIGURATIONS[name].peer]) is not None
        if installed:
            assert "skipped" not in results[name], (name, results[name]["skipped"])
        else:
            assert "pip install -e '.[peers]'" in results.pop(name)["skipped"], name
    for name, result in results.items():
        assert "error" not in result, (name, result.get("error"))
        for field in [f.name for f in dataclasses.fields(Measurement)] + list(QUALITY):
            assert field in result, (name, field)
        assert len(result["step_ms"]) == result["steps"] == 8
    cached = results["cachepass PAB"]
    assert cached["variants"][0] == "compute" and "reuse-spatial" in cached["variants"]
    assert cached["max_diff_vs_hook"] <= 1e-5
    assert cached["rel_l2_vs_uncached"] > 0  # it did reuse
    assert 0 < cached["efficiency"] and cached["ideal_loop_seconds"] > 0
    assert set(cached["variant_ms"]) == set(cached["variants"])
    assert (cached["dynamo_graphs"], cached["recompiles"], cached["graph_breaks"]) == (1, 0, 0)
    assert results["diffusers PAB hook + torch.compile"]["graph_breaks"] > 0  # the problem cachepass solves
    faster = results["cachepass FasterCache"]
    assert faster["max_diff_vs_hook"] <= 1e-4 and faster["rel_l2_vs_uncached"] > 0
    assert (faster["dynamo_graphs"], faster["recompiles"], faster["graph_breaks"]) == (2, 0, 0)
    assert {"full", "half"} <= set(faster["variants"])
    first_block = results["cachepass FBC"]  # at the hook's own decisions and output
    assert first_block["same_steps_as_hook"] is True and 0 < first_block["pattern"].count("R") < 8
    assert first_block["max_diff_vs_hook"] <= 1e-5
    assert (first_block["dynamo_graphs"], first_block["recompiles"], first_block["graph_breaks"]) == (1, 0, 0)
    assert set(first_block["variant_ms"]) <= {"head", "head+decide", "tail-compute", "tail-reuse"}
    assert results["diffusers FBC hook + torch.compile"]["graph_breaks"] > 0
    # Equal decisions: every first-block implementation (cachepass, diffusers' hook, the peers), eager or
    # compiled, skipped the same steps; each one's host reads were counted; only cachepass captures one graph.
    # A calibrated row is compared with the cachepass row of the same composition (its predicted outputs steer the
    # loop's later inputs, and so its decisions).
    for name, result in results.items():
        configuration = CONFIGURATIONS[name]
        if configuration.method == "fbc":
            mine = results[CACHEPASS_ROW[configuration.calibrator]]
            assert result["pattern"] == mine["pattern"], name
            assert result["host_reads"] >= mine["pattern"].count("R"), name
            if configuration.compiled:
                assert result["fullgraph"] == "yes" if configuration.cachepass else result["fullgraph"].startswith("no:"), name
    assert first_block["host_reads"] == 8  # one read per step: the decision value and timestep together
    assert results["torch.compile (inductor)"]["fullgraph"] == "yes" and results["eager"]["fullgraph"] is None
    assert document["first_block"]["smoke"]["pattern"] == first_block["pattern"]
    try:  # the figure needs the bench extra (matplotlib), which the test extra does not install
        import matplotlib  # noqa: F401
    except ImportError:
        assert not (tmp_path / "bench-smoke-smoke-speed.png").exists()
    else:
        assert (tmp_path / "bench-smoke-smoke-speed.png").exists()
    magnitude = results["cachepass MagCache"]  # a step-only schedule: the hook's own steps
    assert magnitude["same_steps_as_hook"] is True and 0 < magnitude["pattern"].count("R") < 8
    assert magnitude["max_diff_vs_hook"] <= 1e-5
    assert (magnitude["dynamo_graphs"], magnitude["recompiles"], magnitude["graph_breaks"]) == (1, 0, 0)
    taylor = results["cachepass TaylorSeer"]
    assert taylor["max_diff_vs_hook"] <= 1e-4 and 0 < taylor["pattern"].count("R") < 8
    assert (taylor["dynamo_graphs"], taylor["recompiles"], taylor["graph_breaks"]) == (1, 0, 0)
    blocks = results["cachepass DBCache"]  # against cache-dit's own DBCache (its reference rows)
    if "cache-dit DBCache (eager)" in results:
        assert blocks["same_steps_as_hook"] is True and 0 < blocks["pattern"].count("R") < 8
        assert blocks["max_diff_vs_hook"] <= 1e-5
    assert (blocks["dynamo_graphs"], blocks["recompiles"], blocks["graph_breaks"]) == (1, 0, 0)
    assert blocks["host_reads"] == 8
    # Compositions: a stack skip with cache-dit's TaylorSeer calibrator, against cache-dit's hybrid of the same two
    # (FBC's: the peers' "cache-dit FBCache + TaylorSeer" rows); one graph, one host read per step, and outputs other
    # than the uncalibrated row's exactly when a step reuses after a computed step that formed a derivative
    # (cache-dit's count: a computed step from step 3 on; before that the prediction is the residual itself).
    for name, plain in (("cachepass FBC + TaylorSeer calibrator", first_block),
                        ("cachepass DBCache + TaylorSeer calibrator", blocks),
                        ("cachepass TeaCache + TaylorSeer calibrator", results["cachepass TeaCache"])):
        composed = results[name]
        assert (composed["dynamo_graphs"], composed["recompiles"], composed["graph_breaks"]) == (1, 0, 0), name
        assert composed["host_reads"] == 8 and 0 < composed["pattern"].count("R") < 8, name
        pattern = composed["pattern"]
        derived = pattern.find("C", 3)
        predicts = derived >= 0 and "R" in pattern[derived + 1:]
        assert (composed["rel_l2_vs_uncached"] != plain["rel_l2_vs_uncached"]) == predicts, (name, pattern)
        if REFERENCE_OF[name] in results:
            assert composed["same_steps_as_hook"] is True and composed["max_diff_vs_hook"] <= 1e-5, name
    calibrated = document["first_block_calibrated"]["taylorseer"]["smoke"]
    assert calibrated["pattern"] == results["cachepass FBC + TaylorSeer calibrator"]["pattern"]
    tea = results["cachepass TeaCache"]  # no diffusers hook: quality against eager only
    assert 0 < tea["pattern"].count("R") < 8 and tea["rel_l2_vs_uncached"] > 0 and tea["max_diff_vs_hook"] is None
    assert (tea["dynamo_graphs"], tea["recompiles"], tea["graph_breaks"]) == (1, 0, 0)
    sea = results["cachepass SeaCache"]  # the loop's cache_context gives hook and cachepass the step
    assert sea["same_steps_as_hook"] is True and 0 < sea["pattern"].count("R") < 8
    assert sea["max_diff_vs_hook"] <= 1e-4 and (sea["dynamo_graphs"], sea["recompiles"], sea["graph_breaks"]) == (1, 0, 0)
    assert "cachepass PAB" in done.stdout and "ideal s (efficiency)" in done.stdout
    # First generation (the cold worker's first loop) for every row; a second new process, with the cache the first
    # left, for plain torch.compile and the default method's row (smoke compiles with the eager backend: no misses)
    second = {"torch.compile (inductor)", "cachepass PAB"}
    for name, result in results.items():
        assert result["first_generation_seconds"] == result["warmup_seconds"] > 0, name
        assert (result.get("second_process_seconds", 0) > 0) == (name in second), name
    assert set(results["cachepass PAB"]["second_process_cache"].values()) == {0}
    assert set(results["cachepass PAB"]["second_process_variant_cache"]) == set(cached["variants"])
    assert "second process s" in done.stdout
    # Timing: every configuration's worker takes turns in the rounds, the hooks and peers under compile too.
    for name, result in results.items():
        assert result["timing"] == "paired" and len(result["paired_loops"]) == document["rounds"], name
        assert result["speedup_vs_eager"] > 0 and result["speedup_vs_inductor"] > 0, name
    for a in document["first_block"]["smoke"]["against"]:  # compiled rows too: per-round ratios of the rounds
        if a.get("not_run"):
            continue
        other = results[a["configuration"]]["paired_loops"]
        assert a["cachepass_faster"] == pytest.approx(median_ratio(other, first_block["paired_loops"])), a
        # the ceiling at equal work: cachepass's variants alone (each round's ideal) against the other's loop
        assert a["zero_overhead_bound"] == pytest.approx(median_ratio(other, first_block["paired_ideal"])), a
        assert a["zero_overhead_bound"] >= a["cachepass_faster"], a
    for name in ("cachepass PAB", "cachepass FasterCache", "cachepass FBC", "cachepass MagCache",
                 "cachepass TaylorSeer"):  # efficiency from the paired rounds, worker's kept
        assert results[name]["worker_efficiency"] > 0 and results[name]["efficiency_alone"] > 0, name
        assert 0 < results[name]["efficiency"] <= 1.0, name  # the variants' own time is part of the loop
        # the runtime's calls enclose its variants' calls: its own time is >= 0 and within the loop's
        assert 0 <= results[name]["runtime_ms_per_step"] < 1000 * results[name]["paired_loop_seconds"] / 8, name


def test_a_peer_without_its_package_says_why(monkeypatch):
    """A missing peer package is a row that says how to install it, not a failed bench."""
    monkeypatch.setitem(sys.modules, "cache_dit", None)  # import cache_dit now raises ImportError
    monkeypatch.setitem(sys.modules, "para_attn", None)
    workload = WORKLOADS["smoke"]
    for name in ("cache-dit FBCache + torch.compile", "ParaAttention FBC (eager)"):
        with pytest.raises(peers.Unavailable, match=r"not installed: pip install -e '\.\[peers\]'"):
            CONFIGURATIONS[name].prepare(workload.model(), workload, "eager")


def test_a_peer_that_does_not_apply_gets_a_row_saying_why(tmp_path):
    """Latte: no first-block cache applies; the peers' rows say why, the bench does not fail."""
    from bench.orchestrate import run_all

    results = run_all(["latte-small"], ["cache-dit FBCache (eager)"], 1, "eager", tmp_path, False, 1)
    assert results == [{"workload": "latte-small", "configuration": "cache-dit FBCache (eager)",
                        "skipped": WORKLOADS["latte-small"].why_not["fbc"]}]


def test_tune_smoke_holds_the_tuned_plan_against_the_defaults(tmp_path):
    """`python -m bench --tune --smoke`: the tuned plan, measured in the bench's own rounds, meets its budget against
    the bench's own uncached eager latent, and the comparison names the fastest default that meets it."""
    done = subprocess.run([sys.executable, "-m", "bench", "--tune", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads((tmp_path / "bench-tune-smoke.json").read_text())
    (plan,) = document["tuned"]
    assert plan["budget"] == 30.0 and plan["method"] == "fbc" and plan["tuner"]["generations"] > 0
    results = {r["configuration"]: r for r in document["results"]}
    tuned = results[plan["name"]]
    assert tuned["psnr_vs_uncached"] >= plan["budget"] and tuned["timing"] == "paired"
    assert 0 < tuned["pattern"].count("R") < 8  # the plan reuses, and the bench saw it
    (row,) = document["comparison"]
    default = results[row["best_default"]]
    assert row["best_default"] == "cachepass FBC" and default["psnr_vs_uncached"] >= 30
    assert row["ratio"] == pytest.approx(tuned["speedup_vs_eager"] / default["speedup_vs_eager"])
    peer = results["cache-dit DBCache default + torch.compile"]  # 8 front blocks: more than the tiny model has
    assert "skipped" in peer and ("pip install" in peer["skipped"] or "fails on smoke" in peer["skipped"])
    assert "best default meeting it" in done.stdout
