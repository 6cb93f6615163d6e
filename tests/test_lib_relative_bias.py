"""posemb.relative, posemb.bias, posemb.contextual against slow loops from each paper.

Shaw et al. 2018 (clipped relative keys), T5 buckets (Raffel et al. 2020, rewritten from
the paper's description as a loop), ALiBi (Press et al. 2022), KERPLE (Chi et al. 2022),
FIRE (Li et al. 2023), CoPE (Golovneva et al. 2024); biases have no batch dim; every error
path names its argument. Hugging Face parity lives in tests/test_lib_parity.py.
"""

import math

import pytest
import torch

from posemb import (
    ALiBi,
    CoPE,
    FireBias,
    KerpleBias,
    MultiHeadAttention,
    ShawRelativeKeys,
    T5RelativeBias,
    alibi_bias,
    alibi_slopes,
    cope_positions,
    kerple_bias,
    relative_positions,
    t5_bucket,
)


def test_relative_positions():
    r = relative_positions(3, 4, offset=1)
    assert r.dtype == torch.long and r.shape == (3, 4)
    assert r.tolist() == [[j - (i + 1) for j in range(4)] for i in range(3)]


def slow_t5_bucket(rel, bidirectional, num_buckets, max_distance):
    """T5 buckets from the paper's description, one distance at a time."""
    offset = 0
    if bidirectional:
        num_buckets //= 2
        if rel > 0:
            offset = num_buckets
        n = abs(rel)
    else:
        n = max(-rel, 0)
    exact = num_buckets // 2
    if n < exact:
        return offset + n
    # float32 log, as the reference implementation (boundaries depend on it)
    ratio = float(torch.log(torch.tensor(n / exact, dtype=torch.float32))) / math.log(
        max_distance / exact
    )
    val = exact + int(torch.tensor(ratio, dtype=torch.float32) * (num_buckets - exact))
    return offset + min(val, num_buckets - 1)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("nb,md", [(32, 128), (10, 20)])
def test_t5_bucket_matches_loop(bidirectional, nb, md):
    rel = torch.arange(-300, 301)
    fast = t5_bucket(rel, bidirectional, nb, md)
    slow = [slow_t5_bucket(int(r), bidirectional, nb, md) for r in rel]
    assert fast.tolist() == slow
    assert int(fast.min()) >= 0 and int(fast.max()) < nb


def test_t5_module_bias_shape_and_values():
    torch.manual_seed(0)
    mod = T5RelativeBias(3, bidirectional=False, num_buckets=8, max_distance=20)
    b = mod.position_bias(torch.arange(4), torch.arange(4))
    assert b.shape == (3, 4, 4)
    for i in range(4):
        for j in range(4):
            bucket = slow_t5_bucket(j - i, False, 8, 20)
            torch.testing.assert_close(b[:, i, j], mod.table.weight[bucket])


