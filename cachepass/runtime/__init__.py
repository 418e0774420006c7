"""Method-neutral per-call work: the base runtime, the cache store, the live-graph registry, the uncached graph."""
