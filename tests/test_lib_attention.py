"""posemb.attention: the functional core, the hook protocol and MultiHeadAttention.

NoPE is permutation-equivariant; causal attention never lets a later token change an earlier
output; a position bias is [h, q, k] with no batch dimension and is never copied per batch;
returned weights are distributions; every scheme in the library plugs in. The schemes of the
other modules are exercised in tests/test_lib_schemes.py.
"""

import importlib
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import posemb
from posemb import (
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    NoPE,
    PositionScheme,
    SinusoidalPositionalEmbedding,
    attention,
    causal_mask,
)


def slow_attention(q, k, v, bias=None, causal=False):
    """softmax(q k^T / sqrt(d) + bias) v, one query at a time, float64."""
    q, k, v = q.double(), k.double(), v.double()
    b, h, nq, d = q.shape
    nk = k.shape[2]
    out = torch.zeros(b, h, nq, v.shape[-1], dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            for i in range(nq):
                logits = []
                for j in range(nk):
                    s = float(q[bi, hi, i] @ k[bi, hi, j]) / math.sqrt(d)
                    if bias is not None:
                        s += float(bias[hi, i, j] if bias.dim() == 3 else bias[bi, hi, i, j])
                    if causal and j > i + nk - nq:
                        s = -math.inf
                    logits.append(s)
                w = torch.tensor(logits, dtype=torch.float64).softmax(0)
                out[bi, hi, i] = w @ v[bi, hi]
    return out


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("nq,nk", [(5, 5), (3, 6)])
def test_functional_attention_matches_loop(causal, with_bias, need_weights, nq, nk):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, nq, 4, generator=g)
    k = torch.randn(2, 3, nk, 4, generator=g)
    v = torch.randn(2, 3, nk, 5, generator=g)
    bias = torch.randn(3, nq, nk, generator=g) if with_bias else None
    res = attention(q, k, v, bias=bias, causal=causal, need_weights=need_weights)
    out = res[0] if need_weights else res
    torch.testing.assert_close(
        out.double(), slow_attention(q, k, v, bias, causal), atol=1e-5, rtol=1e-5
    )
    if need_weights:
        torch.testing.assert_close(res[1].sum(-1), torch.ones(2, 3, nq))


def test_per_batch_bias_accepted_for_content_dependent_schemes():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, 4, 3, generator=g) for _ in range(3))
    bias = torch.randn(2, 2, 4, 4, generator=g)
    torch.testing.assert_close(
        attention(q, k, v, bias=bias, causal=True).double(),
        slow_attention(q, k, v, bias, True),
        atol=1e-5,
        rtol=1e-5,
    )


def test_causal_mask_bottom_right():
    m = causal_mask(2, 4)
    assert m.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert torch.equal(causal_mask(3, 3), torch.ones(3, 3, dtype=torch.bool).tril())


@given(n=st.integers(2, 8), seed=st.integers(0, 2**16))
def test_nope_is_permutation_equivariant(n, seed):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, 2, scheme=NoPE())
    x = torch.randn(2, n, 8)
    perm = torch.randperm(n)
    torch.testing.assert_close(mha(x)[:, perm], mha(x[:, perm]), atol=1e-5, rtol=1e-5)
    mha_none = MultiHeadAttention(8, 2, scheme=None)
    mha_none.load_state_dict(mha.state_dict())
    torch.testing.assert_close(mha_none(x), mha(x), atol=0, rtol=0)


@given(n=st.integers(2, 8), t=st.integers(0, 7), seed=st.integers(0, 2**16))
def test_causal_future_token_never_changes_earlier_outputs(n, t, seed):
    t = t % n
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, 2, causal=True)
    x = torch.randn(1, n, 8)
    y = x.clone()
    y[:, t] = torch.randn(8) * 10
    a, b = mha(x), mha(y)
    torch.testing.assert_close(a[:, :t], b[:, :t], atol=0, rtol=0)
    if t < n:
        assert not torch.allclose(a[:, t], b[:, t])


