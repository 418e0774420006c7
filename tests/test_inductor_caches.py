"""A new process finds every cachepass variant in the Inductor caches an earlier process left (NOTE [Stable
variants for Inductor's caches], compiler/lower.py): two fresh processes share a temporary TORCHINDUCTOR_CACHE_DIR,
and the second's counters are torch's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A Dynamo graph, then a node added the way a method's rewrite adds one (FasterCache's `delta.float()`: a
# call_method whose receiver is a new node without Dynamo's example value), lowered by cachepass with Inductor.
VARIANT = """
import json, torch
from dataclasses import dataclass
from typing import Any
from torch import fx
from torch._dynamo.utils import counters
from cachepass.compiler.lower import lower

@dataclass
class Variant:
    name: str
    gm: fx.GraphModule
    example_inputs: tuple[Any, ...]

lowered = []

def backend(gm, example_inputs):
    graph = gm.graph
    a, b = graph.find_nodes(op="placeholder")
    output = graph.output_node()
    with graph.inserting_before(output):
        delta = graph.call_method("float", (graph.call_function(torch.sub, (a, b)),))
    output.args = ((*output.args[0], delta),)
    gm.recompile()
    fakes = tuple(n.meta["example_value"] for n in graph.find_nodes(op="placeholder"))
    lowered.append(lower(Variant("added", gm, fakes), "inductor", {}))
    return lambda *args: lowered[0].fn(*args)[:1]

f = torch.compile(lambda x, y: (x * y + 1).sin(), backend=backend, fullgraph=True)
x, y = torch.randn(8, 8, dtype=torch.float16), torch.randn(8, 8, dtype=torch.float16)
with torch.no_grad():
    f(x, y)
print(json.dumps({"aot": dict(counters["aot_autograd"]), "inductor": dict(counters["inductor"]),
                  "variant": {**lowered[0].cache.__dict__, "missed": lowered[0].cache.missed}}))
"""


def _fresh_process(cache: Path) -> dict:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", VARIANT], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_variant_with_added_nodes_hits_both_inductor_caches_in_a_second_process(tmp_path):
    first, second = _fresh_process(tmp_path), _fresh_process(tmp_path)
    assert first["inductor"].get("fxgraph_cache_miss") == 1 and first["variant"]["fxgraph_miss"] == 1
    assert first["aot"].get("autograd_cache_saved") == 1, first["aot"]  # not "Bypassing autograd cache"
    assert second["aot"].get("autograd_cache_hit") == 1, second["aot"]
    assert "autograd_cache_bypass" not in second["aot"] and "autograd_cache_miss" not in second["aot"], second["aot"]
    assert second["inductor"].get("fxgraph_cache_miss", 0) == 0 and second["variant"]["missed"] == 0, second
