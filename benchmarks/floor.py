"""How fast could a whole exact fp32 answer be on this machine? The time of its heavy kernels alone, each at its
best, beside the answer as it runs.

    .venv/bin/python benchmarks/floor.py                      # normal; --configs hd; --with-today (bfb3e50's answer)

One warm answer of `benchmarks/inference.py`'s real-size fp32 model (CLIP ViT-L/14-336 + ConvNeXt-L + a
SmolLM2-135M-sized Llama, one 640x480 photo, 32 greedy tokens) is profiled once with its input shapes. The floor
counts only what the arithmetic cannot avoid, each part at the best this CPU reaches:

- every matrix product of 5 rows or more (towers, projector, mining, prefill): the faster of MKL (`x @ w.T`) and
  oneDNN's inner product on a bare input of that shape, best of 3, no activation, no bias;
- every matrix-vector product (4 rows or fewer: decoding): its weight bytes at this machine's read bandwidth
  (the best of summing a 512 MiB tensor on the same threads), since decoding streams each weight from memory;
- convolutions and attention: their own kernels' time inside the answer (the profiler's self time).

Everything else (norms, activations, residual adds, the mining sums, image preprocessing, the Python of the
model and of generation) is left out, so no implementation that does the same arithmetic can be faster. If
today's answer / floor is under 1.5, a 1.5x speed-up of the exact answer is out of reach on this machine.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from minigemini.quantization import ONEDNN_LINEAR

sys.path.insert(0, str(Path(__file__).parent))
import inference as bench  # noqa: E402  (benchmarks/inference.py: the real-size model and the answer)

MATMULS = ("aten::addmm", "aten::mm", "mkldnn::_linear_pointwise")  # (input, weight) shapes: see `gemm_shape`
KERNELS = ("aten::mkldnn_convolution", "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::bmm")
GEMV_ROWS = 4


def gemm_shape(name: str, shapes: list) -> tuple[int, int, int]:
    """(M, K, N) of a matrix product event from its recorded input shapes."""
    if name == "aten::addmm":  # bias, x [M, K], w.T [K, N]
        (m, k), (_, n) = shapes[1], shapes[2]
    elif name == "aten::mm":
        (m, k), (_, n) = shapes[0], shapes[1]
    else:  # _linear_pointwise: x [..., K], weight [N, K]
        m, k, n = math.prod(shapes[0][:-1]), shapes[0][-1], shapes[1][0]
    return m, k, n


def best_time(fn, repeats: int = 3) -> float:
    fn()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def best_gemm_s(m: int, k: int, n: int) -> float:
    """Faster of MKL and oneDNN for x [m, k] @ w [n, k].T, fp32, bare."""
    x, w = torch.randn(m, k), torch.randn(n, k)
    times = [best_time(lambda: x @ w.T)]
    if ONEDNN_LINEAR is not None:
        times.append(best_time(lambda: ONEDNN_LINEAR(x, w, None, "none", [], "")))
    return min(times)


def read_bandwidth() -> float:
    """Bytes per second this process reads a 512 MiB fp32 tensor at (best of 10 sums, its pages touched first)."""
    x = torch.ones(2**27)
    return x.numel() * 4 / best_time(lambda: x.sum(), repeats=10)


def profile_answer(model, processor, new_tokens: int):
    """(wall seconds of a warm answer, profiler events with shapes of the next one)."""
    batch = processor(bench.PROMPT, [bench.photo()])

    def answer():
        bench.greedy_answer(model, batch, new_tokens)

    with torch.inference_mode():
        wall = best_time(answer, repeats=1)  # one untimed answer first
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            answer()
    return wall, prof.events()


def floor(events, bandwidth: float) -> dict:
    """Seconds of the floor's parts (see the module docstring) from a profiled answer's events."""
    gemms, gemv_bytes, kernels = Counter(), 0, Counter()
    for e in events:
        if e.name in MATMULS:
            m, k, n = gemm_shape(e.name, e.input_shapes)
            if m <= GEMV_ROWS:
                gemv_bytes += k * n * 4
            else:
                gemms[(m, k, n)] += 1
        elif e.name in KERNELS:
            kernels[e.name] += e.self_cpu_time_total / 1e6  # the calling thread's span: wall time of the kernel
    gemm_s = sum(count * best_gemm_s(*shape) for shape, count in gemms.items())
    gflop = sum(2 * count * math.prod(shape) for shape, count in gemms.items()) / 1e9
    return {
        "matrix products (>= 5 rows)": gemm_s,
        "  their GFLOP": gflop,
        "matrix-vector products (decoding), weights at read bandwidth": gemv_bytes / bandwidth,
        "  their GB": gemv_bytes / 1e9,
        "convolutions (own kernels)": kernels["aten::mkldnn_convolution"],
        "attention and batched products (own kernels)": kernels["aten::_scaled_dot_product_flash_attention_for_cpu"] + kernels["aten::bmm"],
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", choices=list(bench.CONFIGS), default=["normal"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--with-today", action="store_true",
                   help="also time today's fp32 answer (bfb3e50, a fresh process on a real-size folder) in this run")
    p.add_argument("--baseline-rev", default="bfb3e50")
    p.set_defaults(device="cpu", clock="wall")  # what inference.py's answer-only subprocess is told
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    bench.CLOCK = time.perf_counter
    from rich.console import Console
    from rich.table import Table

    bandwidth = read_bandwidth()
    table = Table(title=f"Floor of an exact fp32 answer: {a.threads} threads, wall seconds, "
                        f"read bandwidth {bandwidth / 1e9:.1f} GB/s")
    table.add_column("part")
    columns = []
    for name in a.configs:
        model, processor = bench.build(name, "fp32")
        wall, events = profile_answer(model, processor, a.new_tokens)
        parts = floor(events, bandwidth)
        total = sum(v for k, v in parts.items() if not k.startswith("  "))
        column = {**{k: f"{v:.2f} GB" if k.endswith("GB") else f"{v:.0f}" if k.endswith("GFLOP") else f"{v:.2f} s"
                     for k, v in parts.items()},
                  "floor (sum)": f"{total:.2f} s", "our whole answer (this process)": f"{wall:.2f} s",
                  "  ours / floor": f"{wall / total:.2f}x"}
        del model
        if a.with_today:
            with tempfile.TemporaryDirectory(prefix="minigemini-floor-") as tmp:
                folder = bench.write_checkpoints(name, Path(tmp))["ours"]
                today = bench.subprocess_answer(folder, "fp32", a, bench.baseline_tree(a.baseline_rev))["answer_s"]
            column.update({"today's fp32 answer (bfb3e50, fresh process)": f"{today:.2f} s",
                           "  today's / floor: the most any exact path can gain": f"{today / total:.2f}x",
                           "  today's / ours": f"{today / wall:.2f}x"})
        table.add_column(name, justify="right")
        columns.append(column)
    for key in columns[0]:
        table.add_row(key, *(c.get(key, "-") for c in columns))
    Console().print(table)


if __name__ == "__main__":
    main()
