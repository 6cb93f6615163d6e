"""Deterministic training and evaluation for the small models of :mod:`posemb.lab.model`.

``seed_everything`` fixes Python's, and torch's generators and asks torch for deterministic
algorithms; :func:`preserve_torch_state` puts torch's thread count and determinism flags
back afterwards; :func:`train` runs AdamW with warm-up and cosine decay behind a ``tqdm`` bar.
The same seed on the same machine, torch version and thread count gives bit-identical
weights, which is what lets the book's notebooks print metrics that nbval re-checks.
Book part: "Applications".

Notation: ``b`` batch, ``n`` length, ``V`` vocabulary size.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TrainConfig",
    "seed_everything",
    "preserve_torch_state",
    "make_generator",
    "lr_at",
    "train",
    "accuracy",
    "sequence_accuracy",
    "perplexity",
    "scored_nll",
    "machine_info",
]


@dataclass
class TrainConfig:
    """Optimiser settings; defaults suit models of ~0.1 M parameters on toy tasks."""

    #: optimisation steps (one batch each).
    steps: int = 500
    #: examples per batch.
    batch_size: int = 32
    #: peak learning rate; small models tolerate 3e-3 with warm-up.
    lr: float = 3e-3
    #: linear warm-up steps before the cosine decay.
    warmup: int = 50
    #: final learning rate as a fraction of ``lr``.
    min_lr_ratio: float = 0.1
    #: AdamW weight decay.
    weight_decay: float = 0.01
    #: gradient clipping by global norm.
    clip: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python and torch, and (by default) require deterministic torch algorithms.

    This changes process-wide state on purpose and leaves it changed: Python's and torch's
    global generators, ``torch.use_deterministic_algorithms(True)`` and, if unset, the
    ``CUBLAS_WORKSPACE_CONFIG`` environment variable that deterministic cuBLAS needs. Call
    it inside ``with preserve_torch_state():`` to get the determinism flags and the
    variable back afterwards; the ``run_*`` functions of :mod:`posemb.lab.experiments` do.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


@contextlib.contextmanager
def preserve_torch_state(threads: int | None = None) -> Iterator[None]:
    """Restore torch's thread count and determinism settings on exit, however it exits.

    Saves ``torch.get_num_threads()``, ``torch.are_deterministic_algorithms_enabled()``,
    its ``warn_only`` flag and the ``CUBLAS_WORKSPACE_CONFIG`` environment variable, sets
    the thread count to ``threads`` if given, and puts all four back afterwards, so that
    running an experiment from a notebook leaves the caller's settings as they were. What
    happens inside is untouched (:func:`seed_everything` still turns determinism on for
    the run). The global random generators are not restored: they stay as the run left
    them. Usable as a decorator too.
    """
    num_threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        yield
    finally:
        if torch.get_num_threads() != num_threads:
            torch.set_num_threads(num_threads)
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator for data, independent of the global one used for initialisation."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up, then cosine to ``min_lr_ratio``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cosine)


def train(
    model: nn.Module,
    batch_fn: Callable[[int], tuple],
    loss_fn: Callable[[nn.Module, tuple], torch.Tensor],
    cfg: TrainConfig,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "train",
    log_every: int = 25,
    eval_fn: Callable[[nn.Module], dict] | None = None,
    eval_every: int | None = None,
) -> dict:
    """Train ``model`` in place and return its loss history (and a learning curve).

    Args:
        model: any module.
        batch_fn: ``batch_fn(step) -> tuple of tensors`` (on the CPU; moved to ``device``).
        loss_fn: ``loss_fn(model, batch) -> scalar loss``.
        cfg: optimiser settings.
        device: where to train.
        progress: show a ``tqdm`` bar (off in notebooks, whose stored outputs must not vary).
        desc: label of the bar.
        log_every: record the mean loss of every ``log_every`` steps.
        eval_fn: ``eval_fn(model) -> {metric: number or None}``, called in eval mode without
            gradients after every ``eval_every`` steps and after the last one. It must draw
            its data from its own generator: training then takes the same path with or
            without it (same weights, bit for bit).
        eval_every: steps between evaluations; needed with ``eval_fn``.

    Returns:
        ``{"steps": [...], "loss": [...], "final_loss": float, "seconds": float}``, plus
        ``"curve": {"steps": [...], metric: [...]}`` with ``eval_fn``. ``seconds`` excludes
        the evaluations.
    """
    from tqdm import tqdm

    if (eval_fn is None) != (eval_every is None):
        raise ValueError("eval_fn and eval_every go together: give both or neither")
    if eval_every is not None and (
        isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1
    ):
        raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")

    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    steps, losses, window = [], [], []
    curve: dict[str, list] = {"steps": []}
    eval_seconds = 0.0
    start = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=desc, disable=not progress, leave=False)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        batch = tuple(t.to(device) for t in batch_fn(step))
        loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        window.append(loss.item())
        if len(window) == log_every or step == cfg.steps - 1:
            steps.append(step + 1)
            losses.append(sum(window) / len(window))
            window = []
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if eval_fn is not None and ((step + 1) % eval_every == 0 or step == cfg.steps - 1):
            t_eval = time.perf_counter()
            model.eval()
            with torch.no_grad():
                metrics = eval_fn(model)
            model.train()
            _append_curve(curve, step + 1, metrics)
            eval_seconds += time.perf_counter() - t_eval
    model.eval()
    out = {
        "steps": steps,
        "loss": losses,
        "final_loss": losses[-1],
        "seconds": time.perf_counter() - start - eval_seconds,
    }
    if eval_fn is not None:
        out["curve"] = curve
    return out


def _append_curve(curve: dict[str, list], step: int, metrics: dict) -> None:
    if not isinstance(metrics, dict) or not metrics:
        raise TypeError(f"eval_fn must return a non-empty dict of metrics, got {metrics!r}")
    if len(curve["steps"]) and set(metrics) != set(curve) - {"steps"}:
        raise ValueError(
            f"eval_fn returned metrics {sorted(metrics)} at step {step}, "
            f"but {sorted(set(curve) - {'steps'})} before"
        )
    curve["steps"].append(step)
    for key, value in metrics.items():
        curve.setdefault(key, []).append(value)


@torch.no_grad()
def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of ``argmax(logits, -1) == targets`` over every entry."""
    return (logits.argmax(-1) == targets).float().mean().item()


