"""Task generators for the book part "Applications": everything is generated, nothing downloaded.

Each toy generator takes a batch size and a :class:`torch.Generator` and returns integer
tensors, so a seed fixes every example. The four applications:

* :func:`order_classification`: the label is whether marker ``A`` comes before marker
  ``B``; the bag of tokens is the same for both labels, so a model without positions
  (NoPE with a bidirectional encoder and mean pooling) sits exactly at chance;
* :func:`reversal`: a "translation" between two toy languages whose word order is mirrored;
* :func:`qa_position` ("which token is at position k?") and :func:`qa_content` ("what
  follows token x?");
* :func:`char_corpus`: a character-level corpus made from the Python standard library's
  own source, present on every machine that runs Python.

Notation: ``b`` batch, ``n`` length, ``V`` vocabulary size.
"""

from __future__ import annotations

import hashlib
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "ClassificationVocab",
    "order_classification",
    "ReversalVocab",
    "reversal",
    "QAVocab",
    "qa_position",
    "qa_content",
    "CORPUS_MODULES",
    "VOCAB_SIZE",
    "char_corpus",
    "encode_text",
    "lm_windows",
    "sliding_windows",
    "last_context_windows",
    "PASSKEY_MARK",
    "PASSKEY_DIGITS",
    "passkey_windows",
]


def _check_positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


# --------------------------------------------------------------------------- classification


@dataclass(frozen=True)
class ClassificationVocab:
    """Token ids: ``A = 0``, ``B = 1``, fillers ``2 .. size - 1``."""

    size: int = 16
    A: int = 0
    B: int = 1


