"""Every scheme of the library inside MultiHeadAttention.

For each scheme: output shape; causal attention never lets a later token change an earlier
output; need_weights rows sum to 1; explicit default positions equal the default; position
biases from position-only schemes are [h, q, k] (no batch dim); the attention output equals
a float64 loop fed with the scheme's own rotation and bias.
"""

import math

import pytest
import torch

from posemb import (
    ALiBi,
    CoPE,
    FireBias,
    KerpleBias,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    NoPE,
    Rotary,
    ShawRelativeKeys,
    SinusoidalPositionalEmbedding,
    T5RelativeBias,
    XPos,
)

DIM, HEADS = 16, 4
HEAD_DIM = DIM // HEADS


def make(name):
    torch.manual_seed(0)
    schemes = {
        "none": lambda: None,
        "nope": NoPE,
        "sinusoidal": lambda: SinusoidalPositionalEmbedding(DIM),
        "learned": lambda: LearnedPositionalEmbedding(32, DIM),
        "rotary_half": lambda: Rotary(HEAD_DIM),
        "rotary_interleaved_partial": lambda: Rotary(HEAD_DIM, rotary_dim=2, layout="interleaved"),
        "xpos": lambda: XPos(HEAD_DIM, scale_base=32.0),
        "t5": lambda: T5RelativeBias(HEADS, bidirectional=False, num_buckets=8, max_distance=16),
        "alibi": lambda: ALiBi(HEADS),
        "kerple_log": lambda: KerpleBias(HEADS, "log"),
        "kerple_power": lambda: KerpleBias(HEADS, "power"),
        "fire": lambda: FireBias(HEADS, hidden=8),
        "shaw": lambda: ShawRelativeKeys(HEAD_DIM, max_distance=3),
        "cope": lambda: CoPE(HEAD_DIM, npos_max=8),
    }
    scheme = schemes[name]()
    if isinstance(scheme, CoPE):
        with torch.no_grad():
            scheme.pos_emb.normal_()
    return scheme


NAMES = [
    "none", "nope", "rotary_half", "rotary_interleaved_partial",
    "xpos", "t5", "alibi", "kerple_log", "kerple_power", "fire", "shaw", "cope",
]  # fmt: skip
EMBED = ["sinusoidal", "learned"]  # kind "embed": a model's input, refused by attention
POSITION_ONLY_BIAS = {"t5", "alibi", "kerple_log", "kerple_power", "fire"}


@pytest.mark.parametrize("name", NAMES)
def test_causal_and_weights_with_every_scheme(name):
    mha = MultiHeadAttention(DIM, HEADS, scheme=make(name), causal=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 7, DIM, generator=g)
    out, w = mha(x, need_weights=True)
    assert out.shape == (2, 7, DIM) and w.shape == (2, HEADS, 7, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, HEADS, 7))
    assert bool((w.triu(1) == 0).all())
    torch.testing.assert_close(mha(x), out, atol=1e-5, rtol=1e-5)  # fast path = weights path
    y = x.clone()
    y[:, 4] += 5.0
    torch.testing.assert_close(mha(y)[:, :4], out[:, :4], atol=1e-6, rtol=0)
    torch.testing.assert_close(mha(x, positions=torch.arange(7)), mha(x), atol=0, rtol=0)
    out.sum().backward()  # trainable end to end


@pytest.mark.parametrize("name", EMBED)
def test_attention_refuses_input_embeddings(name):
    with pytest.raises(TypeError, match="kind 'embed'.*model's input"):
        MultiHeadAttention(DIM, HEADS, scheme=make(name), causal=True)


@pytest.mark.parametrize("name", sorted(POSITION_ONLY_BIAS))
def test_position_biases_have_no_batch_dim(name):
    scheme = make(name)
    assert scheme.kind == "bias"
    b = scheme.position_bias(torch.arange(5), torch.arange(5))
    assert b.shape == (HEADS, 5, 5)
    torch.testing.assert_close(scheme(torch.arange(5), torch.arange(5)), b, atol=0, rtol=0)


def reference_mha(mha, x):
    """Projections, the scheme's hooks, then softmax attention as a float64 loop."""
    b, n, _ = x.shape
    qkv = mha.qkv(x).view(b, n, 3, HEADS, HEAD_DIM).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    pos = torch.arange(n)
    kind = mha.scheme.kind
    if kind == "rotate":
        q, k = mha.scheme.rotate_qk(q, k, pos, pos)
    bias = None
    if kind == "bias":
        bias = mha.scheme.position_bias(pos, pos)
    elif kind == "content_bias":
        bias = mha.scheme.content_bias(q, k, pos, pos)
    out = torch.zeros(b, HEADS, n, HEAD_DIM, dtype=torch.float64)
    for bi in range(b):
        for h in range(HEADS):
            for i in range(n):
                logits = []
                for j in range(n):
                    s = float(q[bi, h, i].double() @ k[bi, h, j].double()) / math.sqrt(HEAD_DIM)
                    if bias is not None:
                        s += float(bias[h, i, j] if bias.dim() == 3 else bias[bi, h, i, j])
                    logits.append(s if j <= i else -math.inf)
                wts = torch.tensor(logits, dtype=torch.float64).softmax(0)
                out[bi, h, i] = wts @ v[bi, h].double()
    return mha.out(out.float().transpose(1, 2).reshape(b, n, DIM))


@pytest.mark.parametrize("name", ["rotary_half", "xpos", "alibi", "t5", "shaw", "cope"])
def test_module_equals_loop(name):
    mha = MultiHeadAttention(DIM, HEADS, scheme=make(name), causal=True)
    x = torch.randn(2, 5, DIM)
    with torch.no_grad():
        torch.testing.assert_close(mha(x), reference_mha(mha, x), atol=1e-5, rtol=1e-5)


def test_schemes_make_attention_position_aware():
    """With NoPE and no mask, swapping two tokens swaps the outputs; with ALiBi it does not."""
    x = torch.randn(1, 6, DIM)
    perm = torch.tensor([1, 0, 2, 3, 4, 5])
    for name, equivariant in (("nope", True), ("alibi", False), ("rotary_half", False)):
        mha = MultiHeadAttention(DIM, HEADS, scheme=make(name))
        same = torch.allclose(mha(x)[:, perm], mha(x[:, perm]), atol=1e-5)
        assert same == equivariant, name
