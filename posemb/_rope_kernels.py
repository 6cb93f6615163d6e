"""Fast RoPE rotation kernels behind :func:`posemb.apply_rope` (private; no autograd).

Notation as in :mod:`posemb.rotary`: ``n`` sequence length, ``d`` head dim, ``r`` rotary dim
(even, ``r <= d``), ``...`` any leading shape. A pair ``(a, b)`` with cos/sin entries
``(c, s)`` becomes ``(a*c - b*s, b*c + a*s)``; the pairs are ``(i, i + r/2)`` for
``layout="half"`` and ``(2i, 2i + 1)`` for ``"interleaved"``. ``cos``/``sin`` are laid out
over the ``r`` features (both members of a pair carry the same entry).

Two implementations:

* :func:`rope_eager_into`, plain ATen kernels. In float32/float64 it returns bit for bit
  the textbook formula ``x*cos + rotate(x)*sin`` (``rotate`` maps ``(a, b)`` to
  ``(-b, a)``) with every product rounded on its own. That rules out ``addcmul`` (a fused
  multiply-add: it differed from the formula in about a quarter of the elements) and the
  complex multiplication trick for the interleaved layout (exact in ATen's vectorised loop,
  but its scalar loop, which handles the tail of every thread's range, is compiled with
  fused multiply-adds). In float16/bfloat16 it computes in float32 and rounds once at the
  end; the float32 product of two half-precision numbers is exact, so the result is the
  float32 formula rounded to ``x.dtype`` whichever path, fused or not, computed it.
* :func:`compiled_rope`, the same formula fused by ``torch.compile`` (inductor) into one
  pass, or ``None`` where compiling is not possible.

Speed, q and k ``[1, 32, 4096, 128]`` float32, 2-core x86_64, as multiples of the memory
floor ``q * 1.0, k * 1.0``: ``benchmarks/rope_speed.py``, figures in ``benchmarks/README.md``.
"""

from __future__ import annotations

import math
import threading
import time
import types
import warnings
import weakref
from collections.abc import Callable, Iterator

import torch

__all__ = ["rope_eager_into", "compiled_rope", "compiled_available"]

# Elements of ``x[..., :r]`` per block of the eager kernel. A block is a run of ``x`` in
# memory order (for ``[1, 32, 4096, 128]``: two heads, 4 MiB of float32), so the kernel
# that reads ``x`` streams it, and the block's working set (``x``, the products, twice its
# size, and ``out``: ~16 MiB) stays in the 32 MiB L3 cache between its two kernels.
# Measured at rest on [1, 32, 4096, 128] float32, x floor over three runs: 2**17 1.51-1.56,
# 2**18 1.36-1.40, 2**19 1.30-1.35, 2**20 1.24-1.30 (smaller blocks pay more per-kernel
# overhead). Blocks cutting the sequence dim of all 32 heads (as ``posemb.apply_rope``
# chunks today) were ~5% slower than whole heads. Under CPU contention every threaded
# kernel may wait for a descheduled thread, so fewer, larger blocks also degrade less.
_CHUNK_ELEMENTS = 1 << 20

_LOW_PRECISION = (torch.float16, torch.bfloat16)


# ----------------------------------------------------------------------------- eager


