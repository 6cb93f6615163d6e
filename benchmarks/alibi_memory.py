"""Peak memory of ALiBi attention: a broadcast [h, n, n] bias vs a materialised [b, h, n, n].

Each variant runs in its own subprocess (so one cannot inherit the other's peak) and reports
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on Linux) after one forward pass under
``torch.no_grad()``. A baseline subprocess that only builds the inputs is reported too.

    .venv/bin/python benchmarks/alibi_memory.py                 # b=4, h=8, n=4096, dim=512
    .venv/bin/python benchmarks/alibi_memory.py --n 1024        # faster
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, torch
from posemb import ALiBi, MultiHeadAttention, attention, alibi_bias
b, h, n, dim, variant = json.loads(sys.argv[1])
torch.manual_seed(0)
x = torch.randn(b, n, dim)
mha = MultiHeadAttention(dim, h, scheme=ALiBi(h), causal=True)
with torch.no_grad():
    if variant == "broadcast":
        out = mha(x)
    elif variant == "materialised":
        qkv = mha.qkv(x).view(b, n, 3, h, dim // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        bias = alibi_bias(h, n, n).expand(b, h, n, n).contiguous()  # [b, h, n, n] copy
        out = attention(q, k, v, bias=bias, causal=True)
        out = mha.out(out.transpose(1, 2).reshape(b, n, dim))
    else:
        out = x
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def run(args, variant):
    cfg = json.dumps([args.batch, args.heads, args.n, args.dim, variant])
    res = subprocess.run(
        [sys.executable, "-c", CHILD, cfg], capture_output=True, text=True, check=True
    )
    return int(res.stdout.strip().splitlines()[-1]) / 1024  # MiB


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--dim", type=int, default=512)
    args = p.parse_args()
    import torch

    print(
        f"config: batch {args.batch}, heads {args.heads}, tokens {args.n}, dim {args.dim}, "
        f"float32, causal, torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    base = run(args, "baseline")
    bc = run(args, "broadcast")
    mat = run(args, "materialised")
    one = args.batch * args.heads * args.n * args.n * 4 / 2**20
    print(f"baseline (inputs only)            peak RSS {base:9.1f} MiB")
    print(f"MultiHeadAttention, [h, n, n] bias peak RSS {bc:9.1f} MiB")
    print(f"materialised [b, h, n, n] bias    peak RSS {mat:9.1f} MiB")
    print(
        f"ratio materialised / broadcast    {mat / bc:.2f}  (one [b, h, n, n] float32 = "
        f"{one:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