def test_need_weights_rows_sum_to_one_and_respect_causality():
    torch.manual_seed(0)
    mha = MultiHeadAttention(12, 3, causal=True)
    out, w = mha(torch.randn(2, 6, 12), need_weights=True)
    assert out.shape == (2, 6, 12) and w.shape == (2, 3, 6, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 6))
    assert torch.all(w.triu(1) == 0)
    torch.testing.assert_close(mha(torch.randn(2, 6, 12)).shape, out.shape)


class RecordingBias(PositionScheme):
    """A bias scheme that records what attention gave it and returns an [h, q, k] bias."""

    kind = "bias"

    def __init__(self, h):
        super().__init__()
        self.num_heads = h
        self.seen = None

    def position_bias(self, q_positions, k_positions):
        self.seen = (q_positions.clone(), k_positions.clone())
        rel = (k_positions[None, :] - q_positions[:, None]).float()  # [q, k]
        return -rel.abs().expand(self.num_heads, -1, -1)  # [h, q, k]


def test_bias_hook_gets_positions_and_its_bias_has_no_batch_dim(monkeypatch):
    # `posemb.attention` as an attribute is the function; the module lives in sys.modules.
    att = importlib.import_module("posemb.attention")

    seen_masks = []
    real = att.F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, is_causal=False):
        seen_masks.append(
            None
            if attn_mask is None
            else (attn_mask.shape, attn_mask.untyped_storage().nbytes() // attn_mask.element_size())
        )
        return real(q, k, v, attn_mask=attn_mask, is_causal=is_causal)

    monkeypatch.setattr(att.F, "scaled_dot_product_attention", spy)
    scheme = RecordingBias(2)
    mha = MultiHeadAttention(8, 2, scheme=scheme, causal=True)
    mha(torch.randn(3, 5, 8), positions=torch.arange(10, 15))
    qp, kp = scheme.seen
    assert qp.tolist() == list(range(10, 15)) and kp.tolist() == list(range(10, 15))
    # [1, h, q, k] with h*q*k elements of storage: broadcast over the batch by SDPA's fused
    # kernel, never a [b, h, q, k] copy (a 3-D mask would make torch materialise one).
    assert seen_masks == [(torch.Size([1, 2, 5, 5]), 2 * 5 * 5)]


def test_explicit_default_positions_equal_default():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, scheme=RecordingBias(2))
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(mha(x), mha(x, positions=torch.arange(5)), atol=0, rtol=0)
    torch.testing.assert_close(mha(x), mha(x, positions=[0, 1, 2, 3, 4]), atol=0, rtol=0)


@pytest.mark.parametrize(
    "scheme", [SinusoidalPositionalEmbedding(8), LearnedPositionalEmbedding(16, 8)]
)
def test_embed_schemes_are_refused_inside_attention(scheme):
    with pytest.raises(TypeError, match="kind 'embed'"):
        MultiHeadAttention(8, 2, scheme=scheme)


# ----------------------------------------------------------------------------- errors


def test_module_argument_errors():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(8, 0)
    with pytest.raises(ValueError, match="dim must be divisible by num_heads"):
        MultiHeadAttention(8, 3)
    with pytest.raises(TypeError, match="num_heads"):
        MultiHeadAttention(8, 2.0)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"x must have shape \[b, n, dim=8\]"):
        mha(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"positions must have shape \[5\]"):
        mha(torch.randn(2, 5, 8), positions=torch.arange(4))
    with pytest.raises(ValueError, match=r"positions must have shape \[5\] or \[b, n\]=\[2, 5\]"):
        mha(torch.randn(2, 5, 8), positions=torch.arange(5).expand(3, 5))