def slow_shaw(q, table, max_distance):
    b, h, n, d = q.shape
    out = torch.zeros(b, h, n, n, dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            for i in range(n):
                for j in range(n):
                    r = max(-max_distance, min(max_distance, j - i))
                    a = table[r + max_distance].double()
                    out[bi, hi, i, j] = float(q[bi, hi, i].double() @ a) / math.sqrt(d)
    return out


def test_shaw_matches_loop_and_is_per_batch():
    torch.manual_seed(0)
    mod = ShawRelativeKeys(4, max_distance=2)
    q = torch.randn(2, 3, 6, 4)
    b = mod.content_bias(q, q, torch.arange(6), torch.arange(6))
    assert b.shape == (2, 3, 6, 6)
    torch.testing.assert_close(b.double(), slow_shaw(q, mod.table.detach(), 2), atol=1e-6, rtol=0)


def test_alibi_slopes_paper_values():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    # 6 heads: slopes of 4 heads, then the 1st and 3rd of 8 heads
    want = [2.0 ** (-2 * (i + 1)) for i in range(4)] + [2.0**-1, 2.0**-3]
    torch.testing.assert_close(alibi_slopes(6), torch.tensor(want))
    assert alibi_slopes(1).tolist() == [2.0**-8]


def test_alibi_bias_matches_loop_and_module():
    h, nq, nk, off = 5, 3, 6, 3
    b = alibi_bias(h, nq, nk, offset=off)
    s = alibi_slopes(h).double()
    for hi in range(h):
        for i in range(nq):
            for j in range(nk):
                assert b[hi, i, j] == torch.tensor(
                    -float(s[hi]) * abs(j - (i + off)), dtype=torch.float32
                )
    mod = ALiBi(h)
    got = mod(torch.arange(nq) + off, torch.arange(nk))  # forward is the entry point
    assert got.shape == (h, nq, nk)  # no batch dim
    torch.testing.assert_close(got, b)


@pytest.mark.parametrize("variant", ["log", "power"])
def test_kerple_matches_formula_loop(variant):
    torch.manual_seed(0)
    mod = KerpleBias(3, variant)
    with torch.no_grad():
        mod.raw_r1.normal_()
        mod.raw_r2.normal_()
    got = mod.position_bias(torch.arange(4), torch.arange(4))
    assert got.shape == (3, 4, 4)
    r1, r2 = mod.r1.detach().double(), mod.r2.detach().double()
    assert bool((r1 > 0).all() and (r2 > 0).all())
    if variant == "power":
        assert bool((r2 <= 2).all())
    for h in range(3):
        for i in range(4):
            for j in range(4):
                d = abs(i - j)
                want = -r1[h] * math.log(1 + r2[h] * d) if variant == "log" else -r1[h] * d ** r2[h]
                assert math.isclose(float(got.detach()[h, i, j]), float(want), abs_tol=1e-5)
    got.sum().backward()
    assert mod.raw_r1.grad is not None and mod.raw_r2.grad is not None


def test_fire_normalised_distance_and_shape():
    torch.manual_seed(0)
    fire = FireBias(2, hidden=8, init_c=2.0, init_threshold=4.0)
    qp = torch.arange(10)
    x = fire.normalised_distance(qp, qp)
    for i in range(10):
        for j in range(i + 1):
            want = math.log(2.0 * (i - j) + 1) / math.log(2.0 * max(i, 4.0) + 1)
            assert math.isclose(float(x.detach()[i, j]), want, rel_tol=1e-5, abs_tol=1e-6)
    assert float(x.detach().tril().max()) <= 1.0 + 1e-6
    b = fire.position_bias(qp, qp)
    assert b.shape == (2, 10, 10)
    b.sum().backward()
    assert fire.log_c.grad is not None and fire.log_threshold.grad is not None


def slow_cope(q, k, pos_emb):
    """Golovneva et al. 2024, eqs. (3)-(5) with the reference code's 1/sqrt(d) in the gate."""
    b, h, n, d = q.shape
    npos = pos_emb.shape[0]
    out = torch.zeros(b, h, n, n, dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            for i in range(n):
                for j in range(i + 1):
                    p = 0.0
                    for t in range(j, i + 1):
                        s = float(q[bi, hi, i].double() @ k[bi, hi, t].double()) / math.sqrt(d)
                        p += 1 / (1 + math.exp(-s))
                    p = min(p, npos - 1)
                    lo, w = math.floor(p), p - math.floor(p)
                    hi_ = min(lo + 1, npos - 1)
                    e = (1 - w) * pos_emb[lo].double() + w * pos_emb[hi_].double()
                    out[bi, hi, i, j] = float(q[bi, hi, i].double() @ e)
    return out


def test_cope_matches_loop():
    torch.manual_seed(0)
    cope = CoPE(4, npos_max=3)  # small table so clamping happens
    with torch.no_grad():
        cope.pos_emb.normal_()
    q, k = torch.randn(2, 2, 2, 5, 4)
    got = cope(q, k, torch.arange(5), torch.arange(5))
    assert got.shape == (2, 2, 5, 5)
    want = slow_cope(q, k, cope.pos_emb.detach())
    torch.testing.assert_close(got.double().tril(), want, atol=1e-5, rtol=0)
    p = cope_positions(q, k, torch.arange(5), torch.arange(5))
    assert bool((p.triu(1) == 0).all())
    assert bool((p.diagonal(dim1=-2, dim2=-1) <= 1).all())  # p_ii = g_ii in (0, 1)


def test_fresh_cope_is_nope():
    q = torch.randn(1, 2, 4, 4)
    assert torch.equal(
        CoPE(4).content_bias(q, q, torch.arange(4), torch.arange(4)), torch.zeros(1, 2, 4, 4)
    )


# ----------------------------------------------------------------------------- errors


def test_error_paths():
    with pytest.raises(ValueError, match="num_heads"):
        alibi_slopes(0)
    with pytest.raises(ValueError, match="num_heads"):
        alibi_bias(0, 2, 2)
    with pytest.raises(TypeError, match="num_heads"):
        ALiBi(2.5)
    with pytest.raises(ValueError, match="num_heads"):
        T5RelativeBias(0)
    with pytest.raises(ValueError, match="num_heads"):
        KerpleBias(0)
    with pytest.raises(ValueError, match="num_heads"):
        FireBias(0)
    with pytest.raises(ValueError, match="variant must be one of"):
        KerpleBias(2, "exp")
    with pytest.raises(ValueError, match="variant must be one of"):
        kerple_bias(torch.zeros(2, 2), torch.ones(2), torch.ones(2), "linear")
    with pytest.raises(ValueError, match="r1 and r2"):
        kerple_bias(torch.zeros(2, 2), torch.ones(2), torch.ones(3))
    with pytest.raises(ValueError, match="max_distance"):
        t5_bucket(torch.arange(3), True, 32, 8)
    with pytest.raises(ValueError, match="num_buckets"):
        t5_bucket(torch.arange(3), True, 2, 8)
    with pytest.raises(TypeError, match="positions"):
        t5_bucket(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="q_len"):
        relative_positions(-1, 2)
    with pytest.raises(TypeError, match="offset"):
        relative_positions(2, 2, offset=0.5)
    with pytest.raises(ValueError, match="max_distance"):
        ShawRelativeKeys(4, max_distance=-1)
    with pytest.raises(ValueError, match="npos_max"):
        CoPE(4, npos_max=0)
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match="num_heads=3"):
        MultiHeadAttention(8, 2, scheme=ALiBi(3))  # 3 slopes for 2 heads
    with pytest.raises(ValueError, match=r"q_positions must have shape \[n\] .* or \[b, n\]"):
        ALiBi(2).position_bias(torch.zeros(1, 2, 3, dtype=torch.long), torch.arange(3))
    with pytest.raises(ValueError, match=r"must agree on b"):
        T5RelativeBias(2).position_bias(
            torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long)
        )
    with pytest.raises(ValueError, match="head_dim=8"):
        ShawRelativeKeys(8).content_bias(q, q, torch.arange(3), torch.arange(3))
    with pytest.raises(ValueError, match="head_dim=8"):
        CoPE(8).content_bias(q, q, torch.arange(3), torch.arange(3))
