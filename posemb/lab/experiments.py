"""The book's application experiments, runnable from the command line.

``python -m posemb.lab.experiments --list`` names them; ``python -m posemb.lab.experiments NAME
[--quick] [--device cuda] [--seeds 0 1 2] [--schemes rope alibi] [--out PATH]`` trains
one small model per (scheme, seed), evaluates it, and writes a JSON record (configuration,
seeds, library version, machine, timings, per-run metrics and a mean/spread summary per
scheme) to :func:`default_out` unless ``--out`` says otherwise. Every record validates
against ``posemb/lab/data/schema.json``. The committed full runs are package data,
``posemb/lab/data/NAME.json``, read with :func:`load`. Book part: "Applications".

Each ``run_*`` function trains and evaluates one model and is what the notebooks call for
their live, small versions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import SCHEME_NAMES
from . import stats, tasks
from .model import SCHEMES, DecoderLM, Encoder, EncoderDecoder, ModelConfig, count_parameters
from .training import (
    TrainConfig,
    accuracy,
    machine_info,
    make_generator,
    perplexity,
    preserve_torch_state,
    scored_nll,
    seed_everything,
    sequence_accuracy,
    train,
)

__all__ = [
    "SCHEMA_VERSION",
    "EVAL_SEED",
    "Experiment",
    "EXPERIMENTS",
    "run_classification",
    "run_translation",
    "run_qa",
    "run_generation",
    "LONGCONTEXT_METHODS",
    "run_longcontext",
    "run_experiment",
    "summarize",
    "metric_values",
    "compare",
    "doubling_multiple",
    "validate",
    "load",
    "default_out",
    "merge_records",
    "main",
]

SCHEMA_VERSION = 2
#: Seed of every evaluation set: all schemes and seeds are scored on the same examples.
EVAL_SEED = 12345
#: The committed records and their schema: package data, in the installed package too.
DATA = Path(__file__).resolve().parent / "data"
#: Where the command line writes outside a source checkout (relative to the working dir).
RESULTS = Path("posemb-results")


def _cfg(vocab_size: int, scheme: str, max_len: int, **kw) -> ModelConfig:
    return ModelConfig(vocab_size=vocab_size, scheme=scheme, max_len=max_len, **kw)


def _with_boundary(x: torch.Tensor, token: int | None) -> torch.Tensor:
    """``x`` ``[b, n]`` with a boundary token (like BERT's ``[CLS]``) prepended at position 0;
    ``x`` itself when ``token`` is None."""
    if token is None:
        return x
    return torch.cat([torch.full((x.shape[0], 1), token, dtype=x.dtype), x], dim=1)  # [b, n+1]


# --------------------------------------------------------------------------- runs


@preserve_torch_state()
def run_classification(
    scheme: str,
    seed: int,
    *,
    length: int = 16,
    train_cfg: TrainConfig | None = None,
    num_eval: int = 2000,
    device: str = "cpu",
    progress: bool = False,
    model_kw: dict | None = None,
    boundary: bool = False,
    curve_every: int | None = None,
) -> dict:
    """Encoder + mean pooling on :func:`posemb.lab.tasks.order_classification`.

    ``model_kw`` overrides :class:`posemb.lab.model.ModelConfig` fields (every ``run_*`` takes
    it). With ``boundary`` every input starts with an extra token (like BERT's ``[CLS]``),
    which breaks the mirror symmetry of distance-only biases. ``curve_every`` (every
    ``run_*`` takes it) evaluates the metrics every so many steps into a learning curve.
    Returns ``{"metrics": {"accuracy"}, "final_loss", "seconds", "parameters", "history"}``,
    plus ``"curve"`` with ``curve_every``.
    """
    train_cfg = train_cfg or TrainConfig(steps=300)
    vocab = tasks.ClassificationVocab()
    cls = vocab.size if boundary else None
    seed_everything(seed)
    model = Encoder(
        _cfg(vocab.size + boundary, scheme, length + boundary, num_classes=2, **(model_kw or {})),
        pool="mean",
    )
    g = make_generator(1000 + seed)

    def batch_fn(step):
        x, y = tasks.order_classification(train_cfg.batch_size, length, g, vocab)
        return _with_boundary(x, cls), y

    def loss_fn(m, batch):
        x, y = batch
        return F.cross_entropy(m(x), y)

    x_eval, y_eval = tasks.order_classification(num_eval, length, make_generator(EVAL_SEED), vocab)
    x_eval = _with_boundary(x_eval, cls)

    def evaluate(m):
        with torch.no_grad():
            return {"accuracy": accuracy(m(x_eval.to(device)).cpu(), y_eval)}

    hist = train(
        model,
        batch_fn,
        loss_fn,
        train_cfg,
        device=device,
        progress=progress,
        desc=f"classification/{scheme}/{seed}",
        **_curve_args(evaluate, curve_every),
    )
    return _record(evaluate(model), hist, model)


@preserve_torch_state()
def run_translation(
    scheme: str,
    seed: int,
    *,
    length: int = 8,
    train_cfg: TrainConfig | None = None,
    num_eval: int = 500,
    device: str = "cpu",
    progress: bool = False,
    model_kw: dict | None = None,
    boundary: bool = False,
    curve_every: int | None = None,
) -> dict:
    """Encoder-decoder on :func:`posemb.lab.tasks.reversal`, scored by greedy decoding.

    Metrics: ``token_accuracy`` (fraction of target words right) and ``exact_match``
    (fraction of sentences entirely right). With ``boundary`` every source sentence starts
    with an extra token (like BERT's ``[CLS]``); the target is unchanged.
    """
    train_cfg = train_cfg or TrainConfig(steps=400)
    vocab = tasks.ReversalVocab()
    cls = vocab.size if boundary else None
    seed_everything(seed)
    model = EncoderDecoder(
        _cfg(vocab.size + boundary, scheme, length + boundary, **(model_kw or {}))
    )
    g = make_generator(2000 + seed)

    def batch_fn(step):
        src, tgt_in, tgt = tasks.reversal(train_cfg.batch_size, length, g, vocab)
        return _with_boundary(src, cls), tgt_in, tgt

    def loss_fn(m, batch):
        src, tgt_in, tgt = batch
        logits = m(src, tgt_in)  # [b, n, V]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))

    src, _, tgt = tasks.reversal(num_eval, length, make_generator(EVAL_SEED), vocab)
    src = _with_boundary(src, cls)

    def evaluate(m):
        pred = m.generate(src.to(device), vocab.BOS, length).cpu()  # [b, n]
        return {
            "token_accuracy": (pred == tgt).float().mean().item(),
            "exact_match": sequence_accuracy(pred, tgt),
        }

    hist = train(
        model,
        batch_fn,
        loss_fn,
        train_cfg,
        device=device,
        progress=progress,
        desc=f"translation/{scheme}/{seed}",
        **_curve_args(evaluate, curve_every),
    )
    return _record(evaluate(model), hist, model)


@preserve_torch_state()
def run_qa(
    scheme: str,
    seed: int,
    *,
    task: str = "position",
    min_len: int = 4,
    max_len: int = 12,
    train_cfg: TrainConfig | None = None,
    num_eval_per_len: int = 200,
    device: str = "cpu",
    progress: bool = False,
    model_kw: dict | None = None,
    curve_every: int | None = None,
) -> dict:
    """Encoder reading the answer at the question token, for ``task`` position or content.

    Each batch has one context length drawn from ``[min_len, max_len]``, so the question
    token sits at a varying absolute position. Metric: ``accuracy`` over
    ``num_eval_per_len`` questions at every length.
    """
    if task not in ("position", "content"):
        raise ValueError(f"task must be 'position' or 'content', got {task!r}")
    train_cfg = train_cfg or TrainConfig(steps=400)
    vocab = tasks.QAVocab(num_content=32, max_len=max_len)
    gen = tasks.qa_position if task == "position" else tasks.qa_content
    seed_everything(seed)
    model = Encoder(
        _cfg(vocab.size, scheme, max_len + 2, num_classes=vocab.num_content, **(model_kw or {})),
        pool="last",
    )
    g = make_generator(3000 + seed + (0 if task == "position" else 500))

    def batch_fn(step):
        n = int(torch.randint(min_len, max_len + 1, (1,), generator=g))
        return gen(train_cfg.batch_size, n, g, vocab)

    def loss_fn(m, batch):
        x, y = batch
        return F.cross_entropy(m(x), y)

    ge = make_generator(EVAL_SEED)
    eval_sets = [gen(num_eval_per_len, n, ge, vocab) for n in range(min_len, max_len + 1)]

    def evaluate(m):
        correct = total = 0
        with torch.no_grad():
            for x, y in eval_sets:
                correct += (m(x.to(device)).argmax(-1).cpu() == y).sum().item()
                total += y.numel()
        return {"accuracy": correct / total}

    hist = train(
        model,
        batch_fn,
        loss_fn,
        train_cfg,
        device=device,
        progress=progress,
        desc=f"qa-{task}/{scheme}/{seed}",
        **_curve_args(evaluate, curve_every),
    )
    return _record(evaluate(model), hist, model)


@preserve_torch_state()
def run_generation(
    scheme: str,
    seed: int,
    *,
    train_len: int = 32,
    multiples: tuple[float, ...] = (1, 1.5, 2, 3, 4, 6, 8),
    train_cfg: TrainConfig | None = None,
    eval_tokens: int = 12288,
    max_chars: int = 400_000,
    device: str = "cpu",
    progress: bool = False,
    model_kw: dict | None = None,
    keep_model: bool = False,
    sliding: bool = False,
    far_control: bool = False,
    curve_every: int | None = None,
) -> dict:
    """Character-level causal LM trained at ``train_len``, evaluated at multiples of it.

    ``scheme`` is a name from :data:`posemb.lab.model.SCHEMES` or a scheme object (your own);
    ``keep_model`` adds the trained model under ``"model"`` (not JSON: for notebooks).

    The corpus (:func:`posemb.lab.tasks.char_corpus`) is split 90/10. Metrics, for each
    evaluation length ``n`` (``None`` where the scheme cannot run: a learned table with
    fewer than ``n`` rows):

    - ``ppl@n``: the first ``eval_tokens`` validation characters in non-overlapping windows
      of ``n`` (every prediction counts, so most have far less than ``n`` of context);
    - with ``sliding``, ``ppl_sliding@n``: the same ``eval_tokens`` targets (placed after
      the longest length) in windows of ``n`` moved by ``train_len // 2``, scoring only each
      window's last ``train_len // 2`` predictions, which all see at least
      ``n - train_len // 2 + 1`` characters (:func:`posemb.lab.tasks.sliding_windows`);
    - with ``far_control`` and ``n > train_len``, ``ppl_far@n``: the non-overlapping
      windows' predictions at positions ``>= train_len`` (positions never trained), and
      ``ppl_lastL@n``: the same targets predicted from their last ``train_len`` characters
      only (:func:`posemb.lab.tasks.last_context_windows`). ``ppl_far`` below ``ppl_lastL``
      means the model uses context past its training length; equal means it only survives
      it; above means the far positions hurt.

    ``curve_every`` records ``ppl@n`` at 1x and the two longest lengths every so many steps.
    """
    train_cfg = train_cfg or TrainConfig(steps=300, lr=3e-3, warmup=30)
    text, corpus = tasks.char_corpus(max_chars)
    ids = tasks.encode_text(text)  # [N]
    split = int(0.9 * ids.numel())
    train_ids, val_ids = ids[:split], ids[split:]
    seed_everything(seed)
    model = DecoderLM(_cfg(tasks.VOCAB_SIZE, scheme, train_len, **(model_kw or {})))
    g = make_generator(4000 + seed)
    offsets = torch.arange(train_len + 1)

    def batch_fn(step):
        starts = torch.randint(
            0, train_ids.numel() - train_len - 1, (train_cfg.batch_size,), generator=g
        )
        return (train_ids[starts[:, None] + offsets[None, :]],)  # [b, train_len + 1]

    def loss_fn(m, batch):
        return m.loss(batch[0])

    lengths = [int(round(mult * train_len)) for mult in multiples]
    runs_at = {n: not (scheme == "learned" and n > train_len) for n in lengths}

    def windowed(m, ns):
        # a learned table has train_len rows: no position past it
        return {
            f"ppl@{n}": (
                perplexity(m, tasks.lm_windows(val_ids, n, eval_tokens), device=device)
                if runs_at[n]
                else None
            )
            for n in ns
        }

    curve_lengths = sorted({train_len, *sorted(lengths)[-2:]})
    hist = train(
        model,
        batch_fn,
        loss_fn,
        train_cfg,
        device=device,
        progress=progress,
        desc=f"generation/{scheme}/{seed}",
        **_curve_args(lambda m: windowed(m, curve_lengths), curve_every),
    )
    metrics: dict[str, float | None] = windowed(model, lengths)
    if sliding:
        stride = max(1, train_len // 2)
        for n in lengths:
            if not runs_at[n]:
                metrics[f"ppl_sliding@{n}"] = None
                continue
            windows = tasks.sliding_windows(val_ids, n, stride, max(lengths), eval_tokens)
            total, count = scored_nll(model, windows, n - stride, device=device)
            metrics[f"ppl_sliding@{n}"] = math.exp(total / count)
    if far_control:
        for n in lengths:
            if n <= train_len:
                continue
            if not runs_at[n]:
                metrics[f"ppl_far@{n}"] = metrics[f"ppl_lastL@{n}"] = None
                continue
            full = scored_nll(
                model, tasks.lm_windows(val_ids, n, eval_tokens), train_len, device=device
            )
            ctx = tasks.last_context_windows(val_ids, n, train_len, eval_tokens)
            last = scored_nll(model, ctx, train_len - 1, batch_size=256, device=device)
            if full[1] != last[1]:  # the two must score exactly the same targets
                raise RuntimeError(f"far control scored {full[1]} vs {last[1]} targets at {n}")
            metrics[f"ppl_far@{n}"] = math.exp(full[0] / full[1])
            metrics[f"ppl_lastL@{n}"] = math.exp(last[0] / last[1])
    out = _record(metrics, hist, model)
    out["corpus"] = corpus
    if keep_model:
        out["model"] = model
    return out


#: The methods of :func:`run_longcontext`: RoPE with no change, three zero-shot frequency
#: changes (no training), and three short fine-tunes at ``finetune_factor`` times the
#: training length (plain RoPE as the control, position interpolation, YaRN).
LONGCONTEXT_METHODS = ("none", "ntk", "dynamic", "yarn", "ft_none", "ft_pi", "ft_yarn")

# Base models trained by run_longcontext, shared by the methods of a seed within a process.
_LONGCONTEXT_BASES: dict = {}


def _passkey_lm_batches(ids, length, batch_size, generator, passkey_rate):
    """Training rows ``[b, length + 1]``: corpus windows, a share of them with a passkey."""
    starts = torch.randint(0, ids.numel() - length - 1, (batch_size,), generator=generator)
    rows = ids[starts[:, None] + torch.arange(length + 1)[None, :]]  # [b, length + 1]
    with_key = torch.rand(batch_size, generator=generator) < passkey_rate  # [b]
    k = int(with_key.sum())
    if k:
        rows = rows.clone()
        rows[with_key] = tasks.passkey_windows(ids, length, k, generator)[0]
    return (rows,)


def _rope_for(method: str, head_dim: int, length: int, train_len: int, factor: float):
    """The :class:`posemb.Rotary` that ``method`` uses at evaluation length ``length``."""
    from ..rotary import Rotary

    if method in ("none", "ft_none"):
        return Rotary(head_dim)
    if method == "ft_pi":
        return Rotary(head_dim, scaling={"rope_type": "linear", "factor": factor})
    if method == "ft_yarn":
        scaling = {"rope_type": "yarn", "factor": factor,
                   "original_max_position_embeddings": train_len}
        return Rotary(head_dim, scaling=scaling)
    if length <= train_len:  # zero-shot methods change nothing inside the trained length
        return Rotary(head_dim)
    s = length / train_len
    if method == "ntk":
        return Rotary(head_dim, scaling={"rope_type": "ntk", "factor": s})
    if method == "dynamic":
        return Rotary(head_dim, scaling={"rope_type": "dynamic", "factor": 2.0},
                      max_positions=train_len)
    if method == "yarn":
        scaling = {"rope_type": "yarn", "factor": s, "original_max_position_embeddings": train_len}
        return Rotary(head_dim, scaling=scaling)
    raise ValueError(f"method must be one of {LONGCONTEXT_METHODS}, got {method!r}")


def _with_rope(model: DecoderLM, rope) -> DecoderLM:
    """A copy of ``model`` (same weights) whose every layer uses ``rope``."""
    twin = DecoderLM(model.cfg, scheme=rope)
    twin.load_state_dict(model.state_dict())  # RoPE's frequencies are not in the state
    return twin.to(next(model.parameters()).device).eval()


@torch.no_grad()
def passkey_accuracy(
    model: nn.Module, rows: torch.Tensor, keys: torch.Tensor, batch_size: int = 16,
    device: str = "cpu",
) -> tuple[float, float]:
    """(whole keys right, digits right) for rows of :func:`posemb.lab.tasks.passkey_windows`.

    Each digit of the key at the end is predicted from the true digits before it (teacher
    forcing); a key counts as right when all :data:`~posemb.lab.tasks.PASSKEY_DIGITS` of
    its argmax predictions are.
    """
    d = tasks.PASSKEY_DIGITS
    model.to(device).eval()
    hits = []
    for i in range(0, rows.shape[0], batch_size):
        chunk = rows[i : i + batch_size].to(device)  # [b, n + 1]
        logits = model(chunk[:, :-1])[:, -d:]  # [b, d, V]: the predictions of the key digits
        hits.append(logits.argmax(-1).cpu() == keys[i : i + batch_size])
    hit = torch.cat(hits)  # [count, d]
    return hit.all(1).float().mean().item(), hit.float().mean().item()


def _train_with_passkeys(
    model, train_ids, val_ids, length, cfg, generator, passkey_rate, probe, device, progress,
    desc, curve_every,
):
    """Train ``model`` on windows of ``length`` (a share with passkeys); curve: ppl and recall.

    ``probe`` is ``(rows, keys)`` from :func:`posemb.lab.tasks.passkey_windows`, scored at
    every point of the learning curve beside the perplexity at ``length``.
    """
    rows, keys = probe

    def evaluate(m):
        windows = tasks.lm_windows(val_ids, length, 4096)
        return {
            f"ppl@{length}": perplexity(m, windows, device=device),
            f"passkey@{length}": passkey_accuracy(m, rows, keys, device=device)[0],
        }

    return train(
        model,
        lambda step: _passkey_lm_batches(train_ids, length, cfg.batch_size, generator,
                                         passkey_rate),
        lambda m, b: m.loss(b[0]),
        cfg,
        device=device,
        progress=progress,
        desc=desc,
        **_curve_args(evaluate, curve_every),
    )


def _longcontext_base(seed, train_len, train_cfg, passkey_rate, max_chars, device,
                      curve_every, progress):
    key = (seed, train_len, repr(train_cfg), passkey_rate, max_chars, device, curve_every)
    if key in _LONGCONTEXT_BASES:
        return _LONGCONTEXT_BASES[key]
    text, corpus = tasks.char_corpus(max_chars)
    ids = tasks.encode_text(text)
    split = int(0.9 * ids.numel())
    train_ids, val_ids = ids[:split], ids[split:]
    seed_everything(seed)
    model = DecoderLM(_cfg(tasks.VOCAB_SIZE, "rope", train_len))
    g = make_generator(4000 + seed)
    probe = tasks.passkey_windows(val_ids, train_len, 100, make_generator(EVAL_SEED + 1))
    hist = _train_with_passkeys(
        model, train_ids, val_ids, train_len, train_cfg, g, passkey_rate, probe, device,
        progress, f"longcontext/base/{seed}", curve_every,
    )
    # run_experiment loops over methods outside seeds: keep every seed's base (each is
    # ~0.5 MB of weights), but not without bound in a long-lived notebook.
    if len(_LONGCONTEXT_BASES) >= 16:
        _LONGCONTEXT_BASES.pop(next(iter(_LONGCONTEXT_BASES)))
    _LONGCONTEXT_BASES[key] = (model.eval(), hist, train_ids, val_ids, corpus)
    return _LONGCONTEXT_BASES[key]


@preserve_torch_state()
def run_longcontext(
    scheme: str,
    seed: int,
    *,
    method: str = "none",
    train_len: int = 32,
    multiples: tuple[int, ...] = (1, 2, 4, 8, 16),
    train_cfg: TrainConfig | None = None,
    finetune_factor: int = 4,
    finetune_cfg: TrainConfig | None = None,
    passkey_rate: float = 0.5,
    eval_tokens: int = 8192,
    passkey_count: int = 100,
    max_chars: int = 400_000,
    device: str = "cpu",
    progress: bool = False,
    curve_every: int | None = None,
) -> dict:
    """RoPE character LM trained at ``train_len``, run past it with ``method``.

    The base model is the generation experiment's decoder, trained with a share
    ``passkey_rate`` of its windows carrying a passkey to recall (with a quarter, one seed
    of two in a pilot never learned retrieval in 3000 steps; with half, every seed tried
    learned it by step 1000)
    (:func:`posemb.lab.tasks.passkey_windows`), so that it learns retrieval inside its
    training length; one base per seed is shared by all methods in a process.
    ``method`` (one of :data:`LONGCONTEXT_METHODS`):

    - ``"none"``: RoPE unchanged at every length;
    - ``"ntk"``, ``"yarn"``: zero shot, factor ``n / train_len`` at evaluation length ``n``
      (``"yarn"`` with ``original_max_position_embeddings=train_len``); ``"dynamic"``:
      dynamic NTK with factor 2 and ``max_positions=train_len``, so its effective factor is
      ``2 n / train_len - 1``. Inside the training length they change nothing;
    - ``"ft_none"``, ``"ft_pi"``, ``"ft_yarn"``: the base fine-tuned for ``finetune_cfg``
      (default 200 steps) on windows of ``finetune_factor * train_len`` with the same
      passkey share, with plain RoPE (the control), position interpolation or YaRN at factor
      ``finetune_factor``, then evaluated with that setting at every length.

    Metrics per evaluation length ``n``: ``ppl@n`` (non-overlapping windows over
    ``eval_tokens`` validation characters), ``ppl_far@n`` for ``n > train_len`` (only the
    predictions at positions ``>= train_len``), and ``passkey@n`` / ``passkey_digits@n``:
    whole keys / digits recalled from ``passkey_count`` windows of ``n`` with the key at
    the start (``n - 4`` characters before the question).
    ``curve_every`` records the base model's ``ppl`` and ``passkey`` at ``train_len`` during
    its training (kept with ``method="none"``) and, for the fine-tunes, the same at the
    fine-tuning length eight times during fine-tuning (passkeys at the start of the window).
    """
    if scheme != "rope":
        raise ValueError(
            f"scheme must be 'rope' (the long-context methods change RoPE), got {scheme!r}"
        )
    if method not in LONGCONTEXT_METHODS:
        raise ValueError(f"method must be one of {LONGCONTEXT_METHODS}, got {method!r}")
    if not 0.0 <= passkey_rate <= 1.0:
        raise ValueError(f"passkey_rate must be in [0, 1], got {passkey_rate!r}")
    bad_factor = isinstance(finetune_factor, bool) or not isinstance(finetune_factor, int)
    if bad_factor or finetune_factor < 2:
        raise ValueError(f"finetune_factor must be an int >= 2, got {finetune_factor!r}")
    train_cfg = train_cfg or TrainConfig(steps=300, lr=3e-3, warmup=30)
    finetune_cfg = finetune_cfg or TrainConfig(steps=200, lr=1e-3, warmup=20)
    base, base_hist, train_ids, val_ids, corpus = _longcontext_base(
        seed, train_len, train_cfg, passkey_rate, max_chars, device, curve_every, progress
    )
    head_dim = base.cfg.dim // base.cfg.num_heads
    lengths = [int(m * train_len) for m in multiples]
    hist = base_hist
    model = None
    if method.startswith("ft_"):
        ft_len = finetune_factor * train_len
        model = _with_rope(base, _rope_for(method, head_dim, ft_len, train_len, finetune_factor))
        g = make_generator(5000 + seed)
        seed_everything(10_000 + seed)
        probe = tasks.passkey_windows(
            val_ids, ft_len, 100, make_generator(EVAL_SEED + 2), depth=0
        )
        ft_every = None if curve_every is None else max(1, finetune_cfg.steps // 8)
        hist = _train_with_passkeys(
            model, train_ids, val_ids, ft_len, finetune_cfg, g, passkey_rate, probe, device,
            progress, f"longcontext/{method}/{seed}", ft_every,
        )
        model.eval()
    metrics: dict[str, float | None] = {}
    for n in lengths:
        m = model if model is not None else _with_rope(
            base, _rope_for(method, head_dim, n, train_len, float(finetune_factor))
        )
        windows = tasks.lm_windows(val_ids, n, eval_tokens)
        metrics[f"ppl@{n}"] = perplexity(m, windows, device=device)
        if n > train_len:
            total, count = scored_nll(m, windows, train_len, device=device)
            metrics[f"ppl_far@{n}"] = math.exp(total / count)
        rows, keys = tasks.passkey_windows(
            val_ids, n, passkey_count, make_generator(EVAL_SEED + n), depth=0
        )
        metrics[f"passkey@{n}"], metrics[f"passkey_digits@{n}"] = passkey_accuracy(
            m, rows, keys, device=device
        )
    out = _record(metrics, hist, base if model is None else model)
    if method in ("ntk", "dynamic", "yarn"):  # the base's curve is kept once, with "none"
        out.pop("curve", None)
    out["corpus"] = corpus
    return out


def _curve_args(evaluate, curve_every: int | None) -> dict:
    """Keyword arguments for :func:`posemb.lab.training.train` that record a learning curve."""
    if curve_every is None:
        return {}
    return {"eval_fn": evaluate, "eval_every": curve_every}


def _record(metrics: dict, hist: dict, model) -> dict:
    out = {
        "metrics": metrics,
        "final_loss": hist["final_loss"],
        "seconds": hist["seconds"],
        "parameters": count_parameters(model),
        "history": {"steps": hist["steps"], "loss": hist["loss"]},
    }
    if "curve" in hist:
        out["curve"] = hist["curve"]
    return out


# --------------------------------------------------------------------------- registry


@dataclass
class Experiment:
    """One experiment: what it runs per (scheme, seed), with full and quick settings."""

    name: str
    description: str
    runs: dict[str, Callable[..., dict]]  # sub-task name -> run(scheme, seed, **kwargs)
    full: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    schemes: tuple[str, ...] = SCHEMES
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    quick_seeds: tuple[int, ...] = (0,)


def _qa_runs() -> dict[str, Callable[..., dict]]:
    return {
        "position": lambda s, seed, **kw: run_qa(s, seed, task="position", **kw),
        "content": lambda s, seed, **kw: run_qa(s, seed, task="content", **kw),
    }


def _longcontext_runs() -> dict[str, Callable[..., dict]]:
    def one(method: str) -> Callable[..., dict]:
        return lambda s, seed, **kw: run_longcontext(s, seed, method=method, **kw)

    return {m: one(m) for m in LONGCONTEXT_METHODS}


def _realmodel_runs() -> dict[str, Callable[..., dict]]:
    from . import realmodel

    def one(method: str) -> Callable[..., dict]:
        return lambda s, seed, **kw: realmodel.run_realmodel(s, seed, method=method, **kw)

    return {m: one(m) for m in realmodel.REALMODEL_METHODS}


def _with_and_without_boundary(name: str, run: Callable[..., dict]) -> dict:
    return {
        name: lambda s, seed, **kw: run(s, seed, boundary=False, **kw),
        f"{name}_boundary": lambda s, seed, **kw: run(s, seed, boundary=True, **kw),
    }


#: Training steps of every full run: long enough that the learning curves flatten (the
#: chapters show them), at about a minute per scheme and seed on one CPU thread.
FULL_STEPS = 3000
#: Evaluations along a full run, for its learning curve.
CURVE_EVERY = 250


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "classification",
            "order decides the label (is A before B?); encoder with mean pooling",
            _with_and_without_boundary("order", run_classification),
            full={
                "length": 16,
                "train_cfg": TrainConfig(steps=FULL_STEPS),
                "curve_every": CURVE_EVERY,
            },
            quick={"length": 16, "train_cfg": TrainConfig(steps=60, warmup=10), "curve_every": 30},
        ),
        Experiment(
            "translation",
            "encoder-decoder translating into a mirrored toy language (reversal)",
            _with_and_without_boundary("reversal", run_translation),
            full={
                "length": 8,
                "train_cfg": TrainConfig(steps=FULL_STEPS),
                "curve_every": CURVE_EVERY,
            },
            quick={
                "length": 8,
                "train_cfg": TrainConfig(steps=40, warmup=10),
                "num_eval": 100,
                "curve_every": 20,
            },
        ),
        Experiment(
            "qa",
            "question answering by position ('token at k?') and by content ('after x?')",
            _qa_runs(),
            full={"train_cfg": TrainConfig(steps=FULL_STEPS), "curve_every": CURVE_EVERY},
            quick={
                "train_cfg": TrainConfig(steps=40, warmup=10),
                "num_eval_per_len": 20,
                "curve_every": 20,
            },
        ),
        Experiment(
            "generation",
            "character LM on Python stdlib source: train at 32, evaluate at 1x-8x",
            {"lm": run_generation},
            full={
                "train_len": 32,
                "train_cfg": TrainConfig(steps=FULL_STEPS, lr=3e-3, warmup=30),
                "curve_every": CURVE_EVERY,
                "sliding": True,
                "far_control": True,
            },
            quick={
                "train_len": 32,
                "train_cfg": TrainConfig(steps=60, lr=2e-3, warmup=10),
                "multiples": (1, 2, 4, 8),
                "eval_tokens": 4096,
                "curve_every": 30,
                "sliding": True,
                "far_control": True,
            },
        ),
        Experiment(
            "longcontext",
            "RoPE character LM trained at 32 with passkeys, run at 1x-16x: no change, zero-shot "
            "NTK / dynamic NTK / YaRN, and 200-step fine-tunes at 4x (plain, PI, YaRN)",
            _longcontext_runs(),
            full={
                "train_len": 32,
                "train_cfg": TrainConfig(steps=FULL_STEPS, lr=3e-3, warmup=30),
                "finetune_cfg": TrainConfig(steps=200, lr=1e-3, warmup=20),
                "passkey_rate": 0.5,
                "curve_every": CURVE_EVERY,
            },
            quick={
                "train_len": 32,
                "train_cfg": TrainConfig(steps=60, lr=2e-3, warmup=10),
                "finetune_cfg": TrainConfig(steps=20, lr=1e-3, warmup=5),
                "multiples": (1, 2, 4),
                "eval_tokens": 2048,
                "passkey_count": 20,
                "curve_every": 30,
            },
            schemes=("rope",),
        ),
        Experiment(
            "realmodel",
            "SmolLM2-135M past its trained context (from the GGUF metadata): no change, "
            "dynamic NTK and YaRN; perplexity on stdlib source and passkey recall",
            _realmodel_runs(),
            full={"multiples": (1, 2)},
            quick={"multiples": (1, 2), "context": 256},
            schemes=("rope",),
        ),
    ]
}


def _jsonable(value):
    if isinstance(value, TrainConfig):
        return value.to_dict()
    if isinstance(value, tuple):
        return list(value)
    return value


def summarize(results: list[dict]) -> dict:
    """Mean, sample standard deviation, min, max and a 95% interval over seeds, per
    task/scheme/metric.

    ``ci95`` is the percentile bootstrap interval of the mean over seeds
    (:func:`posemb.lab.stats.bootstrap_ci`; exact for up to 8 seeds). A metric that is
    ``None`` for any seed (a scheme that cannot run there) stays ``None``.
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["task"], r["scheme"]), []).append(r["metrics"])
    out: dict = {}
    for (task, scheme), ms in groups.items():
        entry = out.setdefault(task, {}).setdefault(scheme, {})
        for key in ms[0]:
            vals = [m[key] for m in ms]
            if any(v is None for v in vals):
                entry[key] = None
                continue
            entry[key] = {
                "mean": statistics.fmean(vals),
                "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                "min": min(vals),
                "max": max(vals),
                "n": len(vals),
                "ci95": list(stats.bootstrap_ci(vals)),
            }
    return out


def metric_values(record: dict, task: str, scheme: str, metric: str) -> list[float | None]:
    """The per-seed values of ``metric`` for ``task`` and ``scheme`` in ``record``, by seed."""
    rows = sorted(
        (r for r in record["results"] if r["task"] == task and r["scheme"] == scheme),
        key=lambda r: r["seed"],
    )
    if not rows:
        raise ValueError(
            f"no runs of task {task!r} with scheme {scheme!r} in this record "
            f"(tasks {record['tasks']}, schemes {record['schemes']})"
        )
    if metric not in rows[0]["metrics"]:
        raise ValueError(f"metric must be one of {sorted(rows[0]['metrics'])}, got {metric!r}")
    return [r["metrics"][metric] for r in rows]


def compare(record: dict, task: str, metric: str, a: str, b: str) -> dict:
    """Scheme ``a`` minus scheme ``b`` on ``metric``: difference of means and its 95% interval.

    Returns ``{"diff", "ci95", "sign"}`` where ``sign`` is ``+1`` when the whole interval is
    above zero, ``-1`` when below, ``0`` when it straddles zero (no claim either way). For
    perplexity lower is better, for accuracy higher: the caller reads the sign.
    """
    va, vb = metric_values(record, task, a, metric), metric_values(record, task, b, metric)
    if any(v is None for v in va + vb):
        raise ValueError(f"{metric!r} is undefined for {a!r} or {b!r} (a scheme that cannot run)")
    lo, hi = stats.difference_ci(va, vb)
    return {
        "diff": statistics.fmean(va) - statistics.fmean(vb),
        "ci95": [lo, hi],
        "sign": 1 if lo > 0 else -1 if hi < 0 else 0,
    }


def doubling_multiple(ppl_by_len: dict[int, float | None], train_len: int) -> float | None:
    """Smallest evaluated multiple of ``train_len`` where perplexity reaches twice its 1x value.

    Returns ``None`` when it never doubles within the evaluated lengths (or when the
    scheme stops before doubling: the caller says which).
    """
    base = ppl_by_len[train_len]
    for n in sorted(ppl_by_len):
        v = ppl_by_len[n]
        if v is not None and v >= 2 * base:
            return n / train_len
    return None


def run_experiment(
    name: str,
    *,
    quick: bool = False,
    device: str = "cpu",
    seeds: tuple[int, ...] | None = None,
    schemes: tuple[str, ...] | None = None,
    progress: bool = True,
    threads: int = 1,
) -> dict:
    """Run every (sub-task, scheme, seed) of experiment ``name``; return the JSON record.

    Runs on ``threads`` torch CPU threads with deterministic algorithms, then puts the
    caller's thread count and determinism flags back
    (:func:`posemb.lab.training.preserve_torch_state`).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {sorted(EXPERIMENTS)}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    exp = EXPERIMENTS[name]
    settings = exp.quick if quick else exp.full
    seeds = tuple(seeds) if seeds is not None else (exp.quick_seeds if quick else exp.seeds)
    schemes = tuple(schemes) if schemes is not None else exp.schemes
    for s in schemes:
        if s not in SCHEME_NAMES:
            raise ValueError(f"scheme must be one of {SCHEME_NAMES}, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    with preserve_torch_state(threads):
        return _run_experiment(name, exp, settings, quick, device, seeds, schemes, progress)


def _run_experiment(name, exp, settings, quick, device, seeds, schemes, progress) -> dict:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    results = []
    for task, run in exp.runs.items():
        for scheme in schemes:
            for seed in seeds:
                r = run(scheme, seed, device=device, progress=progress, **settings)
                r.update({"task": task, "scheme": scheme, "seed": seed})
                results.append(r)
                if progress:
                    shown = {
                        k: (None if v is None else round(v, 3)) for k, v in r["metrics"].items()
                    }
                    print(f"{name}/{task}/{scheme}/seed{seed}: {shown}", file=sys.stderr)
    from .. import __version__

    command = f"python -m posemb.lab.experiments {name}" + (" --quick" if quick else "")
    if device != "cpu":
        command += f" --device {device}"
    record = {
        "schema_version": SCHEMA_VERSION,
        "experiment": name,
        "description": exp.description,
        "command": command,
        "quick": quick,
        "config": {k: _jsonable(v) for k, v in settings.items()},
        "model": ModelConfig(vocab_size=0).to_dict() | {"vocab_size": "task-dependent"},
        "tasks": list(exp.runs),
        "schemes": list(schemes),
        "seeds": list(seeds),
        "eval_seed": EVAL_SEED,
        "posemb_version": __version__,
        "machine": machine_info() | {"device": device},
        "started": started,
        "wall_seconds": time.perf_counter() - t0,
        "results": results,
        "summary": summarize(results),
    }
    return record


def merge_records(records: list[dict]) -> dict:
    """Join records of one experiment run in parts (e.g. one process per seed) into one.

    Every (task, scheme, seed) run seeds itself, so a run split over processes gives the
    same numbers as one process. The parts must agree on everything but seeds and timings,
    and no seed may appear in two parts (a run counted twice would shrink the spread);
    ``wall_seconds`` becomes the longest part's, and ``parts`` keeps each part's seeds.
    """
    if not records:
        raise ValueError("merge_records needs at least one record")
    first = records[0]
    for r in records[1:]:
        for key in ("experiment", "quick", "config", "schemes", "posemb_version", "tasks"):
            if r[key] != first[key]:
                raise ValueError(f"records disagree on {key!r}: {first[key]!r} vs {r[key]!r}")
    seen: set[int] = set()
    for i, r in enumerate(records):
        twice = seen & set(r["seeds"])
        if twice:
            raise ValueError(f"part {i + 1} repeats seed(s) {sorted(twice)} of an earlier part")
        seen |= set(r["seeds"])
    merged = dict(first)
    merged["seeds"] = sorted({s for r in records for s in r["seeds"]})
    order = {
        (t, s): i
        for i, (t, s) in enumerate((t, s) for t in first["tasks"] for s in first["schemes"])
    }
    results = [x for r in records for x in r["results"]]
    merged["results"] = sorted(results, key=lambda x: (order[x["task"], x["scheme"]], x["seed"]))
    merged["wall_seconds"] = max(r["wall_seconds"] for r in records)
    merged["started"] = min(r["started"] for r in records)
    merged["summary"] = summarize(merged["results"])
    merged["parts"] = [{"seeds": r["seeds"], "wall_seconds": r["wall_seconds"]} for r in records]
    return merged


def schema_path() -> Path:
    """The JSON schema every record follows: ``posemb/lab/data/schema.json`` (package data)."""
    return DATA / "schema.json"


def validate(record: dict) -> None:
    """Validate a record against ``posemb/lab/data/schema.json`` (raises on failure)."""
    import jsonschema

    schema = json.loads(schema_path().read_text())
    jsonschema.validate(record, schema)


def load(name: str, quick: bool = False) -> dict:
    """Read a record ``posemb/lab/data/NAME.json`` (``.../quick/NAME.json`` with ``quick``).

    The full records are committed package data, so this works from an installed wheel;
    quick records exist only where ``--quick`` runs wrote them in a source checkout.
    """
    path = (DATA / "quick" / f"{name}.json") if quick else (DATA / f"{name}.json")
    return json.loads(path.read_text())


def _in_source_checkout() -> bool:
    """Whether posemb runs from the book's repository (its root holds ``_toc.yml``)."""
    return (Path(__file__).resolve().parent.parent.parent / "_toc.yml").is_file()


def default_out(name: str, quick: bool = False) -> Path:
    """Where the command line writes experiment ``name`` when ``--out`` is not given.

    In a source checkout, next to the committed runs: ``posemb/lab/data/NAME.json``
    (``posemb/lab/data/quick/NAME.json`` with ``quick``). From an installed package, never into
    site-packages but ``./posemb-results/NAME.json`` (``./posemb-results/quick/NAME.json``)
    under the current directory.
    """
    base = DATA if _in_source_checkout() else RESULTS
    return (base / "quick" / f"{name}.json") if quick else (base / f"{name}.json")


def _dir_writable(path: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def _check_out(parser: argparse.ArgumentParser, out: Path, explicit: bool) -> None:
    """Refuse an output path that could not be written, before any training starts.

    An explicit ``--out`` needs an existing, writable parent directory; a default path may
    have missing folders (they are created on writing), so its nearest existing ancestor
    must be a writable directory.
    """
    what = f"argument --out: {str(out)!r}" if explicit else f"default output {str(out)!r}"
    if out.is_dir():
        parser.error(f"{what} is a directory; give a file path")
    parent = out.parent
    if explicit and not parent.is_dir():
        parser.error(f"{what}: directory {str(parent)!r} does not exist")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        parser.error(f"{what}: {str(parent)!r} is not a directory")
    if not _dir_writable(parent):
        parser.error(f"{what}: directory {str(parent)!r} is not writable")
    if out.exists() and not os.access(out, os.W_OK):
        parser.error(f"{what}: the existing file is not writable")


def _write(out: Path, record: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")


def _positive_int(text: str) -> int:
    value = int(text)  # a ValueError becomes argparse's "invalid _positive_int value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seeds must be non-negative integers, got {value}")
    return value


_positive_int.__name__ = "int"  # argparse names the type in "invalid int value: 'x'"
_seed.__name__ = "int"


def _check_device(parser: argparse.ArgumentParser, spec: str) -> None:
    """Refuse a malformed device string, or a backend this machine does not have."""
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError):
        parser.error(
            f"argument --device: {spec!r} is not a torch device (e.g. cpu, cuda, cuda:1, mps)"
        )
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            parser.error(f"argument --device: {spec!r} is not available: torch sees no CUDA GPU")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            parser.error(
                f"argument --device: {spec!r} is not available: "
                f"torch sees {torch.cuda.device_count()} CUDA GPU(s)"
            )
        return
    if dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            parser.error(f"argument --device: {spec!r} is not available on this machine")
        return
    if dev.type == "meta":
        parser.error(f"argument --device: {spec!r} holds no data; cannot train on it")
    try:
        torch.empty(1, device=dev)
    except Exception:  # any backend failure means the same thing here
        parser.error(f"argument --device: {spec!r} is not available on this machine")


def _read_part(parser: argparse.ArgumentParser, path: Path) -> dict:
    import jsonschema

    try:
        record = json.loads(path.read_text())
    except OSError as err:
        parser.error(f"argument --merge: cannot read {str(path)!r}: {err.strerror or err}")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        parser.error(f"argument --merge: {str(path)!r} is not valid JSON ({_one_line(err)})")
    try:
        validate(record)
    except jsonschema.ValidationError as err:
        parser.error(
            f"argument --merge: {str(path)!r} is not an experiment record: {_one_line(err.message)}"
        )
    return record


def _one_line(message, limit: int = 200) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m posemb.lab.experiments",
        description="Train the book's small transformers and write results as JSON.",
    )
    parser.add_argument("name", nargs="?", help="experiment name (see --list)")
    parser.add_argument("--list", action="store_true", help="name the experiments and exit")
    parser.add_argument("--quick", action="store_true", help="a small version (< 2 min on CPU)")
    parser.add_argument(
        "--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 or mps (default cpu)"
    )
    parser.add_argument(
        "--seeds", type=_seed, nargs="+", metavar="SEED", help="override the seeds (distinct, >= 0)"
    )
    parser.add_argument(
        "--schemes",
        nargs="+",
        choices=SCHEME_NAMES,
        help="override the schemes (any name of posemb.SCHEME_NAMES; the book plots "
        + ", ".join(SCHEMES)
        + "; cope needs causal attention, so generation only)",
    )
    parser.add_argument(
        "--threads", type=_positive_int, default=1, help="torch CPU threads (default 1)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="output JSON path; its directory must exist. Default: in a source checkout "
        "posemb/lab/data/NAME.json (posemb/lab/data/quick/NAME.json with --quick), next to the "
        "committed runs; from an installed package ./posemb-results/NAME.json "
        "(./posemb-results/quick/NAME.json with --quick) in the current directory",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="PART",
        help="merge part records (e.g. one per seed, run in parallel) into --out "
        "(default: as for a run of that experiment)",
    )
    return parser


#: Options that only make sense for a training run (dest, flag), refused with --list/--merge.
_RUN_OPTIONS = (
    ("quick", "--quick"),
    ("seeds", "--seeds"),
    ("schemes", "--schemes"),
    ("out", "--out"),
    ("no_progress", "--no-progress"),
)


def main(argv: list[str] | None = None) -> int:
    """The command line; argument errors exit with status 2 before anything is trained."""
    parser = _parser()
    args = parser.parse_args(argv)
    defaults = {"device": "cpu", "threads": 1}
    given = [
        flag
        for dest, flag in (*_RUN_OPTIONS, ("device", "--device"), ("threads", "--threads"))
        if getattr(args, dest) not in (None, False, defaults.get(dest))
    ]
    if args.list:
        if args.merge:
            parser.error("argument --list: not allowed with argument --merge")
        if args.name:
            parser.error(f"argument --list: takes no experiment name, got {args.name!r}")
        if given:
            parser.error(f"argument --list: not allowed with {', '.join(given)}")
        for exp in EXPERIMENTS.values():
            print(f"{exp.name:16s}{exp.description}")
        return 0
    if args.merge:
        if args.name:
            parser.error(
                f"argument --merge: takes no experiment name (got {args.name!r}); "
                "it comes from the parts"
            )
        extra = [flag for flag in given if flag != "--out"]
        if extra:
            parser.error(f"argument --merge: not allowed with {', '.join(extra)}")
        if args.out is not None:
            _check_out(parser, args.out, explicit=True)
        parts = [_read_part(parser, p) for p in args.merge]
        try:
            record = merge_records(parts)
        except ValueError as err:
            parser.error(f"argument --merge: {_one_line(err)}")
        validate(record)
        out = args.out
        if out is None:
            out = default_out(record["experiment"], record["quick"])
            _check_out(parser, out, explicit=False)
        _write(out, record)
        print(f"wrote {out} from {len(args.merge)} parts")
        return 0
    if not args.name:
        parser.error("give an experiment name or --list")
    if args.name not in EXPERIMENTS:
        parser.error(f"unknown experiment {args.name!r}; choose from {sorted(EXPERIMENTS)}")
    out = args.out if args.out is not None else default_out(args.name, args.quick)
    _check_out(parser, out, explicit=args.out is not None)
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        dup = sorted({s for s in args.seeds if args.seeds.count(s) > 1})
        parser.error(f"argument --seeds: each seed once, got {dup[0]} more than once")
    _check_device(parser, args.device)
    record = run_experiment(
        args.name,
        quick=args.quick,
        device=args.device,
        seeds=args.seeds,
        schemes=args.schemes,
        progress=not args.no_progress,
        threads=args.threads,
    )
    validate(record)
    _write(out, record)
    print(f"wrote {out} ({record['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
