"""Multi-head attention that accepts any positional scheme, and the scheme interface.

Where position enters is the *kind* a scheme declares, and each kind has one entry point,
which is also the scheme's ``forward``:

========================  =======================================================  =========
kind                      entry point                                              examples
========================  =======================================================  =========
``"embed"``               ``embed_positions(positions) -> [..., dim]``, added to    sinusoidal,
                          the token embeddings by a model (never by attention)      learned
``"rotate"``              ``rotate_qk(q, k, q_positions, k_positions) -> (q, k)``   RoPE, xPos
``"bias"``                ``position_bias(q_positions, k_positions)`` ->            T5, ALiBi,
                          ``[h, q, k]`` (``[b, h, q, k]`` for per-sequence          KERPLE, FIRE
                          positions), added to the scaled logits
``"content_bias"``        ``content_bias(q, k, q_positions, k_positions)`` ->      Shaw, CoPE
                          ``[b, h, q, k]``, a logit term that reads ``q`` (and ``k``)
``"none"``                none: attention sees no positions                         NoPE
========================  =======================================================  =========

A scheme is a :class:`PositionScheme` subclass that sets ``kind`` and defines that kind's
entry point; a class that declares a kind without its entry point fails when it is
defined. :class:`MultiHeadAttention` accepts only such objects (or ``None``, NoPE) and says
so otherwise: a string, a function or an arbitrary module with a ``bias`` attribute (every
``nn.Linear`` has one) would otherwise run silently as NoPE. Schemes by name come from the
registry, :func:`posemb.scheme`.

Positions are ``[n]`` (shared by the batch) or ``[b, n]`` (one row per sequence, e.g.
requests decoded together at different offsets); integer, or real for interpolated
positions, and finite. There is no padding or segment mask: every query sees every key
that the causal mask allows, so left padding or packed sequences need a mask of their own.

NoPE: only the causal mask can break the symmetry (Kazemnejad et al. 2023, "The Impact of
Positional Encoding on Length Generalization in Transformers"). Book chapter: "NoPE and
CoPE".

Notation: ``b`` batch, ``h`` heads (``h_kv`` key/value heads), ``n`` sequence length,
``q``/``k`` query/key lengths, ``d`` head dim, ``dim`` model width.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import as_positions, check_bool, check_int, check_qk, check_seq_positions

__all__ = [
    "SCHEME_KINDS",
    "PositionScheme",
    "NoPE",
    "KVCache",
    "attention",
    "causal_mask",
    "MultiHeadAttention",
]

#: The kinds of scheme, by where position enters.
SCHEME_KINDS = ("none", "embed", "rotate", "bias", "content_bias")
#: The entry point each kind must define (``"none"`` has none).
ENTRY_POINTS = {
    "embed": "embed_positions",
    "rotate": "rotate_qk",
    "bias": "position_bias",
    "content_bias": "content_bias",
}
_ATTENTION_KINDS = ("none", "rotate", "bias", "content_bias")


class PositionScheme(nn.Module):
    """Base class of every positional scheme: declares where position enters.

    Subclasses set the class attribute ``kind`` (one of :data:`SCHEME_KINDS`) and define
    the entry point of that kind (see the module docstring); ``forward`` calls it, so
    ``scheme(...)`` is the entry point with forward hooks. Optional class attributes that
    :class:`MultiHeadAttention` checks at construction: ``causal_only`` (the scheme is only
    defined for causal attention), and the instance attributes ``num_heads`` (a bias per
    head) and ``head_dim`` (the width the scheme acts on), when set.
    """

    kind: ClassVar[str | None] = None
    causal_only: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.kind
        if kind is None:
            return  # an abstract intermediate class
        if kind not in SCHEME_KINDS:
            raise TypeError(f"{cls.__name__}.kind must be one of {SCHEME_KINDS}, got {kind!r}")
        entry = ENTRY_POINTS.get(kind)
        if entry is not None and not callable(getattr(cls, entry, None)):
            raise TypeError(f"{cls.__name__} declares kind {kind!r} and must define {entry}(...)")

    def forward(self, *args: object, **kwargs: object) -> object:
        """The entry point of this scheme's kind."""
        entry = ENTRY_POINTS.get(self.kind)  # type: ignore[arg-type]
        if entry is None:
            raise TypeError(f"{type(self).__name__} (kind {self.kind!r}) has no entry point")
        return getattr(self, entry)(*args, **kwargs)


