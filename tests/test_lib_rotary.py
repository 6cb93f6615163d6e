"""posemb.rotary: RoPE (both layouts, partial), the module and its cache, xPos, layouts.

* a slow loop written from RoFormer's formula (Su et al. 2021) for both layouts;
* the fast chunked path equals the textbook formula;
* properties: scores q_m . k_n depend only on m - n; explicit positions equal default ones;
  converting layouts and back is the identity; converted q/k weights give identical scores;
* xPos against torchscale's formulation (rewritten here as a loop) and its relative property;
* every error path. Parity with Hugging Face lives in tests/test_lib_parity.py.
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from posemb import (
    Rotary,
    RotaryEmbedding,
    XPos,
    apply_rope,
    apply_rope_reference,
    apply_xpos,
    convert_qk_weights,
    convert_rope_layout,
    rope_cos_sin,
    rope_permutation,
    xpos_scale,
)

LAYOUTS = ["half", "interleaved"]


def slow_rope(x, positions, base=10000.0, layout="half", rotary_dim=None):
    """RoFormer eq. (34): rotate pair i by pos * base**(-2i/r), one pair at a time (float64)."""
    *lead, n, d = x.shape
    r = d if rotary_dim is None else rotary_dim
    flat = x.double().reshape(-1, n, d)
    out = flat.clone()
    for row in range(flat.shape[0]):
        for t in range(n):
            for i in range(r // 2):
                theta = float(positions[t]) * base ** (-2 * i / r)
                a_idx, b_idx = (i, i + r // 2) if layout == "half" else (2 * i, 2 * i + 1)
                a, b = float(flat[row, t, a_idx]), float(flat[row, t, b_idx])
                out[row, t, a_idx] = a * math.cos(theta) - b * math.sin(theta)
                out[row, t, b_idx] = b * math.cos(theta) + a * math.sin(theta)
    return out.reshape(*lead, n, d)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("rotary_dim", [None, 4])
def test_rope_matches_paper_loop(layout, rotary_dim):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 8, generator=g, dtype=torch.float64)
    pos = torch.tensor([0, 1, 7, 100, 12345])
    r = 8 if rotary_dim is None else rotary_dim
    cos, sin = rope_cos_sin(pos, r, layout=layout, dtype=torch.float64)
    want = slow_rope(x, pos, layout=layout, rotary_dim=r)
    torch.testing.assert_close(apply_rope(x, cos, sin, layout), want, atol=1e-12, rtol=0)
    torch.testing.assert_close(apply_rope_reference(x, cos, sin, layout), want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("r", [64, 16])
def test_fast_path_equals_reference_on_large_inputs(layout, r):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 300, 64, generator=g)  # big enough for the chunked path
    cos, sin = rope_cos_sin(torch.arange(300), r, layout=layout)
    fast, ref = apply_rope(x, cos, sin, layout), apply_rope_reference(x, cos, sin, layout)
    # one rounding of difference: addcmul fuses a multiply-add that the reference rounds twice
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(fast[..., r:], x[..., r:], atol=0, rtol=0)
    xt = x.transpose(1, 2).contiguous().transpose(1, 2)  # non-contiguous input
    torch.testing.assert_close(apply_rope(xt, cos, sin, layout), fast, atol=0, rtol=0)


def test_rope_is_differentiable():
    x = torch.randn(1, 2, 4, 8, requires_grad=True)
    cos, sin = rope_cos_sin(torch.arange(4), 8)
    apply_rope(x, cos, sin).pow(2).sum().backward()
    torch.testing.assert_close(x.grad, 2 * x.detach(), atol=1e-5, rtol=1e-5)  # a rotation


def test_cos_sin_layouts():
    cos_h, sin_h = rope_cos_sin(torch.arange(3), 6, layout="half")
    cos_i, sin_i = rope_cos_sin(torch.arange(3), 6, layout="interleaved")
    torch.testing.assert_close(cos_h[:, :3], cos_h[:, 3:])
    torch.testing.assert_close(cos_i[:, 0::2], cos_i[:, 1::2])
    torch.testing.assert_close(cos_h[:, :3], cos_i[:, 0::2])
    torch.testing.assert_close(sin_h[:, :3], sin_i[:, 0::2])
    assert cos_h.shape == (3, 6) and cos_h.dtype == torch.float32


@given(
    m=st.integers(0, 3000),
    n=st.integers(0, 3000),
    shift=st.integers(-500, 500),
    layout=st.sampled_from(LAYOUTS),
    seed=st.integers(0, 1000),
)
def test_scores_depend_only_on_relative_position(m, n, shift, layout, seed):
    m2, n2 = m + shift, n + shift
    if m2 < 0 or n2 < 0:
        return
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, 16, generator=g, dtype=torch.float64)
    pos = torch.tensor([m, n, m2, n2])
    cos, sin = rope_cos_sin(pos, 16, layout=layout, dtype=torch.float64)
    qs = apply_rope(q.expand(4, 16), cos, sin, layout)  # [4, d]
    ks = apply_rope(k.expand(4, 16), cos, sin, layout)
    torch.testing.assert_close(qs[0] @ ks[1], qs[2] @ ks[3], atol=1e-9, rtol=0)


@given(n=st.integers(1, 12), offset=st.integers(0, 50), layout=st.sampled_from(LAYOUTS))
def test_module_explicit_positions_equal_default(n, offset, layout):
    rope = RotaryEmbedding(8, layout=layout)
    q, k = torch.randn(2, 1, 2, n, 8)
    a = rope(q, k, offset=offset)
    b = rope(q, k, positions=torch.arange(offset, offset + n))
    cos, sin = rope_cos_sin(torch.arange(offset, offset + n), 8, layout=layout)
    for x, y, z in zip(a, b, (q, k), strict=True):
        torch.testing.assert_close(x, y, atol=0, rtol=0)
        torch.testing.assert_close(x, apply_rope(z, cos, sin, layout), atol=0, rtol=0)


def test_module_equals_function():
    rope = RotaryEmbedding(8, base=500.0, rotary_dim=6)
    assert "inv_freq" not in rope.state_dict()  # non-persistent: recomputed, not loaded
    assert rope.inv_freq.dtype == torch.float64
    c, s = rope.cos_sin(torch.arange(5))
    torch.testing.assert_close(c, rope_cos_sin(torch.arange(5), 6, 500.0)[0], atol=0, rtol=0)
    c2, s2 = rope.cos_sin(torch.tensor([3, 1000]))
    want = rope_cos_sin(torch.tensor([3, 1000]), 6, 500.0)
    torch.testing.assert_close(c2, want[0], atol=0, rtol=0)
    torch.testing.assert_close(s2, want[1], atol=0, rtol=0)
    cb, _ = rope.cos_sin(torch.tensor([1000]), torch.bfloat16)  # cast once from float64
    assert torch.equal(cb, rope_cos_sin(torch.tensor([1000]), 6, 500.0, dtype=torch.bfloat16)[0])
    cf, _ = rope.cos_sin(torch.tensor([2.5]))  # fractional positions (interpolation)
    torch.testing.assert_close(cf, rope_cos_sin(torch.tensor([2.5]), 6, 500.0)[0])


def test_rotary_scheme_with_kv_lengths():
    rope = RotaryEmbedding(8)
    q, k = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 7, 8)
    qr, kr = rope(q, k, positions=torch.arange(4, 7), k_positions=torch.arange(7))
    qf, kf = rope(torch.cat([k[:, :, :4], q], 2), k)
    torch.testing.assert_close(qr, qf[:, :, 4:], atol=0, rtol=0)
    torch.testing.assert_close(kr, kf, atol=0, rtol=0)
    scheme = Rotary(8)
    torch.testing.assert_close(
        scheme.rotate_qk(q, k, torch.arange(4, 7), torch.arange(7))[0], qr, atol=0, rtol=0
    )


# ----------------------------------------------------------------------------- layouts


@given(half_dim=st.integers(1, 16), source=st.sampled_from(LAYOUTS))
def test_layout_conversion_round_trip_is_identity(half_dim, source):
    d = 2 * half_dim
    target = "half" if source == "interleaved" else "interleaved"
    x = torch.randn(3, d)
    back = convert_rope_layout(convert_rope_layout(x, source, target), target, source)
    torch.testing.assert_close(back, x, atol=0, rtol=0)
    w, b = torch.randn(4 * d, 5), torch.randn(4 * d)
    w2, b2 = convert_qk_weights(
        *convert_qk_weights(w, 4, source, target, b)[:1],
        4,
        target,
        source,
        convert_qk_weights(w, 4, source, target, b)[1],
    )
    torch.testing.assert_close(w2, w, atol=0, rtol=0)
    torch.testing.assert_close(b2, b, atol=0, rtol=0)


def test_permutation_is_the_hf_llama_conversion():
    """HF's convert_llama_weights_to_hf.permute: view(h, d/2, 2, in).transpose(1, 2)."""
    h, d, dim_in = 3, 8, 5
    w = torch.randn(h * d, dim_in)
    hf = w.view(h, d // 2, 2, dim_in).transpose(1, 2).reshape(h * d, dim_in)
    torch.testing.assert_close(convert_qk_weights(w, h, "interleaved", "half"), hf, atol=0, rtol=0)
    assert rope_permutation(6, "interleaved", "half").tolist() == [0, 2, 4, 1, 3, 5]
    assert rope_permutation(6, "half", "interleaved").tolist() == [0, 3, 1, 4, 2, 5]


@given(
    half_dim=st.integers(1, 8),
    heads=st.integers(1, 3),
    n=st.integers(1, 9),
    seed=st.integers(0, 1000),
    source=st.sampled_from(LAYOUTS),
)
def test_converted_weights_give_identical_scores(half_dim, heads, n, seed, source):
    d = 2 * half_dim
    target = "half" if source == "interleaved" else "interleaved"
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g, dtype=torch.float64)
    wq, wk = torch.randn(2, heads * d, 6, generator=g, dtype=torch.float64)
    bq, bk = torch.randn(2, heads * d, generator=g, dtype=torch.float64)

    def scores(wq, bq, wk, bk, layout):
        q = (x @ wq.T + bq).view(n, heads, d).transpose(0, 1)  # [h, n, d]
        k = (x @ wk.T + bk).view(n, heads, d).transpose(0, 1)
        cos, sin = rope_cos_sin(torch.arange(n), d, layout=layout, dtype=torch.float64)
        return apply_rope(q, cos, sin, layout) @ apply_rope(k, cos, sin, layout).transpose(1, 2)

    wq2, bq2 = convert_qk_weights(wq, heads, source, target, bq)
    wk2, bk2 = convert_qk_weights(wk, heads, source, target, bk)
    torch.testing.assert_close(
        scores(wq2, bq2, wk2, bk2, target), scores(wq, bq, wk, bk, source), atol=1e-10, rtol=0
    )


