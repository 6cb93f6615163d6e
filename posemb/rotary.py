"""Rotary positions: rotate queries and keys by an angle proportional to their position.

Where position enters: (2) *rotating queries and keys*, ``q, k = rotate(q, k, positions)``.
Explained in the book chapter "Rotary positions".

Notation: ``b`` batch, ``h`` heads, ``n`` sequence length, ``d`` head dim, ``r`` rotary dim
(the number of rotated features, ``r <= d``, even), ``...`` any leading shape.

RoPE (Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary Position Embedding") turns
feature pair ``i`` of a query or key at position ``m`` by the angle ``m * base**(-2i/r)``.
Then ``<R_m q, R_n k> = <q, R_{n-m} k>``: the score depends on ``n - m`` only.

Two layouts decide which features form pair ``i``:

* ``"half"`` (GPT-NeoX, Hugging Face Llama ``rotate_half``): features ``i`` and ``i + r/2``;
* ``"interleaved"`` (GPT-J, Meta's reference Llama, RoFormer): features ``2i`` and ``2i + 1``.

Both are the same rotation up to a fixed permutation of the features;
:func:`convert_qk_weights` moves a checkpoint's q/k projections from one to the other.

Partial rotary (GPT-NeoX ``rotary_pct``): when ``cos`` is narrower than ``x``, only the first
``r`` features are rotated and the rest pass through unchanged.

xPos (Sun et al. 2022, "A Length-Extrapolatable Transformer") multiplies pair ``i`` of the
query at ``m`` by ``zeta_i**(m/scale_base)`` and of the key at ``n`` by
``zeta_i**(-n/scale_base)``, ``zeta_i = (2i/d + 0.4) / 1.4``, so scores decay with distance.

Angles are computed in float64 and cast once to the requested dtype.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import (
    as_positions,
    check_even,
    check_int,
    check_layout,
    check_positive_float,
    check_qk,
    check_seq_positions,
)
from .absolute import inverse_frequencies

__all__ = [
    "rope_angles",
    "rope_cos_sin",
    "apply_rope",
    "apply_rope_reference",
    "RotaryEmbedding",
    "Rotary",
    "xpos_zeta",
    "xpos_scale",
    "apply_xpos",
    "XPos",
    "rope_permutation",
    "convert_rope_layout",
    "convert_qk_weights",
]

# Elements per chunk for the fast path. Smaller chunks (2**17) stay in cache and measured
# ~1.1-1.5x the floor on an idle 2-core machine, but each chunk costs 4 threaded kernel
# launches and under CPU contention that overhead dominated (6x); 2**22 measured best there
# (benchmarks/rope_speed.py, benchmarks/README.md).
_CHUNK_ELEMENTS = 1 << 22
_FAST_MIN_ELEMENTS = 1 << 16


def _spread(angles: torch.Tensor, layout: str) -> torch.Tensor:
    """Lay ``[..., r/2]`` per-pair values out over ``[..., r]`` features for ``layout``."""
    if layout == "half":
        return torch.cat((angles, angles), dim=-1)  # [..., r]: pair i is (i, i + r/2)
    return torch.stack((angles, angles), dim=-1).flatten(-2)  # [..., r]: pair i is (2i, 2i+1)


def rope_angles(
    positions: torch.Tensor | int | list[int], dim: int, base: float = 10000.0
) -> torch.Tensor:
    """float64 angles ``positions * base**(-2i/dim)``, shape ``[..., dim/2]``.

    Book chapter: "Rotary positions".
    """
    check_even("dim", dim)
    pos = as_positions(positions)
    return pos.to(torch.float64)[..., None] * inverse_frequencies(dim, base, device=pos.device)


def rope_cos_sin(
    positions: torch.Tensor | int | list[int],
    dim: int,
    base: float = 10000.0,
    layout: str = "half",
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the RoPE angles (Su et al. 2021), laid out for ``layout``.

    Args:
        positions: ``[...]`` integer (or real, for position interpolation) positions.
        dim: rotary dim ``r`` (even): the number of features that are rotated.
        base: frequency base theta (10000 in RoFormer and Llama 2; 500000 in Llama 3).
        layout: ``"half"`` (feature ``i`` pairs with ``i + r/2``) or ``"interleaved"``
            (``2i`` with ``2i + 1``).
        dtype: output dtype; the angles and their cos/sin are float64 until one final cast.
        device: where to put the result (default: the device of ``positions``).

    Returns:
        ``(cos, sin)``, each ``[..., dim]``. Book chapter: "Rotary positions".
    """
    check_layout(layout)
    angles = rope_angles(positions, dim, base)  # [..., r/2] float64
    if device is not None:
        angles = angles.to(device)
    cos = _spread(angles.cos(), layout).to(dtype)  # [..., r]
    sin = _spread(angles.sin(), layout).to(dtype)  # [..., r]
    return cos, sin


