"""posemb._rope_kernels: the eager kernel is the textbook formula bit for bit, the compiled
kernel agrees with it, and neither raises where compiling is impossible."""

from __future__ import annotations

import pytest
import torch

from posemb import _rope_kernels as kernels
from posemb._rope_kernels import compiled_available, compiled_rope, rope_eager_into

LAYOUTS = ("half", "interleaved")


def spread(values: torch.Tensor, layout: str) -> torch.Tensor:
    """Per-pair ``[..., r/2]`` values laid out over ``[..., r]`` features."""
    if layout == "half":
        return torch.cat((values, values), dim=-1)
    return torch.stack((values, values), dim=-1).flatten(-2)


def cos_sin(shape: tuple[int, ...], layout: str, dtype: torch.dtype, seed: int = 1):
    """Random angles (many turns) ``[..., r/2]`` -> cos, sin ``shape`` ``[..., r]``."""
    gen = torch.Generator().manual_seed(seed)
    angles = torch.rand(*shape[:-1], shape[-1] // 2, generator=gen, dtype=torch.float64) * 60
    return spread(angles.cos(), layout).to(dtype), spread(angles.sin(), layout).to(dtype)


def textbook(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str):
    """``x*cos + rotate(x)*sin`` on the first r features, each operation its own kernel."""
    r = cos.shape[-1]
    xr = x[..., :r]
    if layout == "half":
        a, b = xr[..., : r // 2], xr[..., r // 2 :]
        rotated = torch.cat((-b, a), dim=-1)
    else:
        a, b = xr[..., 0::2], xr[..., 1::2]
        rotated = torch.stack((-b, a), dim=-1).flatten(-2)
    products = xr * cos, rotated * sin  # rounded separately
    return torch.cat((products[0] + products[1], x[..., r:]), dim=-1)


def eager(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str):
    """Call the kernel as apply_rope does: contiguous out with the pass-through copied."""
    r = cos.shape[-1]
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    out[..., r:] = x[..., r:]
    result = rope_eager_into(out, x, cos, sin, r, layout)
    assert result is out
    return out


def transposed(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """``[b, h, n, d]`` as a transpose view of ``[b, n, h, d]`` storage."""
    b, h, n, d = shape
    return torch.randn(b, n, h, d, generator=gen).transpose(1, 2)


def odd_offset(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """A view ``big[..., 1:1 + d]``: odd storage offset, rows wider than d."""
    big = torch.randn(*shape[:-1], shape[-1] + 3, generator=gen)
    return big[..., 1 : 1 + shape[-1]]


# (x shape, cos shape, how x is stored)
CASES = [
    ((2, 3, 7, 16), (7, 16), "contiguous"),  # odd n, cos broadcast over [b, h]
    ((2, 3, 7, 16), (2, 1, 7, 16), "contiguous"),  # cos per batch, broadcast over heads
    ((2, 3, 5, 16), (2, 3, 5, 16), "contiguous"),  # cos as large as x
    ((2, 3, 9, 20), (9, 12), "contiguous"),  # partial rotary r < d
    ((3, 11, 9), (11, 6), "contiguous"),  # odd d, partial: out rows at odd offsets
    ((4, 5, 16), (16,), "contiguous"),  # one cos row for every position
    ((16,), (16,), "contiguous"),  # a single position [d]
    ((2, 3, 7, 16), (7, 16), "transposed"),  # [b, n, h, d] storage seen as [b, h, n, d]
    ((2, 3, 7, 16), (7, 12), "odd offset"),  # big[..., 1:17], partial
    ((1, 4, 13, 16), (13, 16), "odd offset"),
    ((1, 4, 300, 128), (300, 128), "contiguous"),  # threaded, vectorised kernels
]


def make_x(shape, storage, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    if storage == "transposed":
        x = transposed(shape, gen)
    elif storage == "odd offset":
        x = odd_offset(shape, gen)
        assert x.storage_offset() % 2 == 1
    else:
        x = torch.randn(*shape, generator=gen)
    return x.to(dtype)


@pytest.fixture(params=[None, 40, 250], ids=["one-block", "seq-blocks", "head-blocks"])
def chunk(request, monkeypatch):
    """Default blocks; blocks cutting the sequence (ragged last one); blocks of whole heads."""
    if request.param is not None:
        monkeypatch.setattr(kernels, "_CHUNK_ELEMENTS", request.param)
    return request.param


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("x_shape, cos_shape, storage", CASES)
def test_eager_is_the_textbook_formula_bit_for_bit(
    x_shape, cos_shape, storage, dtype, layout, chunk
):
    x = make_x(x_shape, storage, dtype)
    cos, sin = cos_sin(cos_shape, layout, dtype)
    got = eager(x, cos, sin, layout)
    want = textbook(x, cos, sin, layout)
    assert got.dtype == dtype and got.shape == x.shape and got.is_contiguous()
    assert torch.equal(got, want), (got - want).abs().max()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_eager_keeps_signed_zeros_and_special_values(layout, dtype):
    x = torch.tensor([[0.0, -0.0, 1.0, -2.0], [float("inf"), 3.0, -0.0, 0.0]], dtype=dtype)
    cos = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]], dtype=dtype)
    sin = torch.tensor([[0.0, 0.0, 0.0, 0.0], [-0.0, -0.0, -0.0, -0.0]], dtype=dtype)
    got, want = eager(x, cos, sin, layout), textbook(x, cos, sin, layout)
    same = (got == want) | (got.isnan() & want.isnan())
    assert same.all()
    assert torch.equal(got.signbit(), want.signbit())


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("x_shape, cos_shape, storage", CASES[:5] + CASES[7:])
def test_eager_half_precision_is_float32_rounded_once(
    x_shape, cos_shape, storage, dtype, layout, chunk
):
    x = make_x(x_shape, storage, dtype)
    cos, sin = cos_sin(cos_shape, layout, dtype)  # cast to x.dtype, as the caller does
    got = eager(x, cos, sin, layout)
    want = textbook(x.float(), cos.float(), sin.float(), layout).to(dtype)
    assert got.dtype == dtype
    assert torch.equal(got, want)
    # and not the formula evaluated in half precision, which rounds each step
    in_dtype = textbook(x, cos, sin, layout)
    assert x.numel() < 64 or not torch.equal(got, in_dtype)


def test_eager_writes_only_the_rotated_features():
    x = torch.randn(2, 5, 10)
    cos, sin = cos_sin((5, 6), "half", torch.float32)
    out = torch.full_like(x, 7.0)
    rope_eager_into(out, x, cos, sin, 6, "half")
    assert (out[..., 6:] == 7.0).all()
    assert torch.equal(out[..., :6], textbook(x, cos, sin, "half")[..., :6])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_eager_table_reuse_sees_in_place_changes(layout):
    # the kernel remembers the coefficient table built from the last cos/sin objects
    x = make_x((2, 3, 7, 16), "contiguous", torch.float32)
    cos, sin = cos_sin((7, 16), layout, torch.float32)
    assert torch.equal(eager(x, cos, sin, layout), textbook(x, cos, sin, layout))
    cos.mul_(-0.5)  # same objects, new values
    sin[3] = 0.25
    assert torch.equal(eager(x, cos, sin, layout), textbook(x, cos, sin, layout))
    with torch.inference_mode():  # inference tensors have no version counter
        cos_i, sin_i = cos.clone(), sin.clone()
        first = eager(x, cos_i, sin_i, layout)
        cos_i.neg_()
        assert torch.equal(first, textbook(x, -cos_i, sin_i, layout))
        assert torch.equal(eager(x, cos_i, sin_i, layout), textbook(x, cos_i, sin_i, layout))


# ----------------------------------------------------------------------------- compiled

needs_compile = pytest.mark.skipif(
    not compiled_available(), reason="torch.compile is not available here"
)


def ulp_bound(x: torch.Tensor, r: int, layout: str) -> torch.Tensor:
    """``4 eps (|a| + |b|)`` for both members of every pair ``(a, b)``: ``[..., r]``.

    Inductor may fuse ``a*c - b*s`` into a multiply-add (one rounding fewer) or reorder it;
    either changes an output by a rounding or two of ``|a c| + |b s| <= |a| + |b|`` (``|c|,
    |s| <= 1``), not of the result, which may cancel: hence an absolute bound per pair.
    """
    eps = torch.finfo(x.dtype).eps
    mag = x[..., :r].abs()  # [..., r]
    if layout == "half":
        partner = mag.roll(r // 2, dims=-1)
    else:
        partner = mag.unflatten(-1, (r // 2, 2)).flip(-1).flatten(-2)
    return 4 * eps * (mag + partner)


@needs_compile
@pytest.mark.parametrize("layout", LAYOUTS)
def test_compiled_agrees_with_eager_on_two_lengths_without_recompiling(layout):
    from torch._dynamo.utils import counters

    fn = compiled_rope(layout, torch.float32)
    assert fn is not None and compiled_rope(layout, torch.float32) is fn  # cached
    # A fresh instance, under a name of its own, for counting compiles: the cached one may
    # already hold variants (the availability probe's), and dynamo's automatic dynamic shapes
    # (keyed by code name) would then make any later length reuse a dynamic graph and hide
    # a missing dynamic mark.
    fresh = kernels._CompiledRope(layout, torch.float32, tag="_test_lengths")
    compiled_graphs = []
    for n in (37, 64):
        x = make_x((1, 3, n, 16), "contiguous", torch.float32, seed=n)
        cos, sin = cos_sin((n, 16), layout, torch.float32, seed=n)
        want = eager(x, cos, sin, layout)
        for f in (fn, fresh):
            got = f(x, cos, sin, 16)
            assert got.shape == x.shape and got.dtype == x.dtype
            assert ((got - want).abs() <= ulp_bound(x, 16, layout)).all()
        compiled_graphs.append(counters["stats"]["unique_graphs"])
    assert compiled_graphs[1] == compiled_graphs[0], "a new length recompiled"


@needs_compile
@pytest.mark.parametrize("layout", LAYOUTS)
def test_compiled_partial_rotary_and_broadcast(layout):
    fn = compiled_rope(layout, torch.float64)
    x = make_x((2, 3, 9, 20), "odd offset", torch.float64)
    cos, sin = cos_sin((2, 1, 9, 12), layout, torch.float64)
    got, want = fn(x, cos, sin, 12), eager(x, cos, sin, layout)
    assert torch.equal(got[..., 12:], x[..., 12:])
    assert ((got - want)[..., :12].abs() <= ulp_bound(x, 12, layout)).all()


@needs_compile
def test_compiled_bfloat16_equals_eager_exactly():
    # float32 products of bfloat16 numbers are exact: fused or not, one rounding at the end
    fn = compiled_rope("half", torch.bfloat16)
    x = make_x((1, 2, 33, 16), "contiguous", torch.bfloat16)
    cos, sin = cos_sin((33, 16), "half", torch.bfloat16)
    got = fn(x, cos, sin, 16)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, eager(x, cos, sin, "half"))


def test_compiled_failure_is_remembered_and_never_raises(monkeypatch):
    # Simulate a machine where compiling fails at the first call (e.g. no C++ compiler).
    monkeypatch.setattr(kernels, "_COMPILED", {})
    monkeypatch.setattr(kernels, "_FAILED", set())
    monkeypatch.setattr(kernels, "_AVAILABLE", True)

    def broken(*args, **kwargs):
        def fail(*a, **k):
            raise RuntimeError("no C++ compiler")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    fn = compiled_rope("interleaved", torch.float32)
    assert fn is not None
    x = make_x((1, 2, 5, 8), "contiguous", torch.float32)
    cos, sin = cos_sin((5, 8), "interleaved", torch.float32)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        got = fn(x, cos, sin, 8)
    assert torch.equal(got, textbook(x, cos, sin, "interleaved"))
    assert compiled_rope("interleaved", torch.float32) is None  # remembered


def test_compiled_available_is_false_when_the_probe_fails(monkeypatch):
    monkeypatch.setattr(kernels, "_COMPILED", {})
    monkeypatch.setattr(kernels, "_FAILED", set())
    monkeypatch.setattr(kernels, "_AVAILABLE", None)

    def broken(*args, **kwargs):
        raise RuntimeError("dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", broken)
    assert compiled_available() is False
    assert compiled_available() is False  # cached, no second try
    assert compiled_rope("half", torch.float32) is None