def test_functional_errors():
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match="q and k|q \\[b, h, q, d\\]"):
        attention(q, torch.randn(1, 3, 3, 4), torch.randn(1, 3, 3, 4))
    with pytest.raises(ValueError, match="q must have shape"):
        attention(q[0], q[0], q[0])
    with pytest.raises(ValueError, match="v must have shape"):
        attention(q, q, torch.randn(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"bias must have shape \[h, q, k\]=\[2, 3, 3\]"):
        attention(q, q, q, bias=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="bias must have shape"):
        attention(q, q, q, bias=torch.zeros(1, 3, 3))  # would broadcast silently otherwise
    with pytest.raises(ValueError, match="q_len"):
        attention(q, q[:, :, :2], q[:, :, :2], causal=True)


# --- silent wrong results that now raise (issue 23) -----------------------------------------


def test_a_cache_refuses_a_scheme_swapped_after_prefill():
    mha = posemb.MultiHeadAttention(32, 4, scheme=posemb.Rotary(8), causal=True)
    cache = posemb.KVCache()
    mha(torch.randn(1, 5, 32), cache=cache)
    mha.scheme = posemb.ALiBi(4)
    with pytest.raises(ValueError, match="filled with scheme Rotary.*reset"):
        mha(torch.randn(1, 1, 32), cache=cache)
    cache.reset()  # a new sequence: the cache takes the new scheme
    mha(torch.randn(1, 5, 32), cache=cache)
    assert cache.length == 5


def test_explicit_decode_positions_must_continue_the_cache():
    mha = posemb.MultiHeadAttention(32, 4, scheme=posemb.Rotary(8), causal=True)
    cache = posemb.KVCache()
    mha(torch.randn(1, 8, 32), cache=cache)  # positions 0..7
    with pytest.raises(ValueError, match="greater than the last cached position"):
        mha(torch.randn(1, 1, 32), positions=torch.tensor([7]), cache=cache)
    mha(torch.randn(1, 1, 32), positions=torch.tensor([8]), cache=cache)
    with pytest.raises(ValueError, match=r"last cached position \[8\]"):
        mha(torch.randn(1, 1, 32), positions=torch.tensor([8]), cache=cache)
    # a gap is allowed (a skipped token), and per-sequence positions are checked per row
    mha(torch.randn(1, 1, 32), positions=torch.tensor([10]), cache=cache)
    assert cache.positions.tolist() == list(range(9)) + [10]
    batch = posemb.MultiHeadAttention(32, 4, scheme=posemb.ALiBi(4), causal=True)
    rows = posemb.KVCache()
    batch(torch.randn(2, 3, 32), positions=torch.tensor([[0, 1, 2], [4, 5, 6]]), cache=rows)
    with pytest.raises(ValueError, match="greater than"):
        batch(torch.randn(2, 1, 32), positions=torch.tensor([[3], [6]]), cache=rows)


def test_a_cache_refuses_keys_of_another_dtype():
    mha = posemb.MultiHeadAttention(32, 4, scheme=posemb.Rotary(8), causal=True)
    cache = posemb.KVCache()
    mha(torch.randn(1, 4, 32), cache=cache)
    mha.double()
    with pytest.raises(ValueError, match="dtype torch.float32.*torch.float64"):
        mha(torch.randn(1, 1, 32, dtype=torch.float64), cache=cache)


def test_a_one_directional_t5_bias_needs_causal_attention():
    t5 = posemb.T5RelativeBias(4, bidirectional=False)
    with pytest.raises(ValueError, match="bidirectional=False.*causal=True"):
        posemb.MultiHeadAttention(32, 4, scheme=t5, causal=False)
    posemb.MultiHeadAttention(32, 4, scheme=t5, causal=True)
    posemb.MultiHeadAttention(32, 4, scheme=posemb.T5RelativeBias(4), causal=False)


@pytest.mark.parametrize("rope_type", ["linear", "ntk", "dynamic", "yarn", "llama3"])
def test_a_scaling_factor_below_one_is_refused(rope_type):
    scaling = {"rope_type": rope_type, "factor": 0.5}
    if rope_type in ("yarn", "llama3"):
        scaling["original_max_position_embeddings"] = 64
    if rope_type == "llama3":
        scaling.update(low_freq_factor=1.0, high_freq_factor=4.0)
    with pytest.raises(ValueError, match=r"factor'\] must be >= 1"):
        posemb.rope_frequencies(16, 10_000.0, scaling, max_positions=128)
    scaling["factor"] = 1.0  # no change is allowed
    posemb.rope_frequencies(16, 10_000.0, scaling, max_positions=128)
