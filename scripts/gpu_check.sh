#!/usr/bin/env bash
# One device call for a session that is lent a GPU (15 minutes of device time in all, 10 per command):
# the CUDA-graph tests (PAB, FasterCache, FirstBlockCache, MagCache, TaylorSeer), then the --gpu bench preset narrowed to what fits. Not yet run anywhere (no session
# has had a GPU; here it is only syntax-checked); diffusers' hooks under torch.compile are left out: their
# dozens of graphs of a 30-layer model would not compile within the limit.
# The device image (2026-11) has Python 3.12 and torch 2.11 but no diffusers: carry wheels as
# /work/.library/device/README.md says (diffusers==0.42.1 and its missing needs, e.g. importlib_metadata),
# in a folder `.whl`, and the script installs them and cachepass (for its entry point) first. cachepass
# was written against torch 2.13; a different torch on the device is itself worth recording.
#   run: bash scripts/gpu_check.sh   (results under $OUT when set, else bench/results)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . || python3 -m pip install -q --no-deps -e .
python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)"
out="${OUT:-bench/results}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# A failing test must not cost the bench its run: record it and go on; bounded so the call fits 600 s.
timeout 150 python3 -m pytest -q tests/test_cudagraphs.py \
  tests/test_fastercache.py::test_cudagraph_replay_keeps_cached_tensors_intact 2>&1 | tail -5 | tee "$out/cudagraphs-test.txt" || true
timeout 420 python3 -m bench --gpu --warm-cache --repeats 3 --out "$out" --configurations \
  eager "diffusers PAB hook (eager)" "torch.compile (inductor)" "cachepass PAB" "cachepass FasterCache" \
  "diffusers FBC hook (eager)" "cachepass FBC" "diffusers MagCache hook (eager)" "cachepass MagCache" \
  "diffusers TaylorSeer hook (eager)" "cachepass TaylorSeer"
