"""The book's application experiments, runnable from the command line.

``python -m posemb.experiments --list`` names them; ``python -m posemb.experiments NAME
[--quick] [--device cuda] [--seeds 0 1 2] [--schemes rope alibi] [--out PATH]`` trains
one small model per (scheme, seed), evaluates it, and writes a JSON record (configuration,
seeds, library version, machine, timings, per-run metrics and a mean/spread summary per
scheme) to ``book/data/NAME.json`` (``book/data/quick/NAME.json`` with ``--quick``). Every
record validates against ``book/data/schema.json``. Book part: "Applications".

Each ``run_*`` function trains and evaluates one model and is what the notebooks call for
their live, small versions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F

from . import tasks
from .model import SCHEMES, DecoderLM, Encoder, EncoderDecoder, ModelConfig, count_parameters
from .training import (
    TrainConfig,
    accuracy,
    machine_info,
    make_generator,
    perplexity,
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
    "run_experiment",
    "summarize",
    "doubling_multiple",
    "validate",
    "merge_records",
    "main",
]

SCHEMA_VERSION = 1
#: Seed of every evaluation set: all schemes and seeds are scored on the same examples.
EVAL_SEED = 12345
REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "book" / "data"


def _cfg(vocab_size: int, scheme: str, max_len: int, **kw) -> ModelConfig:
    return ModelConfig(vocab_size=vocab_size, scheme=scheme, max_len=max_len, **kw)


# --------------------------------------------------------------------------- runs


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
) -> dict:
    """Encoder + mean pooling on :func:`posemb.tasks.order_classification`.

    ``model_kw`` overrides :class:`posemb.model.ModelConfig` fields (every ``run_*`` takes
    it). Returns ``{"metrics": {"accuracy"}, "final_loss", "seconds", "parameters",
    "history"}``.
    """
    train_cfg = train_cfg or TrainConfig(steps=300)
    vocab = tasks.ClassificationVocab()
    seed_everything(seed)
    model = Encoder(
        _cfg(vocab.size, scheme, length, num_classes=2, **(model_kw or {})), pool="mean"
    )
    g = make_generator(1000 + seed)

    def batch_fn(step):
        return tasks.order_classification(train_cfg.batch_size, length, g, vocab)

    def loss_fn(m, batch):
        x, y = batch
        return F.cross_entropy(m(x), y)

    hist = train(
        model,
        batch_fn,
        loss_fn,
        train_cfg,
        device=device,
        progress=progress,
        desc=f"classification/{scheme}/{seed}",
    )
    x, y = tasks.order_classification(num_eval, length, make_generator(EVAL_SEED), vocab)
    with torch.no_grad():
        acc = accuracy(model(x.to(device)).cpu(), y)
    return _record({"accuracy": acc}, hist, model)


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
) -> dict:
    """Encoder-decoder on :func:`posemb.tasks.reversal`, scored by greedy decoding.

    Metrics: ``token_accuracy`` (fraction of target words right) and ``exact_match``
    (fraction of sentences entirely right).
    """
    train_cfg = train_cfg or TrainConfig(steps=400)
    vocab = tasks.ReversalVocab()
    seed_everything(seed)
    model = EncoderDecoder(_cfg(vocab.size, scheme, length, **(model_kw or {})))
    g = make_generator(2000 + seed)

    def batch_fn(step):
        return tasks.reversal(train_cfg.batch_size, length, g, vocab)

    def loss_fn(m, batch):
        src, tgt_in, tgt = batch
        logits = m(src, tgt_in)  # [b, n, V]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))

    hist = train(
        model,
        batch_fn,
        loss_fn,
        train_cfg,
        device=device,
        progress=progress,
        desc=f"translation/{scheme}/{seed}",
    )
    src, _, tgt = tasks.reversal(num_eval, length, make_generator(EVAL_SEED), vocab)
    pred = model.generate(src.to(device), vocab.BOS, length).cpu()  # [b, n]
    metrics = {
        "token_accuracy": (pred == tgt).float().mean().item(),
        "exact_match": sequence_accuracy(pred, tgt),
    }
    return _record(metrics, hist, model)


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

    hist = train(
        model,
        batch_fn,
        loss_fn,
        train_cfg,
        device=device,
        progress=progress,
        desc=f"qa-{task}/{scheme}/{seed}",
    )
    ge = make_generator(EVAL_SEED)
    correct = total = 0
    with torch.no_grad():
        for n in range(min_len, max_len + 1):
            x, y = gen(num_eval_per_len, n, ge, vocab)
            correct += (model(x.to(device)).argmax(-1).cpu() == y).sum().item()
            total += y.numel()
    return _record({"accuracy": correct / total}, hist, model)


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
) -> dict:
    """Character-level causal LM trained at ``train_len``, evaluated at multiples of it.

    ``scheme`` is a name from :data:`posemb.model.SCHEMES` or a scheme object (your own);
    ``keep_model`` adds the trained model under ``"model"`` (not JSON: for notebooks).

    The corpus (:func:`posemb.tasks.char_corpus`) is split 90/10; evaluation reads the
    same first ``eval_tokens`` validation characters at every length, in non-overlapping
    windows. Metrics ``ppl@L`` for each evaluation length ``L``; ``None`` where the scheme
    cannot run (a learned table with fewer than ``L`` rows).
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

    hist = train(
        model,
        batch_fn,
        loss_fn,
        train_cfg,
        device=device,
        progress=progress,
        desc=f"generation/{scheme}/{seed}",
    )
    metrics: dict[str, float | None] = {}
    for mult in multiples:
        n = int(round(mult * train_len))
        if scheme == "learned" and n > train_len:
            metrics[f"ppl@{n}"] = None  # the table has train_len rows: no position n-1
            continue
        windows = tasks.lm_windows(val_ids, n, eval_tokens)
        metrics[f"ppl@{n}"] = perplexity(model, windows, device=device)
    out = _record(metrics, hist, model)
    out["corpus"] = corpus
    if keep_model:
        out["model"] = model
    return out


