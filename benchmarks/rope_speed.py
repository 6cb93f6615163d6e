"""Time RoPE implementations against the memory floor, side by side, in one run.

The floor is one elementwise pass that reads and writes q and k once (``q * 1.0``,
``k * 1.0``): no RoPE can move less memory. Each implementation is timed as the median of
several repeats, interleaved round-robin so machine noise hits all of them alike, and
reported as a ratio to the floor measured in the same rounds. Every timed call allocates
its outputs, as the floor does (on this machine the page faults of a fresh 64 MiB output
are most of the floor's time).

Rows: ``posemb.apply_rope`` with its default eager backend (the blocked kernel
``posemb._rope_kernels.rope_eager_into``) and with ``backend="compiled"`` (the
``torch.compile``d kernel, ``posemb._rope_kernels.compiled_rope``), the textbook
``apply_rope_reference``, transformers' Llama ``apply_rotary_pos_emb`` and
rotary-embedding-torch's ``apply_rotary_emb`` when installed. Before the rounds it prints
the first-call cost of the compiled kernels (the compile), in seconds and in eager calls;
after them, how much of the CPUs other processes used meanwhile (from ``/proc/stat``),
since that skews every ratio.

    .venv/bin/python benchmarks/rope_speed.py               # [1, 32, 4096, 128] float32
    .venv/bin/python benchmarks/rope_speed.py --size small  # a few seconds (plus compiling)
    .venv/bin/python benchmarks/rope_speed.py --cold-compile-cache  # compile from scratch
    .venv/bin/python benchmarks/rope_speed.py --size small --no-compile  # eager rows only

``--cold-compile-cache`` points inductor at an empty cache directory, so the compile cost
includes what a first run on a fresh machine pays (C++ headers, no cached kernels).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["full", "small"], default="full")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--cold-compile-cache", action="store_true")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip torch.compile (its cost and its rows)"
    )
    return parser.parse_args()


ARGS = _args()
if ARGS.cold_compile_cache:  # before torch is imported: inductor reads it at import
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="rope_speed_inductor_")

import torch  # noqa: E402

from posemb import apply_rope, apply_rope_reference, rope_cos_sin  # noqa: E402
from posemb._rope_kernels import (  # noqa: E402
    compiled_available,
    compiled_rope,
    rope_eager_into,
)


def eager(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> torch.Tensor:
    """The module's eager kernel with the output allocated as ``apply_rope`` allocates it."""
    out = torch.empty_like(x, memory_format=torch.contiguous_format)  # [b, h, n, d]
    return rope_eager_into(out, x, cos, sin, cos.shape[-1], layout)


