"""The benchmark registry: name -> `Benchmark`."""

from __future__ import annotations

from . import gqa, mathvista, mme, mmbench, mmmu, mmvet, pope, textvqa
from .base import PROTOCOLS, Benchmark

BENCHMARKS: dict[str, Benchmark] = {
    module.BENCHMARK.name: module.BENCHMARK for module in (textvqa, mme, mmbench, mmmu, mathvista, mmvet, pope, gqa)
}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


__all__ = ["BENCHMARKS", "PROTOCOLS", "Benchmark", "get_benchmark"]