def _record(metrics: dict, hist: dict, model) -> dict:
    return {
        "metrics": metrics,
        "final_loss": hist["final_loss"],
        "seconds": hist["seconds"],
        "parameters": count_parameters(model),
        "history": {"steps": hist["steps"], "loss": hist["loss"]},
    }


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
    seeds: tuple[int, ...] = (0, 1, 2)
    quick_seeds: tuple[int, ...] = (0,)


def _qa_runs() -> dict[str, Callable[..., dict]]:
    return {
        "position": lambda s, seed, **kw: run_qa(s, seed, task="position", **kw),
        "content": lambda s, seed, **kw: run_qa(s, seed, task="content", **kw),
    }


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "classification",
            "order decides the label (is A before B?); encoder with mean pooling",
            {"order": run_classification},
            full={"length": 16, "train_cfg": TrainConfig(steps=300)},
            quick={"length": 16, "train_cfg": TrainConfig(steps=60, warmup=10)},
        ),
        Experiment(
            "translation",
            "encoder-decoder translating into a mirrored toy language (reversal)",
            {"reversal": run_translation},
            full={"length": 8, "train_cfg": TrainConfig(steps=400)},
            quick={"length": 8, "train_cfg": TrainConfig(steps=40, warmup=10), "num_eval": 100},
        ),
        Experiment(
            "qa",
            "question answering by position ('token at k?') and by content ('after x?')",
            _qa_runs(),
            full={"train_cfg": TrainConfig(steps=400)},
            quick={"train_cfg": TrainConfig(steps=40, warmup=10), "num_eval_per_len": 20},
        ),
        Experiment(
            "generation",
            "character LM on Python stdlib source: train at 32, evaluate at 1x-8x",
            {"lm": run_generation},
            full={"train_len": 32, "train_cfg": TrainConfig(steps=300, lr=3e-3, warmup=30)},
            quick={
                "train_len": 32,
                "train_cfg": TrainConfig(steps=60, lr=2e-3, warmup=10),
                "multiples": (1, 2, 4, 8),
                "eval_tokens": 4096,
            },
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
    """Mean, sample standard deviation, min and max over seeds, per task/scheme/metric.

    A metric that is ``None`` for any seed (a scheme that cannot run there) stays ``None``.
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
            }
    return out


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
    """Run every (sub-task, scheme, seed) of experiment ``name``; return the JSON record."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {sorted(EXPERIMENTS)}")
    exp = EXPERIMENTS[name]
    torch.set_num_threads(threads)
    settings = exp.quick if quick else exp.full
    seeds = tuple(seeds) if seeds is not None else (exp.quick_seeds if quick else exp.seeds)
    schemes = tuple(schemes) if schemes is not None else exp.schemes
    for s in schemes:
        if s not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {s!r}")
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
    from . import __version__

    command = f"python -m posemb.experiments {name}" + (" --quick" if quick else "")
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
    same numbers as one process. The parts must agree on everything but seeds and timings;
    ``wall_seconds`` becomes the longest part's, and ``parts`` keeps each part's seeds.
    """
    if not records:
        raise ValueError("merge_records needs at least one record")
    first = records[0]
    for r in records[1:]:
        for key in ("experiment", "quick", "config", "schemes", "posemb_version", "tasks"):
            if r[key] != first[key]:
                raise ValueError(f"records disagree on {key!r}: {first[key]!r} vs {r[key]!r}")
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
    return DATA / "schema.json"


def validate(record: dict) -> None:
    """Validate a record against ``book/data/schema.json`` (raises on failure)."""
    import jsonschema

    schema = json.loads(schema_path().read_text())
    jsonschema.validate(record, schema)


def load(name: str, quick: bool = False) -> dict:
    """Read a committed record ``book/data/NAME.json`` (``quick/NAME.json`` with ``quick``)."""
    path = (DATA / "quick" / f"{name}.json") if quick else (DATA / f"{name}.json")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m posemb.experiments",
        description="Train the book's small transformers and write results as JSON.",
    )
    parser.add_argument("name", nargs="?", help="experiment name (see --list)")
    parser.add_argument("--list", action="store_true", help="name the experiments and exit")
    parser.add_argument("--quick", action="store_true", help="a small version (< 2 min on CPU)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--schemes", nargs="+", choices=SCHEMES, help="override the schemes")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, help="output JSON path")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="PART",
        help="merge part records (e.g. one per seed, run in parallel) into --out",
    )
    args = parser.parse_args(argv)
    if args.merge:
        record = merge_records([json.loads(p.read_text()) for p in args.merge])
        validate(record)
        out = args.out or DATA / f"{record['experiment']}.json"
        out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {out} from {len(args.merge)} parts")
        return 0
    if args.list:
        for exp in EXPERIMENTS.values():
            print(f"{exp.name:16s}{exp.description}")
        return 0
    if not args.name:
        parser.error("give an experiment name or --list")
    if args.name not in EXPERIMENTS:
        parser.error(f"unknown experiment {args.name!r}; choose from {sorted(EXPERIMENTS)}")
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
    out = args.out or (
        DATA / "quick" / f"{args.name}.json" if args.quick else DATA / f"{args.name}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out} ({record['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