def order_classification(
    batch: int, length: int, generator: torch.Generator, vocab: ClassificationVocab | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences with one ``A`` and one ``B`` among fillers; label 1 iff ``A`` precedes ``B``.

    Returns ``tokens`` ``[b, n]`` and ``labels`` ``[b]``. Labels are balanced in
    expectation, and swapping the two markers flips the label without changing the
    multiset of tokens: order alone decides.
    """
    vocab = vocab or ClassificationVocab()
    _check_positive("batch", batch)
    if not isinstance(length, int) or length < 2:
        raise ValueError(f"length must be an int >= 2 (room for A and B), got {length!r}")
    if vocab.size < 3:
        raise ValueError(f"vocab.size must be >= 3 (A, B and a filler), got {vocab.size}")
    tokens = torch.randint(2, vocab.size, (batch, length), generator=generator)  # [b, n]
    # Two distinct slots per row: the first two entries of a random permutation.
    slots = torch.rand(batch, length, generator=generator).argsort(dim=1)[:, :2]  # [b, 2]
    rows = torch.arange(batch)
    tokens[rows, slots[:, 0]] = vocab.A
    tokens[rows, slots[:, 1]] = vocab.B
    labels = (slots[:, 0] < slots[:, 1]).long()  # [b]
    return tokens, labels


# --------------------------------------------------------------------------- translation


@dataclass(frozen=True)
class ReversalVocab:
    """``BOS = 0``; words ``1 .. size - 1`` (the same words in both toy languages)."""

    size: int = 16
    BOS: int = 0


def reversal(
    batch: int, length: int, generator: torch.Generator, vocab: ReversalVocab | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source sentences and their "translations" into the mirrored language.

    The target language writes every sentence backwards (an SVO language turned into OVS
    and so on, pushed to its extreme). Returns ``src`` ``[b, n]``, the decoder input
    ``tgt_in = [BOS, y_0 .. y_{n-2}]`` ``[b, n]`` and ``tgt_out = y`` ``[b, n]``.
    """
    vocab = vocab or ReversalVocab()
    _check_positive("batch", batch)
    _check_positive("length", length)
    src = torch.randint(1, vocab.size, (batch, length), generator=generator)  # [b, n]
    tgt = src.flip(1)  # [b, n]
    bos = torch.full((batch, 1), vocab.BOS, dtype=torch.long)
    tgt_in = torch.cat([bos, tgt[:, :-1]], dim=1)  # [b, n]
    return src, tgt_in, tgt


# --------------------------------------------------------------------------- question answering


@dataclass(frozen=True)
class QAVocab:
    """Content tokens ``0 .. num_content - 1``, then ``SEP``, then one query token per position.

    A question "which token is at position k?" is the token ``POS0 + k``.
    """

    num_content: int = 32
    max_len: int = 16

    @property
    def SEP(self) -> int:
        return self.num_content

    @property
    def POS0(self) -> int:
        return self.num_content + 1

    @property
    def size(self) -> int:
        return self.num_content + 1 + self.max_len


def _qa_context(
    batch: int, length: int, generator: torch.Generator, vocab: QAVocab
) -> torch.Tensor:
    _check_positive("batch", batch)
    if not isinstance(length, int) or not 2 <= length <= vocab.max_len:
        raise ValueError(f"length must be an int in [2, {vocab.max_len}], got {length!r}")
    if length > vocab.num_content:
        raise ValueError(
            f"length={length} needs at least as many content tokens, got {vocab.num_content}"
        )
    # Distinct tokens per row, so that "what follows x" has one answer.
    keys = torch.rand(batch, vocab.num_content, generator=generator)
    return keys.argsort(dim=1)[:, :length]  # [b, n]


def qa_position(
    batch: int, length: int, generator: torch.Generator, vocab: QAVocab | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[context (n tokens), SEP, POS_k]`` -> ``context[k]``; returns ``[b, n + 2]``, ``[b]``."""
    vocab = vocab or QAVocab()
    ctx = _qa_context(batch, length, generator, vocab)  # [b, n]
    k = torch.randint(0, length, (batch,), generator=generator)  # [b]
    answer = ctx[torch.arange(batch), k]  # [b]
    sep = torch.full((batch, 1), vocab.SEP, dtype=torch.long)
    tokens = torch.cat([ctx, sep, (vocab.POS0 + k)[:, None]], dim=1)  # [b, n + 2]
    return tokens, answer


def qa_content(
    batch: int, length: int, generator: torch.Generator, vocab: QAVocab | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[context, SEP, x]`` -> the token after ``x`` in the context; ``[b, n + 2]``, ``[b]``."""
    vocab = vocab or QAVocab()
    ctx = _qa_context(batch, length, generator, vocab)  # [b, n]
    k = torch.randint(0, length - 1, (batch,), generator=generator)  # [b], x is never last
    rows = torch.arange(batch)
    x, answer = ctx[rows, k], ctx[rows, k + 1]  # [b], [b]
    sep = torch.full((batch, 1), vocab.SEP, dtype=torch.long)
    tokens = torch.cat([ctx, sep, x[:, None]], dim=1)  # [b, n + 2]
    return tokens, answer


# --------------------------------------------------------------------------- generation

#: Standard-library modules whose source makes the character corpus, in this order.
CORPUS_MODULES = (
    "argparse.py",
    "difflib.py",
    "textwrap.py",
    "inspect.py",
    "dataclasses.py",
    "functools.py",
    "fractions.py",
    "statistics.py",
    "heapq.py",
    "bisect.py",
)

#: Characters kept as themselves: tab, newline and printable ASCII; anything else is ``?``.
VOCAB_SIZE = 128


def char_corpus(max_chars: int = 400_000) -> tuple[str, dict]:
    """Concatenate :data:`CORPUS_MODULES` from this Python's standard library.

    Returns the text (at most ``max_chars`` characters) and a description with the Python
    version, the files used and the SHA-256 of the text, so that a result can say exactly
    what it was trained on (the source differs slightly between Python versions).
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts, used = [], []
    for name in CORPUS_MODULES:
        path = stdlib / name
        if path.exists():
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
            used.append(name)
    if not parts:
        raise FileNotFoundError(f"none of {CORPUS_MODULES} found under {stdlib}")
    text = "\n".join(parts)[:max_chars]
    info = {
        "source": "Python standard library source",
        "python": platform.python_version(),
        "files": used,
        "chars": len(text),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }
    return text, info


def encode_text(text: str) -> torch.Tensor:
    """Characters to ids ``[n]`` in ``0 .. 127`` (non-ASCII becomes ``?``)."""
    data = text.encode("ascii", errors="replace")  # '?' for anything non-ASCII
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).long()  # [n]


def lm_windows(ids: torch.Tensor, length: int, num_tokens: int | None = None) -> torch.Tensor:
    """Non-overlapping windows ``[w, length + 1]``: ``length`` inputs and their next tokens.

    Window ``i`` covers ids ``i * length .. (i + 1) * length``; the last id of a window is
    the first of the next, so every id after the first is predicted exactly once, from at
    most ``length`` characters of context (the ALiBi paper's non-overlapping evaluation).
    ``num_tokens`` caps the number of predicted ids, so lengths can share one budget.
    """
    _check_positive("length", length)
    usable = ids.numel() - 1
    if num_tokens is not None:
        usable = min(usable, num_tokens)
    w = usable // length
    if w < 1:
        raise ValueError(f"need more than {length} ids for one window, got {ids.numel()}")
    starts = torch.arange(w) * length  # [w]
    return ids[starts[:, None] + torch.arange(length + 1)[None, :]]  # [w, length + 1]


def sliding_windows(
    ids: torch.Tensor, length: int, stride: int, first_target: int, num_tokens: int
) -> torch.Tensor:
    """Overlapping windows ``[w, length + 1]`` whose last ``stride`` predictions are scored.

    The scored targets are ids ``first_target .. first_target + w * stride - 1`` with
    ``w = num_tokens // stride``, the same ids for every ``length``; window ``c`` ends at
    target ``first_target + (c + 1) * stride - 1``, so each scored prediction sees between
    ``length - stride + 1`` and ``length`` ids of context (strided evaluation). Score them
    with :func:`posemb.lab.training.scored_nll` and ``score_from=length - stride``.
    """
    _check_positive("length", length)
    _check_positive("stride", stride)
    _check_positive("num_tokens", num_tokens)
    if stride > length:
        raise ValueError(f"stride must be at most length ({length}), got {stride}")
    if first_target < length - stride + 1:
        raise ValueError(
            f"first_target must be at least length - stride + 1 = {length - stride + 1} "
            f"(room for the first window), got {first_target}"
        )
    w = num_tokens // stride
    if w < 1:
        raise ValueError(f"num_tokens must be at least stride ({stride}), got {num_tokens}")
    last = first_target + w * stride - 1
    if last >= ids.numel():
        raise ValueError(f"need {last + 1} ids for these windows, got {ids.numel()}")
    ends = first_target + (torch.arange(w) + 1) * stride - 1  # [w] last target of each window
    return ids[ends[:, None] - length + torch.arange(length + 1)[None, :]]  # [w, length + 1]


def last_context_windows(
    ids: torch.Tensor, length: int, context: int, num_tokens: int | None = None
) -> torch.Tensor:
    """For the predictions at positions ``>= context`` of :func:`lm_windows` ``(ids, length)``,
    the same targets with only their last ``context`` ids as context: ``[m, context + 1]``.

    Row ``r`` ends with the ``r``-th such target (in :func:`lm_windows` order: window by
    window, position by position); score its last prediction only
    (``scored_nll(..., score_from=context - 1)``). Comparing it with the full windows'
    predictions at positions ``>= context`` tells whether a model uses context beyond
    ``context`` ids (full lower), merely survives it (equal) or is hurt by it (full higher).
    """
    _check_positive("context", context)
    if context >= length:
        raise ValueError(f"context must be shorter than length ({length}), got {context}")
    windows = lm_windows(ids, length, num_tokens)  # [w, length + 1]
    w = windows.shape[0]
    starts = torch.arange(w) * length  # [w] stream index of each window's first id
    last_inputs = starts[:, None] + torch.arange(context, length)[None, :]  # [w, length - context]
    return ids[last_inputs.reshape(-1, 1) - context + 1 + torch.arange(context + 1)[None, :]]


# --------------------------------------------------------------------------- passkey retrieval

#: The character that opens a passkey and asks for it again (rare in the corpus: Python
#: source uses ``$`` only in a few strings).
PASSKEY_MARK = "$"
#: Digits per passkey: one chance in 10**4 of guessing a whole key.
PASSKEY_DIGITS = 4


def passkey_windows(
    ids: torch.Tensor,
    length: int,
    count: int,
    generator: torch.Generator,
    *,
    depth: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Filler text with a passkey that must be recalled at the end: ``[count, length + 1]``.

    Each row is ``length + 1`` consecutive ids of ``ids`` (the filler) with ``$DDDD$``
    written at position ``depth`` (``None``: a random position per row, anywhere that leaves
    room for the question) and ``$DDDD`` as the row's last five ids: after the final
    ``$`` a model that retrieves the key predicts its digits. ``DDDD`` are random digits.
    Rows are inputs and next tokens as in :func:`lm_windows` (train on them with the usual
    loss; score the last :data:`PASSKEY_DIGITS` predictions).

    Returns the rows and the keys ``[count, PASSKEY_DIGITS]`` (the ids of the digits).
    The distance from the key to the question is ``length - PASSKEY_DIGITS - depth``.
    """
    _check_positive("length", length)
    _check_positive("count", count)
    d = PASSKEY_DIGITS
    key_len = d + 2  # $DDDD$
    question = d + 1  # $DDDD at the end
    room = length + 1 - key_len - question  # filler positions the key may start at: 0 .. room
    if room < 0:
        raise ValueError(
            f"length must be at least {key_len + question - 1} for a passkey, got {length}"
        )
    bad_depth = isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= room
    if depth is not None and bad_depth:
        raise ValueError(
            f"depth must be an int in [0, {room}] for length {length}, got {depth!r}"
        )
    if ids.numel() < length + 2:
        raise ValueError(f"need more than {length + 1} ids of filler, got {ids.numel()}")
    starts = torch.randint(0, ids.numel() - length - 1, (count,), generator=generator)
    rows = ids[starts[:, None] + torch.arange(length + 1)[None, :]].clone()  # [count, length + 1]
    mark, zero = ord(PASSKEY_MARK), ord("0")
    keys = zero + torch.randint(0, 10, (count, d), generator=generator)  # [count, d]
    if depth is None:
        at = torch.randint(0, room + 1, (count,), generator=generator)  # [count]
    else:
        at = torch.full((count,), depth)
    for r in range(count):
        a = int(at[r])
        rows[r, a] = mark
        rows[r, a + 1 : a + 1 + d] = keys[r]
        rows[r, a + 1 + d] = mark
        rows[r, -question] = mark
        rows[r, -d:] = keys[r]
    return rows, keys