def once(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (Linux ``/proc/stat``), or NaN."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return float("nan")
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def own_seconds() -> float:
    """CPU seconds this process has used."""
    t = os.times()
    return t.user + t.system


def main() -> None:
    args = ARGS
    b, h, n, d = (1, 32, 4096, 128) if args.size == "full" else (1, 8, 1024, 128)
    repeats = args.repeats or (15 if args.size == "full" else 30)
    dtype = getattr(torch, args.dtype)
    torch.set_grad_enabled(False)

    torch.manual_seed(0)
    q = torch.randn(b, h, n, d, dtype=dtype)  # [b, h, n, d]
    k = torch.randn(b, h, n, d, dtype=dtype)
    positions = torch.arange(n)
    cos_h, sin_h = rope_cos_sin(positions, d, layout="half", dtype=dtype)  # [n, d]
    cos_i, sin_i = rope_cos_sin(positions, d, layout="interleaved", dtype=dtype)

    print(
        f"config: q, k [{b}, {h}, {n}, {d}] {args.dtype}, cos/sin [{n}, {d}], {repeats} "
        "interleaved repeats, medians"
    )
    print(
        f"torch {torch.__version__}, Python {platform.python_version()}, "
        f"threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, "
        f"{platform.machine()} {platform.processor() or ''}".rstrip()
    )
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load is not None:
        print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    # ------------------------------------------------------------- compile cost
    eager_half = statistics.median(once(lambda: eager(q, cos_h, sin_h, "half")) for _ in range(5))
    eager_inter = statistics.median(
        once(lambda: eager(q, cos_i, sin_i, "interleaved")) for _ in range(5)
    )
    if args.no_compile:
        available = False
    else:
        t_probe = once(compiled_available)
        available = compiled_available()
        print(
            f"compiled_available() = {available}: {t_probe:.2f} s = {t_probe / eager_half:.0f} "
            "eager half calls (the probe: the process's first compile, half layout, head dim 8); "
            f"cold inductor cache: {args.cold_compile_cache}"
        )
    half_c = compiled_rope("half", dtype) if available else None
    inter_c = compiled_rope("interleaved", dtype) if available else None
    if half_c is not None and inter_c is not None:
        for name, fn, cos, sin, one in (
            ("half", half_c, cos_h, sin_h, eager_half),
            ("interleaved", inter_c, cos_i, sin_i, eager_inter),
        ):
            first = once(lambda fn=fn, cos=cos, sin=sin: fn(q, cos, sin, d))
            second = once(lambda fn=fn, cos=cos, sin=sin: fn(k, cos, sin, d))
            print(
                f"compiled {name:11s} first call {first:6.2f} s = {first / one:6.0f} eager "
                f"calls ({one * 1e3:.1f} ms each); second call {second * 1e3:.1f} ms"
            )
    else:
        print("compiled rows skipped (--no-compile, or torch.compile not available here)")

    # ------------------------------------------------------------- timed rounds
    impls: dict[str, Callable[[], object]] = {
        "floor (q*1.0, k*1.0)": lambda: (q * 1.0, k * 1.0),
        "posemb apply_rope, half": lambda: (
            apply_rope(q, cos_h, sin_h, "half"),
            apply_rope(k, cos_h, sin_h, "half"),
        ),
        "posemb apply_rope, interleaved": lambda: (
            apply_rope(q, cos_i, sin_i, "interleaved"),
            apply_rope(k, cos_i, sin_i, "interleaved"),
        ),
    }
    if half_c is not None and inter_c is not None:
        impls["posemb apply_rope compiled, half"] = lambda: (
            apply_rope(q, cos_h, sin_h, "half", backend="compiled"),
            apply_rope(k, cos_h, sin_h, "half", backend="compiled"),
        )
        impls["posemb apply_rope compiled, interleaved"] = lambda: (
            apply_rope(q, cos_i, sin_i, "interleaved", backend="compiled"),
            apply_rope(k, cos_i, sin_i, "interleaved", backend="compiled"),
        )
    impls["posemb apply_rope_reference, half"] = lambda: (
        apply_rope_reference(q, cos_h, sin_h, "half"),
        apply_rope_reference(k, cos_h, sin_h, "half"),
    )
    try:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        cos_b, sin_b = cos_h[None], sin_h[None]  # [1, n, d] as Llama passes them
        impls["transformers Llama apply_rotary_pos_emb"] = lambda: apply_rotary_pos_emb(
            q, k, cos_b, sin_b
        )
    except ImportError:
        print("transformers not installed: skipped")
    try:
        from rotary_embedding_torch import apply_rotary_emb

        inv = 1.0 / 10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
        freqs = torch.outer(positions.double(), inv).to(dtype)  # [n, d/2]
        freqs = freqs.repeat_interleave(2, dim=-1)  # [n, d], its interleaved convention
        impls["rotary-embedding-torch apply_rotary_emb"] = lambda: (
            apply_rotary_emb(freqs, q),
            apply_rotary_emb(freqs, k),
        )
    except ImportError:
        print("rotary-embedding-torch not installed: skipped")

    times: dict[str, list[float]] = {name: [] for name in impls}
    for fn in impls.values():  # warm-up
        fn()
    busy0, self0, wall0 = busy_seconds(), own_seconds(), time.perf_counter()
    for _ in range(repeats):
        for name, fn in impls.items():
            times[name].append(once(fn))
    others = busy_seconds() - busy0 - (own_seconds() - self0)
    share = others / (time.perf_counter() - wall0) / (os.cpu_count() or 1)

    floor = statistics.median(times["floor (q*1.0, k*1.0)"])
    print(f"{'implementation (q and k)':45s} {'median':>11s}   x floor")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:45s} {med * 1e3:8.2f} ms   {med / floor:5.2f}")
    if share == share:  # not NaN: /proc/stat was readable
        print(f"other processes used ~{100 * max(share, 0.0):.0f}% of the CPUs during the rounds")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
