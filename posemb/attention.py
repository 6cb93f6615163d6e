"""Multi-head attention that accepts any positional scheme through three optional hooks.

Where position enters, and the hook a scheme provides for it:

1. added to the input:   ``embed(positions) -> [..., dim]`` (used by a model at its input,
   never by attention; sinusoidal and learned tables);
2. rotating q and k:     ``rotate(q, k, q_positions, k_positions) -> (q, k)`` (RoPE, xPos);
3. biasing the logits:   ``bias(q, k, q_positions, k_positions) -> [h, q, k]`` added to the
   scaled scores ``q.k / sqrt(d)`` (T5, ALiBi, KERPLE, FIRE). Content-dependent schemes
   (Shaw, CoPE) may return ``[b, h, q, k]``.

A scheme with none of the hooks (or ``scheme=None``) is NoPE: attention sees no positions,
only the causal mask can break the symmetry (Kazemnejad et al. 2023, "The Impact of
Positional Encoding on Length Generalization in Transformers"). Book chapter: "NoPE and CoPE".

Notation: ``b`` batch, ``h`` heads, ``n`` sequence length, ``q``/``k`` query/key lengths,
``d`` head dim, ``dim`` model width.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import as_positions, check_int, check_qk, check_seq_positions

__all__ = [
    "PositionScheme",
    "RotateHook",
    "BiasHook",
    "EmbedHook",
    "NoPE",
    "attention",
    "causal_mask",
    "MultiHeadAttention",
]


@runtime_checkable
class RotateHook(Protocol):
    """A scheme that rotates queries and keys by their positions."""

    def rotate(
        self,
        q: torch.Tensor,  # [b, h, q, d]
        k: torch.Tensor,  # [b, h, k, d]
        q_positions: torch.Tensor,  # [q]
        k_positions: torch.Tensor,  # [k]
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class BiasHook(Protocol):
    """A scheme that adds ``[h, q, k]`` (or ``[b, h, q, k]``) to the scaled attention logits."""

    def bias(
        self,
        q: torch.Tensor,  # [b, h, q, d]
        k: torch.Tensor,  # [b, h, k, d]
        q_positions: torch.Tensor,  # [q]
        k_positions: torch.Tensor,  # [k]
    ) -> torch.Tensor: ...


@runtime_checkable
class EmbedHook(Protocol):
    """A scheme that gives a vector per position, added to the token embeddings."""

    def embed(self, positions: torch.Tensor) -> torch.Tensor: ...


class PositionScheme(nn.Module):
    """Optional base class for schemes. Subclasses define any of ``rotate``, ``bias``,
    ``embed``; :class:`MultiHeadAttention` calls ``rotate`` then ``bias`` when present.

    Deriving from it is not required: any object with the hook methods works.
    """


class NoPE(PositionScheme):
    """No positional encoding: no hooks at all. Book chapter: "NoPE and CoPE".

    Without a causal mask attention is then permutation-equivariant: permuting the tokens
    permutes the outputs the same way (Kazemnejad et al. 2023).
    """


def causal_mask(
    q_len: int, k_len: int, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Boolean ``[q, k]`` mask, true where query ``i`` may attend key ``j``.

    Queries are the *last* ``q_len`` of the ``k_len`` keys (bottom-right alignment, as when
    decoding with a key/value cache): query ``i`` sits at position ``i + k_len - q_len`` and
    sees keys ``j <= i + k_len - q_len``.
    """
    check_int("q_len", q_len)
    check_int("k_len", k_len)
    if q_len > k_len:
        raise ValueError(
            f"causal attention needs q_len <= k_len (queries are the last keys), "
            f"got q_len={q_len}, k_len={k_len}"
        )
    i = torch.arange(q_len, device=device)[:, None] + (k_len - q_len)  # [q, 1]
    j = torch.arange(k_len, device=device)[None, :]  # [1, k]
    return j <= i  # [q, k]


