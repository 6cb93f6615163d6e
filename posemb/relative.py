"""Relative positions: a term that depends on ``j - i``, added to the attention logits.

Where position enters: (3) *biasing attention logits*. Explained in the book chapter
"Relative positions".

Notation: ``b`` batch, ``h`` heads, ``q``/``k`` query/key lengths, ``d`` head dim. Query
``i`` and key ``j`` are 0-based; the relative position of key ``j`` seen from query ``i`` is
``j - i`` (negative: the key is in the past).

* Shaw et al. (2018), "Self-Attention with Relative Position Representations": a learned
  vector ``a_{clip(j - i, -K, K)}`` per clipped distance; logit term ``q_i . a_{j-i} / sqrt(d)``.
* Raffel et al. (2020), T5: distances are sorted into ``num_buckets`` buckets (exact for
  short distances, logarithmic up to ``max_distance``), each bucket has a learned scalar per
  head.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import (
    as_positions,
    check_bool,
    check_int,
    check_positive_float,
    check_qk,
    check_seq_positions,
    offsets,
    pair_positions,
)
from .attention import PositionScheme

__all__ = [
    "relative_positions",
    "t5_bucket",
    "t5_bias",
    "T5RelativeBias",
    "shaw_bias",
    "ShawRelativeKeys",
]


def relative_positions(
    q_len: int, k_len: int, offset: int = 0, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """LongTensor ``[q, k]`` with entry ``[i, j] = j - (i + offset)``.

    ``offset`` is the position of the first query (queries at ``offset .. offset + q - 1``,
    keys at ``0 .. k - 1``). Book chapter: "Relative positions".

    Args:
        q_len: number of queries ``q``.
        k_len: number of keys ``k``.
        offset: position of the first query (an int, may be negative).
        device: where to build the result.
    """
    check_int("q_len", q_len)
    check_int("k_len", k_len)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, got {type(offset).__name__}")
    i = torch.arange(q_len, device=device)[:, None] + offset  # [q, 1]
    j = torch.arange(k_len, device=device)[None, :]  # [1, k]
    return j - i  # [q, k]


def t5_bucket(
    relative_position: torch.Tensor,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> torch.Tensor:
    """T5's bucket index for each relative position ``j - i`` (Raffel et al. 2020).

    Bidirectional: half the buckets for keys after the query (``j > i``), half for the rest.
    Causal: only ``j <= i`` is bucketed (future keys fall in bucket 0 with distance 0).
    Within a half of ``B`` buckets, distances below ``B/2`` get their own bucket; larger ones
    share logarithmically spaced buckets up to ``max_distance``, beyond which everything goes
    to the last bucket.

    The logarithm is taken in float32 on purpose: it reproduces bucket boundaries of the
    Hugging Face ``T5Attention._relative_position_bucket`` that trained checkpoints rely on,
    exactly (tested for every distance in [-1000, 1000]). Book chapter: "Relative positions".

    Args:
        relative_position: integer tensor of any shape holding ``j - i``.
        bidirectional: split the buckets between earlier and later keys (True, an encoder);
            False buckets only ``j <= i`` (a causal decoder).
        num_buckets: total number of buckets ``B`` (at least 4 when bidirectional, else 2).
        max_distance: distance from which every key shares the last bucket; must exceed
            the exact range, ``B/4`` when bidirectional and ``B/2`` otherwise.

    Returns:
        LongTensor of the same shape as ``relative_position``, values in ``[0, num_buckets)``.
    """
    rel = as_positions(relative_position, integer=True).long()
    check_bool("bidirectional", bidirectional)
    check_int("num_buckets", num_buckets, minimum=2 if not bidirectional else 4)
    check_int("max_distance", max_distance, minimum=1)
    offset = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        offset = (rel > 0).long() * num_buckets  # keys after the query use the upper half
        distance = rel.abs()
    else:
        distance = (-rel).clamp(min=0)  # how far back the key is; future keys -> 0
    exact = num_buckets // 2
    if max_distance <= exact:
        raise ValueError(
            f"max_distance must exceed the exact range num_buckets//(2 if bidirectional) // 2 "
            f"= {exact}, got max_distance={max_distance}"
        )
    # log-spaced bucket for distance >= exact: exact + (B - exact) * log(dist/exact)/log(max/exact)
    ratio = torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact)
    far = exact + (ratio * (num_buckets - exact)).long()
    far = far.clamp(max=num_buckets - 1)
    return offset + torch.where(distance < exact, distance, far)


def t5_bias(
    table: torch.Tensor,
    q_positions: torch.Tensor,
    k_positions: torch.Tensor,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> torch.Tensor:
    """T5's relative bias: ``table[bucket(j - i)]`` for every query ``i`` and key ``j``.

    Args:
        table: ``[num_buckets, h]`` one learned scalar per bucket and head.
        q_positions: integer ``[q]`` or ``[b, q]``.
        k_positions: integer ``[k]`` or ``[b, k]``.
        bidirectional: bucket later keys separately, as in :func:`t5_bucket`.
        num_buckets: number of buckets, ``table``'s first dim (see :func:`t5_bucket`).
        max_distance: distance from which keys share the last bucket (see :func:`t5_bucket`).

    Returns:
        ``[h, q, k]`` (``[b, h, q, k]`` for per-sequence positions). Book chapter:
        "Relative positions".
    """
    if not isinstance(table, torch.Tensor) or table.dim() != 2 or table.shape[0] != num_buckets:
        raise ValueError(
            f"table must have shape [num_buckets={num_buckets}, h], "
            f"got {getattr(table, 'shape', type(table).__name__)}"
        )
    qp, kp = pair_positions(q_positions, k_positions, integer=True, device=table.device)
    buckets = t5_bucket(offsets(qp, kp), bidirectional, num_buckets, max_distance)
    return table[buckets].movedim(-1, -3)  # [(b,) h, q, k]


class T5RelativeBias(PositionScheme):
    """T5's learned bucketed relative bias (Raffel et al. 2020), kind ``"bias"``.

    One scalar per (bucket, head); the bias ``[h, q, k]`` has no batch dim. T5 does not scale
    logits by ``1/sqrt(d)`` (the scale is folded into its initialisation); here the bias is
    added to the scaled logits of :func:`posemb.attention`. Book chapter: "Relative positions".

    Args:
        num_heads: number of heads ``h`` (one learned scalar per bucket and head).
        bidirectional: True for attention without a causal mask (later keys get buckets of
            their own); False for causal attention (see :func:`t5_bucket`).
        num_buckets: number of buckets.
        max_distance: distance from which keys share the last bucket.
    """

    kind = "bias"

    def __init__(
        self,
        num_heads: int,
        bidirectional: bool = True,
        num_buckets: int = 32,
        max_distance: int = 128,
    ) -> None:
        super().__init__()
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.num_buckets = check_int("num_buckets", num_buckets, minimum=2)
        self.max_distance = check_int("max_distance", max_distance, minimum=1)
        t5_bucket(torch.zeros(1, dtype=torch.long), bidirectional, num_buckets, max_distance)
        self.table = nn.Embedding(num_buckets, num_heads)  # [buckets, h]

    def position_bias(self, q_positions: torch.Tensor, k_positions: torch.Tensor):
        """``[h, q, k]`` (``[b, h, q, k]`` for positions ``[b, n]``): :func:`t5_bias`.

        Args:
            q_positions: integer ``[q]`` or ``[b, q]``.
            k_positions: integer ``[k]`` or ``[b, k]``.
        """
        return t5_bias(
            self.table.weight,
            q_positions,
            k_positions,
            self.bidirectional,
            self.num_buckets,
            self.max_distance,
        )

    def extra_repr(self) -> str:
        return (
            f"num_heads={self.num_heads}, bidirectional={self.bidirectional}, "
            f"num_buckets={self.num_buckets}, max_distance={self.max_distance}"
        )


def shaw_bias(
    q: torch.Tensor,
    table: torch.Tensor,
    q_positions: torch.Tensor,
    k_positions: torch.Tensor,
) -> torch.Tensor:
    """Shaw et al. (2018)'s key term ``q_i . a_{clip(j - i, -K, K)} / sqrt(d)``.

    Args:
        q: ``[b, h, q, d]`` queries.
        table: ``[2K + 1, d]`` one learned vector per clipped relative position, row
            ``r + K`` for ``r = clip(j - i)``.
        q_positions: integer ``[q]`` or ``[b, q]``.
        k_positions: integer ``[k]`` or ``[b, k]``.

    Returns:
        ``[b, h, q, k]``, computed as ``q @ table^T`` (``2K + 1`` columns) and a gather,
        never a ``[q, k, d]`` tensor. Book chapter: "Relative positions".
    """
    if not isinstance(q, torch.Tensor) or q.dim() != 4 or not q.is_floating_point():
        raise ValueError(
            f"q must be a floating tensor [b, h, q, d], got {getattr(q, 'shape', type(q))}"
        )
    if table.dim() != 2 or table.shape[0] % 2 == 0 or table.shape[1] != q.shape[-1]:
        raise ValueError(
            f"table must have shape [2K + 1, d={q.shape[-1]}], got {tuple(table.shape)}"
        )
    qp, kp = pair_positions(q_positions, k_positions, integer=True, device=q.device)
    check_seq_positions("q_positions", qp, q.shape[-2], batch=q.shape[0])
    max_distance = table.shape[0] // 2
    idx = offsets(qp, kp).clamp(-max_distance, max_distance) + max_distance  # [(b,) q, k]
    if idx.dim() == 3:
        idx = idx[:, None]  # [b, 1, q, k]
    per_distance = q @ table.to(q.dtype).T  # [b, h, q, 2K+1]
    idx = idx.expand(*q.shape[:2], -1, -1)  # [b, h, q, k] (a view)
    return per_distance.gather(-1, idx) / math.sqrt(q.shape[-1])  # [b, h, q, k]


class ShawRelativeKeys(PositionScheme):
    """Shaw et al. (2018) relative position representations for keys, kind ``"content_bias"``.

    A learned vector ``a_r`` (``head_dim`` wide, shared by all heads as in the paper) for
    each clipped distance ``r = clip(j - i, -max_distance, max_distance)``. The logit of
    query ``i`` and key ``j`` becomes ``q_i . (k_j + a_r) / sqrt(d)``; this hook returns the
    extra term ``q_i . a_r / sqrt(d)``, shaped ``[b, h, q, k]`` because it depends on ``q``.
    Computed as ``q @ A^T`` (``2K + 1`` columns) and a gather, never a ``[q, k, d]`` tensor.
    Book chapter: "Relative positions".

    Args:
        head_dim: ``d``, the width of each head and of each vector ``a_r``.
        max_distance: ``K``, the distance beyond which distances are clipped (0 or more).
        init_std: standard deviation of the normal initialisation of the vectors.
    """

    kind = "content_bias"

    def __init__(self, head_dim: int, max_distance: int = 16, init_std: float = 0.02) -> None:
        super().__init__()
        self.head_dim = check_int("head_dim", head_dim, minimum=1)
        self.max_distance = check_int("max_distance", max_distance, minimum=0)
        init_std = check_positive_float("init_std", init_std)
        self.table = nn.Parameter(torch.randn(2 * max_distance + 1, head_dim) * init_std)

    def index(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        """Row of ``table`` for each (query, key): ``clip(j - i) + K``, LongTensor ``[q, k]``
        (``[b, q, k]`` for per-sequence positions).

        Args:
            q_positions: integer ``[q]`` or ``[b, q]``.
            k_positions: integer ``[k]`` or ``[b, k]``.
        """
        qp, kp = pair_positions(q_positions, k_positions, integer=True)
        rel = offsets(qp, kp)  # [(b,) q, k]
        return rel.clamp(-self.max_distance, self.max_distance) + self.max_distance

    def content_bias(self, q, k, q_positions, k_positions):
        """``[b, h, q, k]`` term ``q_i . a_{clip(j-i)} / sqrt(d)``: :func:`shaw_bias`.

        Args:
            q: ``[b, h, q, d]`` queries.
            k: ``[b, h, k, d]`` keys; only their shape is read (the term does not use them).
            q_positions: integer ``[q]`` or ``[b, q]``.
            k_positions: integer ``[k]`` or ``[b, k]``.
        """
        check_qk(q, k)
        if q.shape[-1] != self.head_dim:
            raise ValueError(f"q last dim must be head_dim={self.head_dim}, got {q.shape[-1]}")
        kp = as_positions(k_positions)
        check_seq_positions("k_positions", kp, k.shape[-2], batch=k.shape[0])
        return shaw_bias(q, self.table, q_positions, kp)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, max_distance={self.max_distance}"