# ----------------------------------------------------------------------------- xPos


def torchscale_xpos(x, offset=0, downscale=False, scale_base=512):
    """torchscale XPOS.forward (Sun et al. 2022), restated as a per-element loop in float64.

    x is [batch*heads, length, d]; positions are offset .. offset+length-1; the scale exponent
    is centred at -(length + offset) // 2 (Python floor division), angles use positions from 0.
    """
    bh, length, d = x.shape
    total = length + offset
    min_pos = -total // 2
    out = torch.empty_like(x, dtype=torch.float64)
    for t in range(length):
        pos = offset + t
        for i in range(d // 2):
            zeta = (2 * i + 0.4 * d) / (1.4 * d)
            sc = zeta ** ((pos + min_pos) / scale_base)
            if downscale:
                sc = 1 / sc
            theta = pos * 10000.0 ** (-2 * i / d)
            c, s = math.cos(theta) * sc, math.sin(theta) * sc
            a, b = x[:, t, 2 * i].double(), x[:, t, 2 * i + 1].double()
            out[:, t, 2 * i] = a * c - b * s
            out[:, t, 2 * i + 1] = b * c + a * s
    return out


@pytest.mark.parametrize("length", [1, 6, 7])
def test_xpos_matches_torchscale_formulation(length):
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, length, 8, generator=g, dtype=torch.float64)
    pos = torch.arange(length)
    qx, kx = apply_xpos(q[None], k[None], pos, pos, scale_base=16.0)
    torch.testing.assert_close(qx[0], torchscale_xpos(q, scale_base=16), atol=1e-12, rtol=0)
    want_k = torchscale_xpos(k, downscale=True, scale_base=16)
    torch.testing.assert_close(kx[0], want_k, atol=1e-12, rtol=0)