def check_scheme(scheme: object, *, kinds: tuple[str, ...] = SCHEME_KINDS) -> None:
    """Raise ``TypeError`` unless ``scheme`` is a :class:`PositionScheme` of one of ``kinds``."""
    if isinstance(scheme, PositionScheme) and scheme.kind in kinds:
        return
    if isinstance(scheme, PositionScheme):
        what = f"a {type(scheme).__name__} of kind {scheme.kind!r}"
    elif isinstance(scheme, str):
        what = f"the string {scheme!r} (build it with posemb.scheme({scheme!r}, ...))"
    else:
        what = f"an object of type {type(scheme).__name__}"
    raise TypeError(
        f"scheme must be None (NoPE) or a posemb.PositionScheme of kind {kinds}, got {what}. "
        f"Schemes by name: posemb.scheme(name, ...) with a name from posemb.SCHEME_NAMES; "
        "your own: subclass posemb.PositionScheme and set kind"
    )


class NoPE(PositionScheme):
    """No positional encoding (kind ``"none"``). Book chapter: "NoPE and CoPE".

    Without a causal mask attention is then permutation-equivariant: permuting the tokens
    permutes the outputs the same way (Kazemnejad et al. 2023). ``forward(q, k, ...)``
    returns ``q`` and ``k`` unchanged; :class:`MultiHeadAttention` does not call it.
    """

    kind = "none"

    def forward(self, *args: object, **kwargs: object) -> object:
        if self.kind != "none":  # a subclass that declares another kind: its entry point
            return super().forward(*args, **kwargs)
        q, k = args[:2]
        return q, k


