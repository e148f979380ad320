"""Benchmarks: the non-local block's fast paths against the naive formula (:mod:`nlx.bench.nonlocal_block`),
whole-model training against a peer implementation (:mod:`nlx.bench.train`) and data loading
(:mod:`nlx.bench.data`). Method and numbers: docs/benchmarks.md."""
