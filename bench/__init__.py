"""Side-by-side benchmarks of cachepass against eager PyTorch, diffusers' hooks and plain Inductor.

    python -m bench               # CPU default: small CogVideoX and Latte, a few minutes on 2 cores
    python -m bench --gpu         # the real CogVideoX-2b transformer configuration (bf16, batched CFG)
    python -m bench --smoke       # seconds: a tiny model, every configuration, every field (CI)
    python -m bench --peers       # first-block caches: cachepass, diffusers, cache-dit, ParaAttention
"""