def _check_bias(bias: torch.Tensor, b: int, h: int, q_len: int, k_len: int) -> None:
    if not isinstance(bias, torch.Tensor):
        raise TypeError(f"bias must be a tensor [h, q, k], got {type(bias).__name__}")
    if tuple(bias.shape) not in ((h, q_len, k_len), (b, h, q_len, k_len)):
        raise ValueError(
            f"bias must have shape [h, q, k]=[{h}, {q_len}, {k_len}] "
            f"(or [b, h, q, k]=[{b}, {h}, {q_len}, {k_len}] for content-dependent schemes), "
            f"got {tuple(bias.shape)}"
        )


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    causal: bool = False,
    need_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention ``softmax(q k^T / sqrt(d) + bias) v``.

    A position bias ``[h, q, k]`` is broadcast over the batch inside
    :func:`torch.nn.functional.scaled_dot_product_attention`; no ``[b, h, q, k]`` copy is
    made. ``causal`` is combined with the bias by adding ``-inf`` above the (bottom-right
    aligned, see :func:`causal_mask`) diagonal.

    Args:
        q: ``[b, h, q, d]`` queries.
        k: ``[b, h, k, d]`` keys.
        v: ``[b, h, k, dv]`` values.
        bias: ``[h, q, k]`` (or ``[b, h, q, k]``) added to the scaled logits.
        causal: mask keys that come after the query.
        need_weights: also return the attention weights ``[b, h, q, k]`` (slower path).

    Returns:
        ``[b, h, q, dv]``, and the weights when ``need_weights``.
    """
    check_qk(q, k)
    if not isinstance(v, torch.Tensor) or v.dim() != 4 or v.shape[:3] != k.shape[:3]:
        raise ValueError(
            f"v must have shape [b, h, k, dv] matching k {tuple(k.shape)} on b, h, k, "
            f"got {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}"
        )
    b, h, q_len, d = q.shape
    k_len = k.shape[2]
    mask = None  # [h, q, k] or [b, h, q, k] or [q, k]
    if bias is not None:
        _check_bias(bias, b, h, q_len, k_len)
        mask = bias.to(q.dtype)
    use_is_causal = causal and mask is None and q_len == k_len and not need_weights
    if causal and not use_is_causal:
        allowed = causal_mask(q_len, k_len, device=q.device)  # [q, k]
        if mask is None:
            mask = torch.zeros(q_len, k_len, dtype=q.dtype, device=q.device)  # [q, k]
        # One out-of-place fill: no separate [q, k] -inf tensor added to a copy of the bias.
        mask = mask.masked_fill(~allowed, float("-inf"))  # [q, k] / [h, q, k] / [b, h, q, k]
    if mask is not None and mask.dim() == 3:
        # A 4-D [1, h, q, k] view, not [h, q, k]: torch's fused CPU kernel broadcasts a 4-D
        # mask over the batch as it is, while a 3-D mask sends SDPA down a path that
        # materialises [b, h, q, k] (measured: 1304 MiB instead of 148 MiB at b=4, h=8,
        # n=2048; benchmarks/alibi_memory.py).
        mask = mask.unsqueeze(0)  # [1, h, q, k]
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=use_is_causal)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # [b, h, q, k]
    if mask is not None:
        scores = scores + mask
    weights = scores.softmax(dim=-1)  # [b, h, q, k]
    return weights @ v, weights  # [b, h, q, dv], [b, h, q, k]


def scheme_hooks(scheme: object) -> tuple[object | None, object | None]:
    """Return the scheme's bound ``rotate`` and ``bias`` hooks (``None`` when absent)."""
    if scheme is None:
        return None, None
    rotate = getattr(scheme, "rotate", None)
    bias = getattr(scheme, "bias", None)
    return (rotate if callable(rotate) else None), (bias if callable(bias) else None)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention that takes any positional scheme.

    ``scheme`` may provide ``rotate`` (applied to q and k after the projections) and/or
    ``bias`` (added to the scaled logits). ``scheme=None`` is NoPE. A scheme with only
    ``embed`` (sinusoidal, learned) is accepted and has no effect inside attention: it is
    meant to be added to the input by the model. Book chapter: "NoPE and CoPE" (the
    module itself), with each scheme in its own chapter.

    Args:
        dim: model width; must be divisible by ``num_heads``.
        num_heads: number of heads ``h``.
        scheme: positional scheme object, or ``None`` for NoPE.
        causal: mask future tokens.
        bias: use biases in the q/k/v/output projections.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        scheme: object | None = None,
        causal: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_int("dim", dim, minimum=1)
        check_int("num_heads", num_heads, minimum=1)
        if dim % num_heads:
            raise ValueError(
                f"dim must be divisible by num_heads, got dim={dim}, num_heads={num_heads}"
            )
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.causal = bool(causal)
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)
        self.scheme = scheme  # registered as a submodule when it is an nn.Module

    def forward(
        self,
        x: torch.Tensor,
        *,
        positions: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend over ``x`` ``[b, n, dim]``.

        Args:
            x: ``[b, n, dim]`` input.
            positions: ``[n]`` integer positions (default ``0 .. n-1``); shared by the batch.
            need_weights: also return weights ``[b, h, n, n]``.
        """
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(
                f"x must have shape [b, n, dim={self.dim}], "
                f"got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
            )
        b, n, _ = x.shape
        if positions is None:
            positions = torch.arange(n, device=x.device)  # [n]
        else:
            positions = as_positions(positions).to(x.device)
            check_seq_positions("positions", positions, n)
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim)  # [b, n, 3, h, d]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [b, h, n, d]
        rotate, bias_hook = scheme_hooks(self.scheme)
        if rotate is not None:
            q, k = rotate(q, k, positions, positions)  # [b, h, n, d]
        pos_bias = None
        if bias_hook is not None:
            pos_bias = bias_hook(q, k, positions, positions)  # [h, n, n] or [b, h, n, n]
        result = attention(q, k, v, bias=pos_bias, causal=self.causal, need_weights=need_weights)
        out, weights = result if need_weights else (result, None)
        out = self.out(out.transpose(1, 2).reshape(b, n, self.dim))  # [b, n, dim]
        return (out, weights) if need_weights else out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, causal={self.causal}"