def _check_positions_follow(positions: torch.Tensor, cached: torch.Tensor) -> None:
    """Explicit positions of new tokens must come after every cached one, per sequence
    (a repeated or earlier position would put two keys at one place)."""
    last = cached[..., -1:]  # [1] or [b, 1]
    if bool((positions.min(dim=-1, keepdim=True).values <= last).any()):
        raise ValueError(
            f"positions of the new tokens must be greater than the last cached position "
            f"{last.flatten().tolist()[:4]}, got {positions.flatten().tolist()[:8]}: "
            "pass positions that continue the sequence, or leave positions=None"
        )


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer (decoding).

    Holds the keys after the scheme's rotation (RoPE and xPos rotate a key once, by its own
    position, so cached keys never change), the values, and the keys' positions. Pass the
    same object to :meth:`MultiHeadAttention.forward` at every step; it grows by the new
    tokens. One cache serves one layer: the first layer that appends owns it, and another
    layer passing it raises (give each layer its own). Shapes: ``k`` ``[b, h_kv, t, d]``,
    ``v`` ``[b, h_kv, t, dv]``, ``positions`` ``[t]`` or ``[b, t]``.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Empty the cache and release it from its layer and scheme (for a new sequence)."""
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self._owner: int | None = None
        self._scheme: object = None

    def claim(self, owner: object, scheme: object = None) -> None:
        """Tie the cache to the layer ``owner`` and the position scheme it fills the cache
        with (done by the first call); refuse another layer, or the same layer with another
        scheme (its cached keys were rotated or biased by the first one).

        Args:
            owner: the attention layer that fills the cache (compared by identity).
            scheme: the layer's position scheme, or None (compared by identity).

        Raises:
            ValueError: the cache belongs to another layer, or was filled with another scheme.
        """
        if self._owner is None:
            self._owner, self._scheme = id(owner), scheme
            return
        if self._owner != id(owner):
            raise ValueError(
                "this KVCache already holds the keys of another attention layer: give every "
                "layer its own posemb.KVCache"
            )
        if self._scheme is not scheme:
            raise ValueError(
                f"this KVCache was filled with scheme {type(self._scheme).__name__}, and the "
                f"layer now has {type(scheme).__name__}: the cached keys belong to the first; "
                "call cache.reset() and run the prompt again"
            )

    def next_positions(self, n: int, device: torch.device) -> torch.Tensor:
        """Positions that continue the cached ones: ``last + 1 .. last + n`` per sequence
        (``0 .. n - 1`` when empty), ``[n]`` or ``[b, n]`` like the cached positions.

        Args:
            n: how many new tokens need positions.
            device: where to put the positions.
        """
        if self.positions is None or self.positions.shape[-1] == 0:
            return torch.arange(n, device=device)
        last = self.positions[..., -1:]  # [1] or [b, 1]
        return last.to(device) + 1 + torch.arange(n, device=device)

    @property
    def length(self) -> int:
        """How many tokens are cached (``t``)."""
        return 0 if self.k is None else self.k.shape[2]

    def append(
        self, k: torch.Tensor, v: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Add the new tokens' ``k``, ``v``, ``positions``; return the whole cache.

        Args:
            k: ``[b, h_kv, n, d]`` keys of the new tokens (after the scheme's rotation).
            v: ``[b, h_kv, n, dv]`` values of the new tokens.
            positions: ``[n]`` or ``[b, n]`` positions of the new tokens.

        Returns:
            ``(k, v, positions)`` of every cached token: ``[b, h_kv, t, d]``,
            ``[b, h_kv, t, dv]`` and ``[t]`` or ``[b, t]``.
        """
        if self.k is None:
            self.k, self.v, self.positions = k, v, positions
        else:
            if k.dtype != self.k.dtype:
                raise ValueError(
                    f"the cache holds keys of dtype {self.k.dtype}, the new keys are "
                    f"{k.dtype}: convert the module (or reset the cache) so that they agree"
                )
            if k.shape[0] != self.k.shape[0] or k.shape[1] != self.k.shape[1]:
                raise ValueError(
                    f"the cache holds keys [b, h_kv, t, d]={tuple(self.k.shape)}, the new keys "
                    f"have shape {tuple(k.shape)}: batch and heads must agree"
                )
            old = self.positions
            if old.dim() != positions.dim():  # mix of [t] and [b, n]: store per sequence
                b = k.shape[0]
                old = old.expand(b, -1) if old.dim() == 1 else old
                positions = positions.expand(b, -1) if positions.dim() == 1 else positions
            self.k = torch.cat((self.k, k), dim=2)
            self.v = torch.cat((self.v, v), dim=2)
            self.positions = torch.cat((old, positions), dim=-1)
        return self.k, self.v, self.positions  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"KVCache(length={self.length})"