@torch.no_grad()
def sequence_accuracy(pred: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows of ``pred`` ``[b, n]`` equal to ``targets`` in every position."""
    return (pred == targets).all(dim=1).float().mean().item()


@torch.no_grad()
def perplexity(
    model: nn.Module, windows: torch.Tensor, batch_size: int = 16, device: str = "cpu"
) -> float:
    """Perplexity ``exp(mean NLL)`` of a causal LM over windows ``[w, n + 1]``.

    Each window is read independently from position 0 (non-overlapping evaluation); every
    one of its ``n`` next-token predictions counts.
    """
    total, count = scored_nll(model, windows, 0, batch_size=batch_size, device=device)
    return math.exp(total / count)


@torch.no_grad()
def scored_nll(
    model: nn.Module,
    windows: torch.Tensor,
    score_from: int = 0,
    batch_size: int = 16,
    device: str = "cpu",
) -> tuple[float, int]:
    """Summed NLL (float64) and count of the predictions at input positions ``>= score_from``.

    ``windows`` ``[w, n + 1]`` holds ``n`` inputs and their next tokens; each window is read
    from position 0, and only the predictions made at positions ``score_from .. n - 1`` (so
    with at least ``score_from + 1`` tokens of context) are counted. ``score_from=0`` counts
    every prediction, as :func:`perplexity` does; sliding-window evaluation scores only the
    last few positions of overlapping windows.
    """
    n = windows.shape[1] - 1
    if isinstance(score_from, bool) or not isinstance(score_from, int):
        raise TypeError(f"score_from must be an int, got {score_from!r}")
    if not 0 <= score_from < n:
        raise ValueError(
            f"score_from must be in [0, {n}) for windows of {n} inputs, got {score_from}"
        )
    model.to(device).eval()
    total, count = 0.0, 0
    for i in range(0, windows.shape[0], batch_size):
        chunk = windows[i : i + batch_size].to(device)  # [b, n + 1]
        logits = model(chunk[:, :-1])[:, score_from:]  # [b, n - score_from, V]
        targets = chunk[:, score_from + 1 :]  # [b, n - score_from]
        nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).double(), targets.reshape(-1), reduction="sum"
        )
        total += nll.item()
        count += targets.numel()
    return total, count


def machine_info() -> dict:
    """Where a run happened: platform, CPU, Python, torch, threads, CUDA device if any."""
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info
