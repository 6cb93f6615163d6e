"""Time apply_rope against the memory floor and two reference implementations.

The floor is one elementwise pass that reads and writes q and k once (``q * 1.0``,
``k * 1.0``): no RoPE can move less memory. Each implementation is timed as the median of
several repeats, interleaved round-robin so machine noise hits all of them alike, and
reported as a ratio to the floor measured in the same rounds.

    .venv/bin/python benchmarks/rope_speed.py               # [1, 32, 4096, 128] float32
    .venv/bin/python benchmarks/rope_speed.py --size small  # a few seconds
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from posemb import apply_rope, apply_rope_reference, rope_cos_sin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["full", "small"], default="full")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    b, h, n, d = (1, 32, 4096, 128) if args.size == "full" else (1, 8, 1024, 128)
    repeats = args.repeats or (15 if args.size == "full" else 30)

    torch.manual_seed(0)
    q = torch.randn(b, h, n, d)  # [b, h, n, d]
    k = torch.randn(b, h, n, d)
    positions = torch.arange(n)
    cos_h, sin_h = rope_cos_sin(positions, d, layout="half")  # [n, d]
    cos_i, sin_i = rope_cos_sin(positions, d, layout="interleaved")

    impls = {
        "floor (q*1.0, k*1.0)": lambda: (q * 1.0, k * 1.0),
        "posemb apply_rope half": lambda: (
            apply_rope(q, cos_h, sin_h, "half"),
            apply_rope(k, cos_h, sin_h, "half"),
        ),
        "posemb apply_rope interleaved": lambda: (
            apply_rope(q, cos_i, sin_i, "interleaved"),
            apply_rope(k, cos_i, sin_i, "interleaved"),
        ),
        "posemb apply_rope_reference half": lambda: (
            apply_rope_reference(q, cos_h, sin_h, "half"),
            apply_rope_reference(k, cos_h, sin_h, "half"),
        ),
    }
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

        freqs = torch.outer(positions.float(), 1.0 / 10000 ** (torch.arange(0, d, 2) / d))
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
    for _ in range(repeats):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    print(f"config: q, k [{b}, {h}, {n}, {d}] float32, layouts as named, {repeats} repeats")
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"{platform.machine()} {platform.processor() or ''}".rstrip()
    )
    floor = statistics.median(times["floor (q*1.0, k*1.0)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:45s} median {med * 1e3:8.2f} ms   {med / floor:5.2f} x floor")


if __name__ == "__main__":
    main()