def causal_mask(
    q_len: int, k_len: int, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Boolean ``[q, k]`` mask, true where query ``i`` may attend key ``j``.

    Queries are the *last* ``q_len`` of the ``k_len`` keys (bottom-right alignment, as when
    decoding with a key/value cache): query ``i`` sits at position ``i + k_len - q_len`` and
    sees keys ``j <= i + k_len - q_len``.

    Args:
        q_len: number of queries ``q``; at most ``k_len``.
        k_len: number of keys ``k``.
        device: where to build the mask.
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
    check_bool("causal", causal)
    check_bool("need_weights", need_weights)
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
        if not bias.is_floating_point():
            raise TypeError(
                f"bias must be a floating tensor added to the logits, got dtype {bias.dtype} "
                "(a boolean mask would be added as 0/1; use causal=True or a float bias with "
                "-inf where keys are hidden)"
            )
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


def _repeat_kv(t: torch.Tensor, groups: int) -> torch.Tensor:
    """``[b, h_kv, t, d]`` -> ``[b, h_kv * groups, t, d]``: each key/value head serves
    ``groups`` consecutive query heads (grouped-query attention, Ainslie et al. 2023)."""
    if groups == 1:
        return t
    b, hk, n, d = t.shape
    return t[:, :, None].expand(b, hk, groups, n, d).reshape(b, hk * groups, n, d)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention that takes any positional scheme.

    The scheme's kind decides what happens (see the module docstring): ``"rotate"``
    schemes turn q and k after the projections, ``"bias"`` and ``"content_bias"`` schemes
    add to the scaled logits, ``"none"`` (or ``scheme=None``) is NoPE. ``"embed"`` schemes
    belong at a model's input and are refused here, as is anything that is not a
    :class:`PositionScheme`. A scheme's ``num_heads`` and ``head_dim``, when it has them,
    must match; a ``causal_only`` scheme (CoPE) needs ``causal=True``. Book chapter:
    "NoPE and CoPE" (the module itself), with each scheme in its own chapter.

    Args:
        dim: model width; must be divisible by ``num_heads``.
        num_heads: number of query heads ``h``.
        scheme: a :class:`PositionScheme`, or ``None`` for NoPE.
        causal: mask future tokens (keys after the query; with a cache the queries are the
            last keys).
        bias: use biases in the q/k/v/output projections.
        num_kv_heads: key/value heads ``h_kv`` (grouped-query attention; default ``h``);
            must divide ``h``. ``1`` is multi-query attention.
        register_scheme: register ``scheme`` as a submodule (default). A model that shares
            one scheme between layers registers it once itself and passes False.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        scheme: PositionScheme | None = None,
        causal: bool = False,
        bias: bool = True,
        *,
        num_kv_heads: int | None = None,
        register_scheme: bool = True,
    ) -> None:
        super().__init__()
        check_int("dim", dim, minimum=1)
        check_int("num_heads", num_heads, minimum=1)
        if dim % num_heads:
            raise ValueError(
                f"dim must be divisible by num_heads, got dim={dim}, num_heads={num_heads}"
            )
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        check_int("num_kv_heads", num_kv_heads, minimum=1)
        if num_heads % num_kv_heads:
            raise ValueError(f"num_kv_heads must divide num_heads={num_heads}, got {num_kv_heads}")
        if not isinstance(causal, bool):
            raise TypeError(f"causal must be True or False, got {causal!r}")
        self.dim = dim
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = dim // num_heads
        self.causal = causal
        if scheme is not None:
            if isinstance(scheme, PositionScheme) and scheme.kind == "embed":
                raise TypeError(
                    f"scheme {type(scheme).__name__} has kind 'embed': it is added to the "
                    "token embeddings at a model's input (x + scheme(positions)), not inside "
                    f"attention, which takes kinds {_ATTENTION_KINDS}"
                )
            check_scheme(scheme, kinds=_ATTENTION_KINDS)
            if scheme.causal_only and not causal:
                raise ValueError(
                    f"scheme {type(scheme).__name__} is only defined for causal attention "
                    "(it counts over earlier keys; future keys would get a bias): "
                    "use causal=True"
                )
            if getattr(scheme, "bidirectional", True) is False and not causal:
                raise ValueError(
                    f"scheme {type(scheme).__name__} was built with bidirectional=False: "
                    "future keys would share the bucket of distance 0; use causal=True, or "
                    "build the scheme with bidirectional=True for attention without a mask"
                )
            for name, want in (("num_heads", num_heads), ("head_dim", self.head_dim)):
                have = getattr(scheme, name, None)
                if have is not None and have != want:
                    raise ValueError(
                        f"scheme {type(scheme).__name__} has {name}={have}, but this "
                        f"attention has {name}={want} (dim={dim}, num_heads={num_heads})"
                    )
        kv_dim = num_kv_heads * self.head_dim
        self.qkv = nn.Linear(dim, dim + 2 * kv_dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)
        if register_scheme:
            self.scheme = scheme
        else:  # shared: the owner registers it once
            object.__setattr__(self, "scheme", scheme)

    def forward(
        self,
        x: torch.Tensor,
        *,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend over ``x`` ``[b, n, dim]``.

        Args:
            x: ``[b, n, dim]`` input (the new tokens when decoding with a cache).
            positions: ``[n]`` or ``[b, n]`` positions of the tokens in ``x``; default
                ``0 .. n - 1``, or with a non-empty ``cache`` the positions that follow its
                last cached one, per sequence.
            cache: a :class:`KVCache` to read earlier keys and values from and to append
                this call's to (decoding one or more tokens at a time).
            need_weights: also return weights ``[b, h, n, t + n]``.
        """
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(
                f"x must have shape [b, n, dim={self.dim}], "
                f"got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
            )
        check_bool("need_weights", need_weights)
        if cache is not None:
            if not isinstance(cache, KVCache):
                raise TypeError(
                    f"cache must be a posemb.KVCache or None, got {type(cache).__name__}"
                )
            if not getattr(self.scheme, "cache_safe", True):
                raise ValueError(
                    f"scheme {type(self.scheme).__name__} changes its frequencies with the "
                    "sequence length (dynamic NTK, LongRoPE without a fixed seq_len), so keys "
                    "cached at an earlier length no longer match; fix seq_len in the scheme, "
                    "or recompute without a cache"
                )
            cache.claim(self, self.scheme)
        b, n, _ = x.shape
        if positions is None:
            positions = (
                torch.arange(n, device=x.device)
                if cache is None
                else cache.next_positions(n, x.device)
            )  # [n] or [b, n]
        else:
            positions = as_positions(positions).to(x.device)
            check_seq_positions("positions", positions, n, batch=b)
            if cache is not None and cache.length and not torch.compiler.is_compiling():
                _check_positions_follow(positions, cache.positions)
        h, hk, d = self.num_heads, self.num_kv_heads, self.head_dim
        q, k, v = self.qkv(x).split((h * d, hk * d, hk * d), dim=-1)
        q = q.view(b, n, h, d).transpose(1, 2)  # [b, h, n, d]
        k = k.view(b, n, hk, d).transpose(1, 2)  # [b, h_kv, n, d]
        v = v.view(b, n, hk, d).transpose(1, 2)  # [b, h_kv, n, d]
        kind = None if self.scheme is None else self.scheme.kind
        if kind == "rotate":
            shapes = (q.shape, k.shape)
            q, k = self.scheme(q, k, positions, positions)  # each rotated by its own position
            if (getattr(q, "shape", None), getattr(k, "shape", None)) != shapes:
                raise ValueError(
                    f"scheme {type(self.scheme).__name__}.rotate_qk must return q and k of the "
                    f"shapes it was given, {tuple(shapes[0])} and {tuple(shapes[1])}"
                )
        k_positions = positions
        if cache is not None:
            k, v, k_positions = cache.append(k, v, positions)  # [b, h_kv, t + n, d]
        k, v = _repeat_kv(k, h // hk), _repeat_kv(v, h // hk)  # [b, h, t + n, d]
        pos_bias = None
        if kind == "bias":
            pos_bias = self.scheme(positions, k_positions)  # [h, n, t+n] or [b, h, n, t+n]
        elif kind == "content_bias":
            pos_bias = self.scheme(q, k, positions, k_positions)  # [b, h, n, t + n]
        result = attention(q, k, v, bias=pos_bias, causal=self.causal, need_weights=need_weights)
        out, weights = result if need_weights else (result, None)
        out = self.out(out.transpose(1, 2).reshape(b, n, self.dim))  # [b, n, dim]
        return (out, weights) if need_weights else out

    def extra_repr(self) -> str:
        text = f"dim={self.dim}, num_heads={self.num_heads}, causal={self.causal}"
        if self.num_kv_heads != self.num_heads:
            text += f", num_kv_heads={self.num_kv_heads}"
        return text