def _pair_views(t: torch.Tensor, r: int, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The two members of every rotated pair of ``t[..., :r]``, as views ``[..., r/2]``."""
    if layout == "half":
        return t[..., : r // 2], t[..., r // 2 : r]
    return t[..., 0:r:2], t[..., 1:r:2]


def _blocks(shape: torch.Size, r: int) -> Iterator[tuple[slice, ...]]:
    """Split the positions ``shape`` (``x.shape[:-1]``, i.e. ``[..., n]``) into blocks.

    Each block is a tuple of slices, one per dim of ``shape``, covering ~``_CHUNK_ELEMENTS /
    r`` positions, in row-major order: the innermost dims whole, one dim cut into ranges,
    the dims outside it one index at a time. Slices (never ints) keep every dim.
    """
    inner = r  # elements under one index of dim k
    k = len(shape) - 1
    while k > 0 and inner * shape[k] <= _CHUNK_ELEMENTS:
        inner *= shape[k]
        k -= 1
    if inner * shape[k] <= _CHUNK_ELEMENTS:  # everything fits: one block
        yield tuple(slice(None) for _ in shape)
        return
    step = max(1, _CHUNK_ELEMENTS // inner)
    whole = tuple(slice(None) for _ in shape[k + 1 :])

    def outer(dim: int) -> Iterator[tuple[slice, ...]]:
        if dim == k:
            for start in range(0, shape[k], step):
                yield (slice(start, min(shape[k], start + step)),)
            return
        for i in range(shape[dim]):
            for rest in outer(dim + 1):
                yield (slice(i, i + 1), *rest)

    for head in outer(0):
        yield head + whole


def _table_block(table: torch.Tensor, block: tuple[slice, ...], extra: int) -> torch.Tensor:
    """The part of ``table`` ``[..., n, *E]`` (``extra = len(E)`` trailing dims) that
    broadcasts against the positions ``block`` of ``x``; dims of size 1 (broadcast) stay."""
    own = table.dim() - extra  # table's dims that align with the end of x.shape[:-1]
    index = []
    for i, piece in enumerate(block[len(block) - own :] if own else ()):
        index.append(piece if table.shape[i] != 1 else slice(None))
    return table[tuple(index)]


# Per thread, the last table built, ``(key, table)``: ``apply_rope`` rotates q and then k
# with the same cos/sin, and a model's layers share them. The key holds weak references, so
# it keeps neither tensor alive, and their version counters, so an in-place change misses.
# A miss with the same table shape refills the old table's memory (no fresh page faults).
_thread = threading.local()


def _table(
    cos: torch.Tensor,  # [..., n, r] or [r]
    sin: torch.Tensor,  # [..., n, r] or [r]
    r: int,
    layout: str,
    dtype: torch.dtype,
) -> torch.Tensor:  # half [..., n, 2, 2, r/2]; interleaved [..., n, 2, r]
    """The per-position coefficients of :func:`_rope_blocks_into`, from ``cos``/``sin``.

    Half layout: ``t[..., j, j', :]`` multiplies pair member ``j'`` into output member ``j``:
    ``[[c, -s], [s, c]]``, each ``[..., n, r/2]``. Interleaved: ``[cos, sin]``. Remembered
    for the next call with the same (unmodified) ``cos`` and ``sin`` objects.
    """
    versions = _version(cos), _version(sin)
    last = getattr(_thread, "table", None)
    if last is not None and None not in versions:
        (cos_ref, sin_ref, last_versions, *rest), table = last
        same = cos_ref() is cos and sin_ref() is sin
        if same and last_versions == versions and rest == [r, layout, dtype]:
            return table
    h = r // 2
    shape = (*cos.shape[:-1], 2, 2, h) if layout == "half" else (*cos.shape[:-1], 2, r)
    old = last[1] if last is not None else None
    wanted = (math.prod(shape), dtype, cos.device)
    if old is not None and (old.numel(), old.dtype, old.device) == wanted:
        table = old.view(shape)  # refill: same size, memory already mapped
    else:
        table = torch.empty(shape, dtype=dtype, device=cos.device)
    _thread.table = None  # its contents are about to change
    if layout == "half":
        c, s = cos[..., :h], sin[..., :h]  # [..., n, r/2]
        table[..., 0, 0, :] = c
        table[..., 0, 1, :] = s
        table[..., 0, 1, :].neg_()  # -s: negating is exact
        table[..., 1, 0, :] = s
        table[..., 1, 1, :] = c
    else:
        table[..., 0, :] = cos
        table[..., 1, :] = sin
    if None not in versions:
        _thread.table = ((weakref.ref(cos), weakref.ref(sin), versions, r, layout, dtype), table)
    return table


def _version(t: torch.Tensor) -> int | None:
    """``t``'s version counter (bumped by every in-place change), or None where it has none
    (inference-mode tensors)."""
    try:
        return t._version
    except RuntimeError:
        return None


# Per-thread scratch for the products, kept between calls: at most 2 * _CHUNK_ELEMENTS
# elements per dtype and device (8 MiB in float32). A fresh buffer per call paid its page
# faults every time (~1 ms per 4 MiB here: +40% of the floor on a [1, 8, 1024, 128] x).


def _scratch(numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A 1-d buffer of at least ``numel`` elements, this thread's own, reused across calls."""
    buffers = getattr(_thread, "buffers", None)
    if buffers is None:
        buffers = _thread.buffers = {}
    buffer = buffers.get((dtype, device))
    if buffer is None or buffer.numel() < numel:
        buffer = buffers[dtype, device] = torch.empty(numel, dtype=dtype, device=device)
    return buffer[:numel]


def _rope_blocks_into(
    out: torch.Tensor,  # [..., n, d], written in [..., :r]
    x: torch.Tensor,  # [..., n, d]
    cos: torch.Tensor,  # [..., n, r] or [r], broadcast against x
    sin: torch.Tensor,  # [..., n, r] or [r]
    r: int,
    layout: str,
    compute_dtype: torch.dtype,
) -> None:
    """Two kernels per block: all products into a cache-resident buffer, then the sums.

    Half layout: view every position's ``r`` features as ``[2, r/2]`` (member ``j'`` of each
    pair, pair ``i``); output member ``j`` is ``sum_j' x[j'] * t[j, j']`` with the per-pair
    matrix ``t = [[c, -s], [s, c]]``. Kernel 1 multiplies ``x`` ``[..., 1, 2, r/2]`` by the
    table ``[..., n, 2, 2, r/2]`` into ``p`` ``[..., 2, 2, r/2]`` (``x`` read once); kernel 2
    adds ``p[..., 0, :] + p[..., 1, :]`` straight into ``out``: ``a*c + b*(-s)`` and
    ``a*s + b*c``, the formula's products and sums each rounded once. Both kernels run
    over contiguous rows of ``r/2`` or more. (An elementwise kernel can't do the rotation
    over views of ``x``: sending half ``j`` to half ``1 - j`` needs a negative stride.)

    Interleaved layout: the same with the table ``[cos, sin]``
    ``[..., n, 2, r]``, then ``out_even = (a*c) - (b*s)``, ``out_odd = (b*c) + (a*s)`` as
    two kernels over stride-2 views.

    In float16/bfloat16 the table and ``p`` are float32 and the sums are cast to
    ``out.dtype`` as they are stored: one rounding.
    """
    h = r // 2
    table = _table(cos, sin, r, layout, compute_dtype)
    extra = 3 if layout == "half" else 2
    positions = x.shape[:-1]  # [..., n]
    blocks = list(_blocks(positions, r))
    first = x[blocks[0]]
    buffer = _scratch(first.numel() // first.shape[-1] * 2 * r, compute_dtype, x.device)
    for block in blocks:
        xb = x[block][..., :r]  # [..., m, r]
        tb = _table_block(table, block, extra)
        ob = out[block]  # [..., m, d]
        p = buffer[: xb.numel() * 2]
        if layout == "half":
            p = p.view(*xb.shape[:-1], 2, 2, h)  # [..., m, j, j', r/2]
            torch.mul(xb.unflatten(-1, (1, 2, h)), tb, out=p)
            torch.add(p[..., 0, :], p[..., 1, :], out=ob[..., :r].unflatten(-1, (2, h)))
        else:
            p = p.view(*xb.shape[:-1], 2, r)  # [..., m, (x*cos, x*sin), r]
            torch.mul(xb.unsqueeze(-2), tb, out=p)
            xc_a, xc_b = _pair_views(p[..., 0, :], r, layout)  # a*c, b*c: [..., m, r/2]
            xs_a, xs_b = _pair_views(p[..., 1, :], r, layout)  # a*s, b*s
            out_a, out_b = _pair_views(ob, r, layout)
            torch.sub(xc_a, xs_b, out=out_a)  # a*c - b*s
            torch.add(xc_b, xs_a, out=out_b)  # b*c + a*s


def rope_eager_into(
    out: torch.Tensor,
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    r: int,
    layout: str,
) -> torch.Tensor:
    """Write the rotation of ``x[..., :r]`` into ``out[..., :r]`` and return ``out``.

    Shapes: ``x`` ``[..., n, d]`` (any strides) or ``[d]``, ``out`` of ``x``'s shape,
    ``cos``/``sin`` ``[..., n, r]`` or ``[r]``, broadcasting against ``x`` without enlarging
    it. The caller has validated shapes and ``layout`` (``"half"`` or ``"interleaved"``),
    cast ``cos``/``sin`` to ``x.dtype``, allocated ``out`` (contiguous is fastest) and copied
    ``x[..., r:]`` into it; ``out`` must not overlap ``x``. No autograd: call under
    ``torch.no_grad()`` or with tensors that don't require grad.

    Results: float32/float64 bit for bit the textbook formula ``x*cos + rotate(x)*sin`` with
    separately rounded products (and signed zeros as it gives them); float16/bfloat16 that
    formula computed in float32 and rounded once to ``x.dtype``. See
    :func:`_rope_blocks_into` for how.
    """
    if x.numel() == 0:
        return out
    if x.dim() < 2:  # [d]: one position
        rope_eager_into(out.unsqueeze(0), x.unsqueeze(0), cos, sin, r, layout)
        return out
    compute = torch.float32 if x.dtype in _LOW_PRECISION else x.dtype
    _rope_blocks_into(out, x, cos, sin, r, layout, compute)
    return out


# ----------------------------------------------------------------------------- compiled


def _rope_formula(layout: str, low_precision: bool) -> Callable[..., torch.Tensor]:
    """The rotation for inductor to fuse, as ``f(x, cos, sin)`` for one layout and precision.

    ``x`` ``[..., n, d]``, ``cos``/``sin`` ``[..., n, r]`` (``r`` is their last dim); returns
    ``[..., n, d]``. Each call returns a closure over the same code; see :func:`_specialised`.
    """

    def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        r = cos.shape[-1]
        h = r // 2
        y = x[..., :r]  # [..., n, r]
        if low_precision:  # compute in float32, round once below
            y, cos, sin = y.float(), cos.float(), sin.float()
        if layout == "half":
            a, b = y[..., :h], y[..., h:]  # [..., n, r/2]
            c, s = cos[..., :h], sin[..., :h]
            rotated = torch.cat((a * c - b * s, b * c + a * s), dim=-1)  # [..., n, r]
        else:
            a, b = y[..., 0::2], y[..., 1::2]  # [..., n, r/2]
            c, s = cos[..., 0::2], sin[..., 0::2]
            rotated = torch.stack((a * c - b * s, b * c + a * s), dim=-1).flatten(-2)
        return torch.cat((rotated.to(x.dtype), x[..., r:]), dim=-1)  # [..., n, d]

    return rope


def _specialised(layout: str, dtype: torch.dtype, tag: str = "") -> Callable[..., torch.Tensor]:
    """:func:`_rope_formula`'s closure for ``(layout, dtype)``, with a code object of its own.

    Dynamo keeps its compiled variants, and counts them against its recompile limit (8), per
    code object: closures of one ``def`` share theirs, so each key gets a copy. Its name
    (plus ``tag``) also keys dynamo's memory of which dims changed between calls.
    """
    rope = _rope_formula(layout, dtype in _LOW_PRECISION)
    name = f"rope_{layout}_{str(dtype).removeprefix('torch.')}{tag}"
    code = rope.__code__.replace(co_name=name)
    return types.FunctionType(code, rope.__globals__, name, rope.__defaults__, rope.__closure__)


def _shape_marked(t: torch.Tensor) -> torch.Tensor:
    """A view of ``t`` ``[..., n, f]`` whose leading and sequence dims dynamo treats as
    dynamic and whose feature dim (``d`` or ``r``) as static.

    ``torch.compile(dynamic=True)`` makes every dim symbolic; with a symbolic ``r`` inductor
    could not prove the two halves the same size and emitted two unfused, single-threaded
    loops (4x the floor in cache, against 2.6x with static shapes). Marking only the other
    dims keeps one parallel, vectorised loop with ``r`` and ``d`` as constants, and a new
    length, batch or head count reuses it. The marks go on a fresh view, not the caller's
    tensor. Dims of size 1 stay specialised (dynamo's 0/1 rule).
    """
    view = t.view(t.shape)
    for dim in range(t.dim() - 1):
        torch._dynamo.maybe_mark_dynamic(view, dim)
    torch._dynamo.mark_static(view, t.dim() - 1)
    return view


class _CompiledRope:
    """``(x, cos, sin, r) -> Tensor``: the compiled rotation, eager if compiling fails."""

    def __init__(self, layout: str, dtype: torch.dtype, tag: str = "") -> None:
        self.layout = layout
        self.dtype = dtype
        self.fn = torch.compile(_specialised(layout, dtype, tag), fullgraph=True)
        self.failed = False

    def compiled(
        self,
        x: torch.Tensor,  # [..., n, d]
        cos: torch.Tensor,  # [..., n, r]
        sin: torch.Tensor,  # [..., n, r]
    ) -> torch.Tensor:  # [..., n, d]
        """The compiled call itself (raises if compiling fails)."""
        with torch.no_grad():  # one grad mode, one compiled variant
            return self.fn(_shape_marked(x), _shape_marked(cos), _shape_marked(sin))

    def __call__(
        self,
        x: torch.Tensor,  # [..., n, d], dtype self.dtype
        cos: torch.Tensor,  # [..., n, r], dtype self.dtype
        sin: torch.Tensor,  # [..., n, r]
        r: int,
    ) -> torch.Tensor:  # [..., n, d]
        if not self.failed:
            try:
                return self.compiled(x, cos, sin)
            except Exception as error:  # compiling failed: remember, warn once, go eager
                self.failed = True
                _FAILED.add((self.layout, self.dtype))
                warnings.warn(
                    f"posemb: torch.compile of the {self.layout} RoPE kernel for "
                    f"{self.dtype} failed ({type(error).__name__}: {error}); using the eager "
                    "kernel from now on",
                    RuntimeWarning,
                    stacklevel=2,
                )
        out = torch.empty_like(x, memory_format=torch.contiguous_format)  # [..., n, d]
        if r < x.shape[-1]:
            out[..., r:] = x[..., r:]
        return rope_eager_into(out, x, cos, sin, r, self.layout)


_LOCK = threading.RLock()
_COMPILED: dict[tuple[str, torch.dtype], _CompiledRope] = {}
_FAILED: set[tuple[str, torch.dtype]] = set()
_AVAILABLE: bool | None = None
# Seconds the probe in compiled_available() took (the first compile), or None before it.
probe_seconds: float | None = None


def compiled_available() -> bool:
    """Whether ``torch.compile`` works here; tried once (a small compile), then cached.

    The probe compiles and runs the half-layout float32 kernel on ``x`` ``[1, 2, 3, 8]``
    and checks it against :func:`rope_eager_into`; any exception (no C++ compiler, a
    Python/torch combination dynamo doesn't support, ...) or a wrong result means False,
    never an exception. It costs a full compile (seconds, see ``benchmarks/README.md``;
    :data:`probe_seconds` records it) and, its head dim being 8, serves no real call.
    """
    global _AVAILABLE, probe_seconds
    with _LOCK:
        if _AVAILABLE is None:
            _AVAILABLE = False
            start = time.perf_counter()
            try:
                if torch._dynamo.is_dynamo_supported():
                    angles = torch.arange(12, dtype=torch.float64).view(3, 4) / 7  # [n, r/2]
                    cos = torch.cat((angles.cos(), angles.cos()), -1).float()  # [n, r]
                    sin = torch.cat((angles.sin(), angles.sin()), -1).float()
                    x = torch.linspace(-2.0, 2.0, 48).view(1, 2, 3, 8)  # [b, h, n, d]
                    fn = _CompiledRope("half", torch.float32)
                    with torch.no_grad():
                        got = fn.compiled(x, cos, sin)
                        want = rope_eager_into(torch.empty_like(x), x, cos, sin, 8, "half")
                    _AVAILABLE = torch.allclose(got, want, rtol=1e-6, atol=1e-6)
                    if _AVAILABLE:
                        _COMPILED["half", torch.float32] = fn
            except Exception:  # anything at all: compiling is not possible here
                _AVAILABLE = False
            probe_seconds = time.perf_counter() - start
        return _AVAILABLE


def compiled_rope(
    layout: str, dtype: torch.dtype
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor] | None:
    """The fused rotation ``f(x, cos, sin, r) -> out`` for ``layout`` and ``dtype``, or None.

    ``f`` takes ``x`` ``[..., n, d]`` of ``dtype`` and ``cos``/``sin`` ``[..., n, r]`` cast to
    ``dtype`` (``r`` must equal their last dim), validated as for :func:`rope_eager_into`,
    and returns a new contiguous ``[..., n, d]``: ``x[..., :r]`` rotated, ``x[..., r:]``
    copied, computed under ``torch.no_grad()``. It is ``torch.compile(..., fullgraph=True)``
    of the formula with every dim but the last marked dynamic (:func:`_shape_marked`),
    cached per ``(layout, dtype)``: a new length, batch or head count reuses the compiled
    kernel; a new ``d`` or ``r``, rank, broadcast pattern, stride pattern or a dim of size 1
    (dynamo specialises sizes 0 and 1) compiles another variant, up to dynamo's limit of 8
    per key (beyond it dynamo runs the formula uncompiled: same numbers, slower).

    Numbers: half precision computes in float32 and rounds once, as the eager kernel, so the
    two agree exactly. In float32/float64 inductor here emits separate multiplies and
    compiles with ``-ffp-contract=off``, and the results matched the textbook formula bit for
    bit; the tests allow ``4 eps (|a| + |b|)`` per pair in case a build fuses multiply-adds.

    Cost, measured on 2 cores (``benchmarks/rope_speed.py``): the first call of each variant
    compiles, 0.25-0.35 s with inductor's on-disk cache warm (~6-11 eager calls on
    ``[1, 32, 4096, 128]``), ~1.2 s from scratch; :func:`compiled_available`'s probe, the
    process's first compile, takes 3.6-3.8 s warm and ~11 s from scratch. Returns None where
    :func:`compiled_available` is False or compiling this key failed before; a failure in a
    later call warns once (``RuntimeWarning``) and falls back to :func:`rope_eager_into`,
    so ``f`` never raises for a failed compile.
    """
    if (layout, dtype) in _FAILED or not compiled_available():
        return None
    with _LOCK:
        fn = _COMPILED.get((layout, dtype))
        if fn is None:
            try:
                fn = _CompiledRope(layout, dtype)
            except Exception:
                _FAILED.add((layout, dtype))
                return None
            _COMPILED[layout, dtype] = fn
        return fn