@given(m=st.integers(0, 400), n=st.integers(0, 400), shift=st.integers(0, 400))
def test_xpos_scores_depend_only_on_relative_position(m, n, shift):
    g = torch.Generator().manual_seed(m + 7 * n)
    q, k = torch.randn(2, 1, 1, 1, 8, generator=g, dtype=torch.float64)
    xp = XPos(8, scale_base=64.0)

    def score(m, n):
        qq, kk = xp.rotate_qk(q, k, torch.tensor([m]), torch.tensor([n]))
        return float((qq * kk).sum())

    assert math.isclose(score(m, n), score(m + shift, n + shift), rel_tol=1e-9, abs_tol=1e-12)


def test_xpos_scale_values():
    s = xpos_scale(torch.tensor([0, 512]), 4, 512.0, dtype=torch.float64)
    zeta = torch.tensor([1.6 / 5.6, 3.6 / 5.6], dtype=torch.float64)
    torch.testing.assert_close(s[0], torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(s[1], zeta.repeat_interleave(2))


# ----------------------------------------------------------------------------- errors


def test_rope_error_paths():
    x = torch.randn(1, 1, 4, 8)
    cos, sin = rope_cos_sin(torch.arange(4), 8)
    with pytest.raises(ValueError, match="dim must be even"):
        rope_cos_sin(torch.arange(4), 7)
    with pytest.raises(ValueError, match="layout must be one of"):
        rope_cos_sin(torch.arange(4), 8, layout="neox")
    with pytest.raises(ValueError, match="layout must be one of"):
        apply_rope(x, cos, sin, layout="gptj")
    with pytest.raises(ValueError, match="cos and sin must have the same shape"):
        apply_rope(x, cos, sin[:, :6])
    with pytest.raises(ValueError, match="rotary dim"):
        apply_rope(x, *rope_cos_sin(torch.arange(4), 16))
    with pytest.raises(ValueError, match=r"\[n, r\] = \[4, r\]"):
        apply_rope(x, cos[:3], sin[:3])
    with pytest.raises(ValueError, match=r"\[n, r\] = \[4, r\]"):
        apply_rope(x, cos[:1], sin[:1])  # one position would silently broadcast over 4
    with pytest.raises(ValueError, match="without enlarging x"):
        apply_rope(x, cos.expand(2, 3, 4, 8), sin.expand(2, 3, 4, 8))
    with pytest.raises(ValueError, match="base"):
        rope_cos_sin(torch.arange(4), 8, base=-1.0)
    with pytest.raises(TypeError, match="positions"):
        rope_cos_sin("0123", 8)


def test_module_error_paths():
    with pytest.raises(ValueError, match="rotary_dim must be even and <= head_dim=8"):
        RotaryEmbedding(8, rotary_dim=10)
    with pytest.raises(ValueError, match="rotary_dim must be even"):
        RotaryEmbedding(8, rotary_dim=5)
    with pytest.raises(ValueError, match="layout"):
        RotaryEmbedding(8, layout="HALF")
    with pytest.raises(ValueError, match="head_dim"):
        RotaryEmbedding(0)
    rope = RotaryEmbedding(8)
    q = torch.randn(1, 2, 4, 8)
    with pytest.raises(ValueError, match="head_dim=8"):
        rope(q[..., :6], q[..., :6])
    with pytest.raises(ValueError, match="k_positions must be given"):
        rope(q, q[:, :, :2])
    with pytest.raises(ValueError, match=r"positions must have shape \[4\]"):
        rope(q, q, positions=torch.arange(3))
    with pytest.raises(ValueError, match="offset"):
        rope(q, q, offset=-1)
    with pytest.raises(ValueError, match="q \\[b, h, q, d\\] and k"):
        rope(q, torch.randn(1, 3, 4, 8))
    with pytest.raises(ValueError, match="head_dim"):
        XPos(7)
    with pytest.raises(ValueError, match="scale_base"):
        XPos(8, scale_base=0.0)


def test_layout_conversion_error_paths():
    with pytest.raises(ValueError, match="head_dim must be even"):
        rope_permutation(5, "half", "interleaved")
    with pytest.raises(ValueError, match="layout must be one of"):
        rope_permutation(4, "half", "rotate_half")
    with pytest.raises(ValueError, match="num_heads"):
        convert_qk_weights(torch.randn(8, 3), 0, "half", "interleaved")
    with pytest.raises(ValueError, match="num_heads=3"):
        convert_qk_weights(torch.randn(8, 3), 3, "half", "interleaved")
    with pytest.raises(ValueError, match=r"bias must have shape \[8\]"):
        convert_qk_weights(torch.randn(8, 3), 2, "half", "interleaved", torch.randn(7))


def test_far_positions_cost_what_near_ones_cost():
    """No table sized by the largest position: a decode step at 10**9 is one row of work."""
    rope = RotaryEmbedding(8)
    c, s = rope.cos_sin(torch.tensor([5, 10**9]))
    want = rope_cos_sin(torch.tensor([5, 10**9]), 8)
    assert torch.equal(c, want[0]) and torch.equal(s, want[1])
    assert sorted(b.numel() for b in rope.buffers()) == [4]  # only inv_freq [d/2]


# --- the sequence axis (issue 23) ----------------------------------------------------------


@pytest.mark.parametrize("fn", [apply_rope, apply_rope_reference])
@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_seq_dim_rotates_b_n_h_d_tensors_along_the_sequence(fn, layout):
    # [b, n, h, d] with n == h: the default axis (-2) would rotate along the heads
    b, n, h, d = 2, 4, 4, 8
    x = torch.randn(b, n, h, d, dtype=torch.float64)
    cos, sin = rope_cos_sin(torch.arange(n), d, dtype=torch.float64, layout=layout)
    want = fn(x.transpose(1, 2), cos, sin, layout).transpose(1, 2)  # [b, n, h, d]
    assert torch.equal(fn(x, cos, sin, layout, seq_dim=1), want)
    assert torch.equal(fn(x, cos, sin, layout, seq_dim=-3), want)
    assert not torch.allclose(fn(x, cos, sin, layout), want)  # what seq_dim prevents
    # per-sequence cos/sin with as many dims as x follow x's axes: [b, n, 1, r]
    pos = torch.stack([torch.arange(n), torch.arange(n) + 5])  # [b, n]
    cos_b, sin_b = rope_cos_sin(pos, d, dtype=torch.float64, layout=layout)  # [b, n, r]
    per_seq = fn(x, cos_b[:, :, None], sin_b[:, :, None], layout, seq_dim=1)
    moved = fn(x.transpose(1, 2), cos_b[:, None], sin_b[:, None], layout)
    assert torch.equal(per_seq, moved.transpose(1, 2))


def test_seq_dim_on_the_fast_path_and_its_errors():
    x = torch.randn(2, 300, 8, 64)  # large enough for the blocked eager kernel
    cos, sin = rope_cos_sin(torch.arange(300), 64)
    want = apply_rope(x.transpose(1, 2), cos, sin).transpose(1, 2)
    assert torch.equal(apply_rope(x, cos, sin, seq_dim=1), want)
    small = torch.randn(2, 5, 4, 8)
    c4, s4 = rope_cos_sin(torch.arange(4), 8)
    with pytest.raises(ValueError, match=r"\[n, r\] = \[5, r\].*seq_dim=1, moved to -2"):
        apply_rope(small, c4, s4, seq_dim=1)  # 5 positions on axis 1, cos for 4
    with pytest.raises(ValueError, match="last axis, which holds the features"):
        apply_rope(small, c4, s4, seq_dim=-1)
    with pytest.raises(ValueError, match="seq_dim must name an axis"):
        apply_rope(small, c4, s4, seq_dim=4)
    with pytest.raises(TypeError, match="seq_dim must be an int"):
        apply_rope(small, c4, s4, seq_dim=True)
