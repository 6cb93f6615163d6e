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

import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator

import torch

__all__ = ["rope_eager_into", "compiled_rope", "compiled_available"]

# Elements of ``x[..., :r]`` per block of the eager kernel. A block is a run of ``x`` in
# memory order (for ``[1, 32, 4096, 128]``: one head, 2 MiB of float32), so the one kernel
# that reads ``x`` streams it, and its working set (the block, its products, twice its
# size, and the block of ``out``: ~8 MiB) stays in the 32 MiB L3 cache between the
# block's two kernels. Measured at rest: blocks of 2**16-2**17 elements (one L2) pay more
# in per-kernel overhead than they save; blocks spanning the sequence dim of many heads
# (the strided chunks of ``posemb.apply_rope`` today) read ``x`` as 32 short streams and
# were ~10% slower. Under CPU contention every threaded kernel may wait for a descheduled
# thread, so fewer, larger blocks also degrade less.
_CHUNK_ELEMENTS = 1 << 19

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

    Interleaved layout (and any dtype): the same with the table ``[cos, sin]``
    ``[..., n, 2, r]``, then ``out_even = (a*c) - (b*s)``, ``out_odd = (b*c) + (a*s)`` as
    two kernels over stride-2 views.

    In float16/bfloat16 the table and ``p`` are float32 and the sums are cast to
    ``out.dtype`` as they are stored: one rounding.
    """
    h = r // 2
    cos, sin = cos.to(compute_dtype), sin.to(compute_dtype)
    if layout == "half":
        c, s = cos[..., :h], sin[..., :h]  # [..., n, r/2]
        table = torch.stack((torch.stack((c, -s), -2), torch.stack((s, c), -2)), -3)
        extra = 3  # table [..., n, 2, 2, r/2]
    else:
        table = torch.stack((cos, sin), -2)  # [..., n, 2, r]
        extra = 2
    positions = x.shape[:-1]  # [..., n]
    blocks = list(_blocks(positions, r))
    first = x[blocks[0]]
    buffer = torch.empty(first.numel() // first.shape[-1] * 2 * r, dtype=compute_dtype)
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


def _specialised(layout: str, dtype: torch.dtype) -> Callable[..., torch.Tensor]:
    """:func:`_rope_formula`'s closure for ``(layout, dtype)``, with a code object of its own.

    Dynamo keeps its compiled variants, and counts them against its recompile limit (8), per
    code object: closures of one ``def`` share theirs, so each key gets a copy.
    """
    rope = _rope_formula(layout, dtype in _LOW_PRECISION)
    name = f"rope_{layout}_{str(dtype).removeprefix('torch.')}"
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

    def __init__(self, layout: str, dtype: torch.dtype) -> None:
        self.layout = layout
        self.dtype = dtype
        self.fn = torch.compile(_specialised(layout, dtype), fullgraph=True)
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
    Python/torch combination dynamo doesn't support, ...) or a wrong result means False. The
    probe is a full first compile (see :func:`compiled_rope` for its cost); its compiled
    variant serves later ``[1, h, n, d]`` calls with ``cos`` ``[n, d]``.
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
    copied. It is ``torch.compile(..., dynamic=True, fullgraph=True)`` of the formula, cached
    per ``(layout, dtype)``: a new length (or batch, heads) reuses the compiled kernel, a new
    rank, broadcast pattern, a dim of size 1 (dynamo specialises 0 and 1) or autograd
    compiles another variant. Half precision computes in float32 and rounds once, as the
    eager kernel does, so the two agree exactly there; float32/float64 agree to an ulp or
    so only if inductor reorders (``tests/test_lib_rope_kernels.py``).

    Cost: the first call of each variant compiles (C++ through inductor); measured here
    (2 cores, warm on-disk inductor cache vs cold) see ``benchmarks/README.md``. Returns
    None where :func:`compiled_available` is False or compiling this key failed before;
    a failure on a later call warns once and falls back to :func:`rope_eager_into`. Never
    raises for a failed compile.
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
