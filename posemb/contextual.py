"""Contextual positions: positions counted by the content, then used as a logit bias.

Where position enters: (3) *biasing attention logits*, with a bias that depends on ``q`` and
``k``. Explained in the book chapter "NoPE and CoPE".

Notation: ``b`` batch, ``h`` heads, ``q``/``k`` query/key lengths, ``d`` head dim,
``P`` number of learned position vectors (``npos_max``).

CoPE (Golovneva et al. 2024, "Contextual Position Encoding: Learning to Count What's
Important"): gates ``g_ij = sigmoid(q_i . k_j / sqrt(d))`` for keys ``j <= i`` (zero for the
future), positions ``p_ij = sum_{t=j}^{i} g_it`` (fractional, clamped to ``P - 1``), and a
logit term ``q_i . e[p_ij]`` where ``e[p]`` interpolates linearly between the learned vectors
``e[floor p]`` and ``e[ceil p]``. The ``1/sqrt(d)`` in the gate follows the authors'
reference code, which takes the sigmoid of the already scaled logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_int, check_qk, check_seq_positions, offsets, pair_positions
from .attention import PositionScheme

__all__ = ["cope_positions", "cope_bias", "CoPE"]


def cope_positions(
    q: torch.Tensor,
    k: torch.Tensor,
    q_positions: torch.Tensor,
    k_positions: torch.Tensor,
) -> torch.Tensor:
    """Contextual positions ``p_ij = sum_{t=j}^{i} sigmoid(q_i . k_t / sqrt(d))``.

    Only keys with ``k_position <= q_position`` count (causal). Positions are ``[n]`` or
    ``[b, n]``. Returns ``[b, h, q, k]`` (zero for future keys). Book chapter: "NoPE and CoPE".

    Args:
        q: ``[b, h, q, d]`` queries.
        k: ``[b, h, k, d]`` keys.
        q_positions: ``[q]`` or ``[b, q]``.
        k_positions: ``[k]`` or ``[b, k]``.
    """
    check_qk(q, k)
    qp, kp = pair_positions(q_positions, k_positions, device=q.device)
    check_seq_positions("q_positions", qp, q.shape[-2], batch=q.shape[0])
    check_seq_positions("k_positions", kp, k.shape[-2], batch=k.shape[0])
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # [b, h, q, k]
    visible = offsets(qp, kp) <= 0  # [q, k] or [b, q, k]
    if visible.dim() == 3:
        visible = visible[:, None]  # [b, 1, q, k]
    gates = torch.sigmoid(logits) * visible  # [b, h, q, k]
    # sum over t from j to the query: reverse cumulative sum along the key axis
    return gates.flip(-1).cumsum(-1).flip(-1) * visible  # [b, h, q, k]


def cope_bias(q: torch.Tensor, positions: torch.Tensor, pos_emb: torch.Tensor) -> torch.Tensor:
    """``q_i . e[p_ij]`` with ``e`` interpolated between integer rows of ``pos_emb``.

    Args:
        q: ``[b, h, q, d]``.
        positions: ``[b, h, q, k]`` fractional positions (clamped to ``[0, P - 1]``).
        pos_emb: ``[P, d]`` learned vectors.

    Returns:
        ``[b, h, q, k]``. Computed as ``q @ pos_emb^T`` (``P`` columns), then two gathers,
        never a ``[b, h, q, k, d]`` tensor. Book chapter: "NoPE and CoPE".
    """
    num = pos_emb.shape[0]
    p = positions.clamp(0, num - 1)  # [b, h, q, k]
    lo = p.floor()
    w = p - lo  # [b, h, q, k]
    lo = lo.long()
    hi = (lo + 1).clamp(max=num - 1)
    per_pos = q @ pos_emb.to(q.dtype).T  # [b, h, q, P]
    return per_pos.gather(-1, lo) * (1 - w) + per_pos.gather(-1, hi) * w  # [b, h, q, k]


class CoPE(PositionScheme):
    """Contextual Position Encoding (Golovneva et al. 2024), kind ``"content_bias"``.

    Returns ``[b, h, q, k]``. Positions are counted over earlier keys, so the scheme is
    ``causal_only``: ``MultiHeadAttention(..., causal=False)`` refuses it. The position
    vectors start at zero as in the authors' code, so a fresh CoPE is NoPE. Book chapter:
    "NoPE and CoPE".

    Args:
        head_dim: ``d``.
        npos_max: ``P``, the number of learned position vectors (largest position ``P - 1``).
    """

    kind = "content_bias"
    causal_only = True

    def __init__(self, head_dim: int, npos_max: int = 64) -> None:
        super().__init__()
        self.head_dim = check_int("head_dim", head_dim, minimum=1)
        self.npos_max = check_int("npos_max", npos_max, minimum=1)
        self.pos_emb = nn.Parameter(torch.zeros(npos_max, head_dim))  # [P, d]

    def content_bias(self, q, k, q_positions, k_positions):
        """``[b, h, q, k]``: :func:`cope_positions`, then :func:`cope_bias`.

        Args:
            q: ``[b, h, q, d]`` queries.
            k: ``[b, h, k, d]`` keys (they set the gates that count positions).
            q_positions: ``[q]`` or ``[b, q]``.
            k_positions: ``[k]`` or ``[b, k]``.
        """
        check_qk(q, k)
        if q.shape[-1] != self.head_dim:
            raise ValueError(f"q last dim must be head_dim={self.head_dim}, got {q.shape[-1]}")
        p = cope_positions(q, k, q_positions, k_positions)  # [b, h, q, k]
        return cope_bias(q, p, self.pos_emb)  # [b, h, q, k]

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, npos_max={self.npos_max}"