def _check_rope_args(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> int:
    check_layout(layout)
    for name, t in (("x", x), ("cos", cos), ("sin", sin)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
    if cos.shape != sin.shape:
        raise ValueError(
            f"cos and sin must have the same shape, got {tuple(cos.shape)} and {tuple(sin.shape)}"
        )
    r = cos.shape[-1] if cos.dim() else 0
    d = x.shape[-1] if x.dim() else 0
    if cos.dim() == 0 or r == 0 or r % 2 or r > d:
        raise ValueError(
            f"cos/sin last dim (the rotary dim) must be even and in [2, {d}] (x's last dim), "
            f"got cos shape {tuple(cos.shape)} for x shape {tuple(x.shape)}"
        )
    if cos.dim() > x.dim() or (cos.dim() >= 2 and cos.shape[-2] != x.shape[-2]):
        raise ValueError(
            f"cos/sin shape {tuple(cos.shape)} must match x shape {tuple(x.shape)} on the "
            "sequence dim (-2) and have no more dims than x"
        )
    try:
        lead = torch.broadcast_shapes(x.shape[:-1], cos.shape[:-1])
    except RuntimeError:
        lead = None
    if lead != x.shape[:-1]:
        raise ValueError(
            f"cos/sin shape {tuple(cos.shape)} must broadcast to x shape {tuple(x.shape)} "
            "without enlarging x"
        )
    return r


def _pair_views(t: torch.Tensor, r: int, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The two members of every rotated pair, as views ``[..., r/2]``."""
    if layout == "half":
        return t[..., : r // 2], t[..., r // 2 : r]
    return t[..., 0:r:2], t[..., 1:r:2]


def apply_rope_reference(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str = "half"
) -> torch.Tensor:
    """The textbook formula ``x * cos + rotate(x) * sin`` on the first ``r`` features.

    ``rotate`` maps each pair ``(a, b)`` to ``(-b, a)``. Differentiable and easy to read;
    :func:`apply_rope` computes the same numbers faster. Book chapter: "Rotary positions".
    """
    r = _check_rope_args(x, cos, sin, layout)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x_rot, x_pass = x[..., :r], x[..., r:]  # [..., r], [..., d - r]
    a, b = _pair_views(x_rot, r, layout)  # [..., r/2] each
    if layout == "half":
        rotated = torch.cat((-b, a), dim=-1)  # [..., r]
    else:
        rotated = torch.stack((-b, a), dim=-1).flatten(-2)  # [..., r]
    return torch.cat((x_rot * cos + rotated * sin, x_pass), dim=-1)  # [..., d]


def _rope_into(out, x, cos, sin, r, layout):
    """out[..., :r] = rotation of x[..., :r]; four fused elementwise passes, no temporaries."""
    a, b = _pair_views(x, r, layout)  # [..., r/2]
    oa, ob = _pair_views(out, r, layout)
    ca, cb = _pair_views(cos, r, layout)
    sa, sb = _pair_views(sin, r, layout)
    torch.mul(a, ca, out=oa)  # a cos
    oa.addcmul_(b, sa, value=-1.0)  # a cos - b sin
    torch.mul(b, cb, out=ob)  # b cos
    ob.addcmul_(a, sb)  # b cos + a sin


def _rope_interleaved_complex(out, x, cos, sin, r):
    """out[..., :r] = rotation of x[..., :r] for the interleaved layout, in one kernel.

    Pairs ``(2i, 2i + 1)`` are the real and imaginary parts of a complex number, and a
    rotation by angle ``t`` is a multiplication by ``e^{it} = cos t + i sin t`` (RoFormer's
    complex form, and how Meta's reference code applies it): one pass over ``x`` and
    ``out``, with the ``[..., n, r/2]`` table of ``e^{it}`` as the only other read.
    """
    xs = x[..., :r].unflatten(-1, (r // 2, 2))  # [..., n, r/2, 2]
    if xs.stride(-1) != 1 or any(st % 2 for st in xs.stride()[:-1]):
        xs = xs.contiguous()
    turn = torch.complex(cos[..., 0:r:2], sin[..., 0:r:2])  # [..., n, r/2]
    target = torch.view_as_complex(out[..., :r].unflatten(-1, (r // 2, 2)))  # [..., n, r/2]
    torch.mul(torch.view_as_complex(xs), turn, out=target)


def apply_rope(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str = "half"
) -> torch.Tensor:
    """Rotate ``x`` ``[..., n, d]`` by RoPE angles given as ``cos``, ``sin`` ``[..., n, r]``.

    Su et al. (2021), RoFormer. Pair ``(a, b)`` becomes ``(a cos - b sin, b cos + a sin)``;
    pairs are ``(i, i + r/2)`` for ``layout="half"`` and ``(2i, 2i + 1)`` for
    ``"interleaved"``. If ``r < d`` only the first ``r`` features are rotated (GPT-NeoX
    partial rotary); the rest are copied. ``cos``/``sin`` broadcast over leading dims of
    ``x`` (e.g. ``[n, r]`` for ``x`` ``[b, h, n, d]``) but never enlarge ``x``.

    Output dtype is ``x.dtype``. Without autograd the result is computed in cache-sized
    chunks with ``out=`` kernels, or, for the interleaved layout in float32/float64, as one
    complex multiplication (see ``benchmarks/rope_speed.py``); with autograd it falls back
    to :func:`apply_rope_reference`. Book chapter: "Rotary positions".
    """
    r = _check_rope_args(x, cos, sin, layout)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or cos.requires_grad or sin.requires_grad
    )
    if needs_grad or x.numel() < _FAST_MIN_ELEMENTS or x.dim() < 2:
        return apply_rope_reference(x, cos, sin, layout)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    out = torch.empty_like(x, memory_format=torch.contiguous_format)  # [..., n, d]
    if r < x.shape[-1]:
        out[..., r:] = x[..., r:]
    if layout == "interleaved" and x.dtype in (torch.float32, torch.float64):
        _rope_interleaved_complex(out, x, cos, sin, r)
        return out
    n = x.shape[-2]
    per_row = max(1, x.numel() // max(n, 1))
    step = max(1, _CHUNK_ELEMENTS // per_row)
    lead = x.dim() - 2
    lead_cos = cos.dim() - 2
    for s in range(0, n, step):
        e = min(n, s + step)
        xs = x[(slice(None),) * lead + (slice(s, e),)]  # [..., n_chunk, d]
        os_ = out[(slice(None),) * lead + (slice(s, e),)]
        if cos.dim() >= 2:
            cs = cos[(slice(None),) * lead_cos + (slice(s, e),)]  # [..., n_chunk, r]
            ss = sin[(slice(None),) * lead_cos + (slice(s, e),)]
        else:
            cs, ss = cos, sin
        _rope_into(os_, xs, cs, ss, r, layout)
    return out


class RotaryEmbedding(nn.Module):
    """RoPE for ``[b, h, n, d]`` queries and keys, with a cos/sin cache that grows on demand.

    Su et al. (2021), RoFormer. The cache holds float64 angles' cos/sin for positions
    ``0 .. cached - 1`` and is cast to the query dtype in one step (per dtype, memoised), so
    results equal :func:`rope_cos_sin` with that dtype exactly. Book chapter:
    "Rotary positions".

    Args:
        head_dim: ``d``, the width of each head.
        base: frequency base theta.
        rotary_dim: ``r``, how many leading features to rotate (default ``d``; GPT-NeoX
            uses ``d * rotary_pct``). Must be even and ``<= head_dim``.
        layout: ``"half"`` or ``"interleaved"``.
        max_cached: largest number of positions the cache may hold (default 2**20); a call
            with positions beyond it computes cos/sin directly, with identical results.
    """

    def __init__(
        self,
        head_dim: int,
        base: float = 10000.0,
        rotary_dim: int | None = None,
        layout: str = "half",
        max_cached: int = 1 << 20,
    ) -> None:
        super().__init__()
        self.head_dim = check_int("head_dim", head_dim, minimum=1)
        self.base = check_positive_float("base", base)
        rotary_dim = head_dim if rotary_dim is None else rotary_dim
        check_int("rotary_dim", rotary_dim, minimum=2)
        if rotary_dim % 2 or rotary_dim > head_dim:
            raise ValueError(
                f"rotary_dim must be even and <= head_dim={head_dim}, got {rotary_dim}"
            )
        self.rotary_dim = rotary_dim
        self.layout = check_layout(layout)
        self.max_cached = check_int("max_cached", max_cached, minimum=0)
        self._cos64 = torch.empty(0, rotary_dim, dtype=torch.float64)  # [cached, r]
        self._sin64 = torch.empty(0, rotary_dim, dtype=torch.float64)
        self._cast: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def cached_positions(self) -> int:
        """How many positions (``0 .. cached - 1``) the cache currently holds."""
        return self._cos64.shape[0]

    def _grow(self, needed: int, device: torch.device) -> None:
        if needed <= self.cached_positions and self._cos64.device == device:
            return
        size = max(needed, 2 * self.cached_positions, 16)
        size = 1 << (size - 1).bit_length()  # next power of two: amortised growth
        size = min(size, max(self.max_cached, needed))
        cos, sin = rope_cos_sin(
            torch.arange(size, device=device),
            self.rotary_dim,
            self.base,
            self.layout,
            dtype=torch.float64,
        )
        self._cos64, self._sin64, self._cast = cos, sin, {}

    def cos_sin(
        self, positions: torch.Tensor, dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cos, sin)`` ``[..., r]`` for ``positions`` ``[...]`` in ``dtype``."""
        pos = as_positions(positions)
        if pos.is_floating_point() or (pos.numel() and int(pos.min()) < 0):
            return rope_cos_sin(pos, self.rotary_dim, self.base, self.layout, dtype=dtype)
        needed = int(pos.max()) + 1 if pos.numel() else 0
        if needed > max(self.max_cached, self.cached_positions):
            # far positions (e.g. 2**24): compute them directly instead of a huge cache
            return rope_cos_sin(pos, self.rotary_dim, self.base, self.layout, dtype=dtype)
        self._grow(needed, pos.device)
        key = (dtype, pos.device)
        if key not in self._cast:
            self._cast[key] = (self._cos64.to(dtype), self._sin64.to(dtype))
        cos, sin = self._cast[key]
        return cos[pos], sin[pos]  # [..., r]

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        offset: int = 0,
        positions: torch.Tensor | None = None,
        k_positions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate ``q`` ``[b, h, q, d]`` and ``k`` ``[b, h, k, d]``.

        Positions are ``offset .. offset + n - 1`` unless ``positions`` ``[q]`` is given
        (then it is used for the keys too, unless ``k_positions`` ``[k]`` is given).
        """
        check_qk(q, k)
        if q.shape[-1] != self.head_dim:
            raise ValueError(
                f"q and k last dim must be head_dim={self.head_dim}, got {q.shape[-1]}"
            )
        check_int("offset", offset)
        if positions is None:
            positions = torch.arange(offset, offset + q.shape[-2], device=q.device)
        positions = as_positions(positions).to(q.device)
        check_seq_positions("positions", positions, q.shape[-2])
        if k_positions is None:
            if k.shape[-2] != q.shape[-2]:
                raise ValueError(
                    "k_positions must be given when q and k lengths differ, "
                    f"got q length {q.shape[-2]} and k length {k.shape[-2]}"
                )
            k_positions = positions
        k_positions = as_positions(k_positions).to(k.device)
        check_seq_positions("k_positions", k_positions, k.shape[-2])
        cos_q, sin_q = self.cos_sin(positions, q.dtype)  # [q, r]
        cos_k, sin_k = (
            (cos_q, sin_q) if k_positions is positions else self.cos_sin(k_positions, k.dtype)
        )
        return (
            apply_rope(q, cos_q, sin_q, self.layout),
            apply_rope(k, cos_k, sin_k, self.layout),
        )

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, rotary_dim={self.rotary_dim}, base={self.base}, "
            f"layout={self.layout!r}"
        )


class Rotary(nn.Module):
    """The RoPE scheme for :class:`posemb.MultiHeadAttention` (``rotate`` hook).

    Su et al. (2021). Book chapter: "Rotary positions". Arguments as in
    :class:`RotaryEmbedding`.
    """

    def __init__(
        self,
        head_dim: int,
        base: float = 10000.0,
        rotary_dim: int | None = None,
        layout: str = "half",
    ) -> None:
        super().__init__()
        self.rope = RotaryEmbedding(head_dim, base, rotary_dim, layout)

    def rotate(
        self,
        q: torch.Tensor,  # [b, h, q, d]
        k: torch.Tensor,  # [b, h, k, d]
        q_positions: torch.Tensor,  # [q]
        k_positions: torch.Tensor,  # [k]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rope(q, k, positions=q_positions, k_positions=k_positions)


# ----------------------------------------------------------------------------- xPos


def xpos_zeta(dim: int) -> torch.Tensor:
    """Per-pair decay bases ``zeta_i = (2i + 0.4 dim) / (1.4 dim)``, float64 ``[dim/2]``.

    Sun et al. (2022), as in torchscale's ``XPOS``. Book chapter: "Rotary positions".
    """
    check_even("dim", dim)
    return (torch.arange(0, dim, 2, dtype=torch.float64) + 0.4 * dim) / (1.4 * dim)


def xpos_scale(
    positions: torch.Tensor | int | list[int],
    dim: int,
    scale_base: float = 512.0,
    layout: str = "interleaved",
    *,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """xPos scales ``zeta_i**(pos / scale_base)`` spread over ``[..., dim]`` for ``layout``.

    Multiply the rotated query by this and divide the rotated key by it (Sun et al. 2022).
    The exponent is computed in float64. Book chapter: "Rotary positions".
    """
    check_layout(layout)
    scale_base = check_positive_float("scale_base", scale_base)
    pos = as_positions(positions)
    zeta = xpos_zeta(dim).to(pos.device)  # [dim/2]
    s = zeta ** (pos.to(torch.float64)[..., None] / scale_base)  # [..., dim/2]
    return _spread(s, layout).to(dtype)  # [..., dim]


def apply_xpos(
    q: torch.Tensor,
    k: torch.Tensor,
    q_positions: torch.Tensor,
    k_positions: torch.Tensor,
    *,
    base: float = 10000.0,
    scale_base: float = 512.0,
    layout: str = "interleaved",
    center: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate ``q`` ``[..., q, d]``/``k`` ``[..., k, d]`` by RoPE and scale them the xPos way.

    Query at ``m`` gets ``zeta**((m - c)/scale_base)``, key at ``n`` gets
    ``zeta**(-(n - c)/scale_base)``; the product depends on ``m - n`` only, and the centre
    ``c`` (default ``ceil(L/2)`` with ``L`` one past the largest position, torchscale's
    choice) only keeps the factors near 1. Sun et al. (2022). Book chapter: "Rotary positions".
    """
    d = q.shape[-1]
    check_even("dim", d)
    qp, kp = as_positions(q_positions).to(q.device), as_positions(k_positions).to(k.device)
    check_seq_positions("q_positions", qp, q.shape[-2])
    check_seq_positions("k_positions", kp, k.shape[-2])
    if center is None:
        last = max(int(qp.max()) if qp.numel() else 0, int(kp.max()) if kp.numel() else 0)
        center = (last + 2) // 2  # ceil((last + 1) / 2)
    cos_q, sin_q = rope_cos_sin(qp, d, base, layout, dtype=q.dtype)  # [q, d]
    cos_k, sin_k = rope_cos_sin(kp, d, base, layout, dtype=k.dtype)  # [k, d]
    up = xpos_scale(qp - center, d, scale_base, layout, dtype=q.dtype)  # [q, d]
    down = xpos_scale(-(kp - center), d, scale_base, layout, dtype=k.dtype)  # [k, d]
    return apply_rope(q, cos_q, sin_q, layout) * up, apply_rope(k, cos_k, sin_k, layout) * down


class XPos(nn.Module):
    """The xPos scheme (Sun et al. 2022) for :class:`posemb.MultiHeadAttention`.

    RoPE plus a per-pair exponential decay of the score with distance. Defaults follow
    torchscale (interleaved pairs, ``scale_base=512``). Book chapter: "Rotary positions".
    """

    def __init__(
        self,
        head_dim: int,
        base: float = 10000.0,
        scale_base: float = 512.0,
        layout: str = "interleaved",
    ) -> None:
        super().__init__()
        self.head_dim = check_even("head_dim", head_dim)
        self.base = check_positive_float("base", base)
        self.scale_base = check_positive_float("scale_base", scale_base)
        self.layout = check_layout(layout)

    def rotate(
        self,
        q: torch.Tensor,  # [b, h, q, d]
        k: torch.Tensor,  # [b, h, k, d]
        q_positions: torch.Tensor,  # [q]
        k_positions: torch.Tensor,  # [k]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_qk(q, k)
        return apply_xpos(
            q,
            k,
            q_positions,
            k_positions,
            base=self.base,
            scale_base=self.scale_base,
            layout=self.layout,
        )

    def forward(self, q, k, q_positions, k_positions):
        return self.rotate(q, k, q_positions, k_positions)


# ----------------------------------------------------------------------------- layouts


def rope_permutation(head_dim: int, source: str, target: str) -> torch.Tensor:
    """Index ``perm`` ``[head_dim]`` with ``x_target = x_source[..., perm]``.

    Interleaved pair ``(2i, 2i+1)`` goes to half-layout slots ``(i, i + d/2)``: ``perm`` is
    ``[0, 2, 4, ..., 1, 3, 5, ...]`` from interleaved to half (the row permutation the
    Hugging Face Llama conversion script applies to Meta's q/k weights), and its inverse the
    other way. Book chapter: "Rotary positions".
    """
    check_even("head_dim", head_dim)
    check_layout(source)
    check_layout(target)
    to_half = torch.cat((torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)))
    if source == target:
        return torch.arange(head_dim)
    if source == "interleaved":
        return to_half
    return torch.argsort(to_half)


def convert_rope_layout(x: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """Permute the last dim (``d``) of ``x`` ``[..., d]`` from ``source`` to ``target`` layout."""
    perm = rope_permutation(x.shape[-1], source, target).to(x.device)
    return x[..., perm]  # [..., d]


def convert_qk_weights(
    weight: torch.Tensor,
    num_heads: int,
    source: str,
    target: str,
    bias: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Reorder the output rows of a q or k projection, head by head, between layouts.

    ``weight`` is ``[num_heads * d, in]`` (``nn.Linear`` convention), ``bias``
    ``[num_heads * d]``. A model whose projections are converted and whose RoPE uses
    ``target`` computes exactly the scores of the original with ``source``. The inverse is
    the same call with ``source`` and ``target`` swapped. Returns the new weight, or
    ``(weight, bias)`` when a bias is given. Book chapter: "Rotary positions".
    """
    check_int("num_heads", num_heads, minimum=1)
    if weight.dim() != 2 or weight.shape[0] % num_heads:
        raise ValueError(
            f"weight must be [num_heads * head_dim, in] with rows divisible by "
            f"num_heads={num_heads}, got {tuple(weight.shape)}"
        )
    head_dim = weight.shape[0] // num_heads
    perm = rope_permutation(head_dim, source, target).to(weight.device)  # [d]
    rows = (torch.arange(num_heads, device=weight.device)[:, None] * head_dim + perm).flatten()
    new_weight = weight[rows]  # [h * d, in]
    if bias is None:
        return new_weight
    if bias.shape != weight.shape[:1]:
        raise ValueError(f"bias must have shape [{weight.shape[0]}], got {tuple(bias.shape)}")
    return new_weight, bias[rows]
