"""Training speed of the Applications experiments: steps per second, and where a step goes.

For each experiment of ``posemb.lab.experiments`` and each scheme, one short run (its own
training loop, evaluation excluded) is timed and reported as steps per second and as a
ratio to NoPE's speed in the same run. Then one step of the generation model with RoPE is
profiled with ``torch.profiler`` and its most expensive operations are listed. This is the
"profile a step first" measurement that sizing the full runs starts from; nothing here is
a timed test.

    .venv/bin/python benchmarks/train_speed.py                # 100 steps per run, 1 thread
    .venv/bin/python benchmarks/train_speed.py --threads 2
    .venv/bin/python benchmarks/train_speed.py --steps 30      # quicker, noisier
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings

import torch

from posemb.lab import experiments
from posemb.lab.model import SCHEMES, DecoderLM, ModelConfig
from posemb.lab.training import TrainConfig


def timed_runs(steps: int) -> dict[str, dict[str, float]]:
    """Steps per second of each experiment's training loop, per scheme."""
    cfg = TrainConfig(steps=steps, warmup=min(10, steps // 2))
    runs = {
        "classification": lambda s: experiments.run_classification(
            s, seed=0, train_cfg=cfg, num_eval=32
        ),
        "translation": lambda s: experiments.run_translation(s, seed=0, train_cfg=cfg, num_eval=16),
        "qa": lambda s: experiments.run_qa(s, seed=0, train_cfg=cfg, num_eval_per_len=8),
        "generation": lambda s: experiments.run_generation(
            s, seed=0, train_cfg=cfg, multiples=(1,), eval_tokens=256
        ),
    }
    out: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        out[name] = {}
        for scheme in SCHEMES:
            record = run(scheme)
            out[name][scheme] = steps / record["seconds"]
    return out


def profile_step(top: int) -> str:
    """The most expensive operations of a few training steps of the RoPE character model."""
    torch.manual_seed(0)
    model = DecoderLM(ModelConfig(vocab_size=128, scheme="rope", max_len=32))
    batch = torch.randint(0, 128, (32, 33))  # [b, n + 1], the generation experiment's shape
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):  # warm-up
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    if args.steps < 2 or args.threads < 1:
        parser.error("--steps must be >= 2 and --threads >= 1")
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    print(
        f"config: {args.steps} training steps per run, seed 0, threads {args.threads}; "
        f"torch {torch.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )
    speeds = timed_runs(args.steps)
    print(f"{'experiment':15s} {'scheme':11s} {'steps/s':>8s} {'x NoPE':>7s}")
    for name, per_scheme in speeds.items():
        for scheme, speed in per_scheme.items():
            print(f"{name:15s} {scheme:11s} {speed:8.1f} {speed / per_scheme['nope']:7.2f}")
    print("\none step of the generation model with RoPE (20 steps profiled):")
    print(profile_step(args.top))


if __name__ == "__main__":
    main()
