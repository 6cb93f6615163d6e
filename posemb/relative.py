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

from ._checks import as_positions, check_int, check_qk, check_seq_positions

__all__ = [
    "relative_positions",
    "t5_bucket",
    "T5RelativeBias",
    "ShawRelativeKeys",
]


def relative_positions(
    q_len: int, k_len: int, offset: int = 0, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """LongTensor ``[q, k]`` with entry ``[i, j] = j - (i + offset)``.

    ``offset`` is the position of the first query (queries at ``offset .. offset + q - 1``,
    keys at ``0 .. k - 1``). Book chapter: "Relative positions".
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

    Returns:
        LongTensor of the same shape as ``relative_position``, values in ``[0, num_buckets)``.
    """
    rel = as_positions(relative_position, integer=True).long()
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


class T5RelativeBias(nn.Module):
    """T5's learned bucketed relative bias (Raffel et al. 2020), a ``bias`` hook.

    One scalar per (bucket, head); the bias ``[h, q, k]`` has no batch dim. T5 does not scale
    logits by ``1/sqrt(d)`` (the scale is folded into its initialisation); here the bias is
    added to the scaled logits of :func:`posemb.attention`. Book chapter: "Relative positions".
    """

    def __init__(
        self,
        num_heads: int,
        bidirectional: bool = True,
        num_buckets: int = 32,
        max_distance: int = 128,
    ) -> None:
        super().__init__()
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.bidirectional = bool(bidirectional)
        self.num_buckets = check_int("num_buckets", num_buckets, minimum=2)
        self.max_distance = check_int("max_distance", max_distance, minimum=1)
        t5_bucket(torch.zeros(1, dtype=torch.long), bidirectional, num_buckets, max_distance)
        self.table = nn.Embedding(num_buckets, num_heads)  # [buckets, h]

    def bias_from_positions(self, q_positions: torch.Tensor, k_positions: torch.Tensor):
        """``[h, q, k]`` bias for integer positions ``[q]`` and ``[k]``."""
        qp, kp = as_positions(q_positions, integer=True), as_positions(k_positions, integer=True)
        rel = kp.to(self.table.weight.device)[None, :] - qp.to(self.table.weight.device)[:, None]
        buckets = t5_bucket(rel, self.bidirectional, self.num_buckets, self.max_distance)
        return self.table(buckets).permute(2, 0, 1)  # [h, q, k]

    def bias(self, q, k, q_positions, k_positions):
        """The ``bias`` hook: ``[h, q, k]`` for ``q`` ``[b, h, q, d]``, ``k`` ``[b, h, k, d]``."""
        check_qk(q, k)
        check_seq_positions("q_positions", as_positions(q_positions), q.shape[-2])
        check_seq_positions("k_positions", as_positions(k_positions), k.shape[-2])
        return self.bias_from_positions(q_positions, k_positions).to(q.dtype)

    def forward(self, q_positions, k_positions):
        return self.bias_from_positions(q_positions, k_positions)


class ShawRelativeKeys(nn.Module):
    """Shaw et al. (2018) relative position representations for keys, a ``bias`` hook.

    A learned vector ``a_r`` (``head_dim`` wide, shared by all heads as in the paper) for
    each clipped distance ``r = clip(j - i, -max_distance, max_distance)``. The logit of
    query ``i`` and key ``j`` becomes ``q_i . (k_j + a_r) / sqrt(d)``; this hook returns the
    extra term ``q_i . a_r / sqrt(d)``, shaped ``[b, h, q, k]`` because it depends on ``q``.
    Computed as ``q @ A^T`` (``2K + 1`` columns) and a gather, never a ``[q, k, d]`` tensor.
    Book chapter: "Relative positions".
    """

    def __init__(self, head_dim: int, max_distance: int = 16, init_std: float = 0.02) -> None:
        super().__init__()
        self.head_dim = check_int("head_dim", head_dim, minimum=1)
        self.max_distance = check_int("max_distance", max_distance, minimum=0)
        self.table = nn.Parameter(torch.randn(2 * max_distance + 1, head_dim) * init_std)

    def index(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        """Row of ``table`` for each (query, key): ``clip(j - i) + K``, LongTensor ``[q, k]``."""
        qp, kp = as_positions(q_positions, integer=True), as_positions(k_positions, integer=True)
        rel = kp[None, :] - qp[:, None]  # [q, k]
        return rel.clamp(-self.max_distance, self.max_distance) + self.max_distance

    def bias(self, q, k, q_positions, k_positions):
        """``[b, h, q, k]`` term ``q_i . a_{clip(j-i)} / sqrt(d)``."""
        check_qk(q, k)
        if q.shape[-1] != self.head_dim:
            raise ValueError(f"q last dim must be head_dim={self.head_dim}, got {q.shape[-1]}")
        qp, kp = as_positions(q_positions), as_positions(k_positions)
        check_seq_positions("q_positions", qp, q.shape[-2])
        check_seq_positions("k_positions", kp, k.shape[-2])
        per_distance = q @ self.table.to(q.dtype).T  # [b, h, q, 2K+1]
        idx = self.index(qp, kp).to(q.device)  # [q, k]
        idx = idx.expand(*q.shape[:2], -1, -1)  # [b, h, q, k] (a view)
        return per_distance.gather(-1, idx) / math.sqrt(self.head_dim)  # [b, h, q, k]
