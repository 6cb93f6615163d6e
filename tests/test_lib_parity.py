"""Parity with the Hugging Face implementations that real checkpoints use.

Only functions and tiny randomly initialised configs from the installed transformers
(5.23.0); nothing is downloaded. Names in 5.23.0:

* T5: ``T5Attention._relative_position_bucket`` (static method);
* BLOOM: ``build_alibi_tensor`` (module-level function in modeling_bloom);
* Llama: ``LlamaRotaryEmbedding`` (cos/sin) and ``apply_rotary_pos_emb`` (half layout);
* GPT-J: ``create_sinusoidal_positions`` and ``apply_rotary_pos_emb`` (interleaved pairs);
* GPT-NeoX: ``GPTNeoXRotaryEmbedding`` with ``partial_rotary_factor`` (``rotary_pct``) < 1
  and its ``apply_rotary_pos_emb``, which rotates only the first ``rotary_dim`` features.
"""

import pytest
import torch
from transformers import GPTNeoXConfig, LlamaConfig
from transformers.models.bloom.modeling_bloom import build_alibi_tensor
from transformers.models.gpt_neox import modeling_gpt_neox as neox
from transformers.models.gptj import modeling_gptj as gptj
from transformers.models.llama import modeling_llama as llama
from transformers.models.t5.modeling_t5 import T5Attention

from posemb import RotaryEmbedding, alibi_slopes, apply_rope, rope_cos_sin, t5_bucket

ATOL = 1e-6


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (16, 50), (64, 300)])
def test_t5_bucket_identical_for_every_distance(bidirectional, num_buckets, max_distance):
    rel = torch.arange(-1000, 1001)[None, :]  # [1, 2001]
    hf = T5Attention._relative_position_bucket(rel, bidirectional, num_buckets, max_distance)
    assert torch.equal(t5_bucket(rel, bidirectional, num_buckets, max_distance), hf)


@pytest.mark.parametrize("num_heads", range(1, 65))
def test_alibi_slopes_match_bloom(num_heads):
    """BLOOM's slopes versus ours, which are float64 then cast once.

    With seq_len 2 and an all-ones mask, BLOOM's tensor at position 1 is the slope itself.
    They are not bit-identical (measured: up to 3.5 float32 ulps for 60 heads), and the
    reason is BLOOM's arithmetic: it rounds ``base = 2**(-8/m)`` to float32 (relative error
    <= 2**-24) and then takes ``base ** e`` in float32 for exponents e up to 64, which
    multiplies the base's relative error by e. So each slope must agree within
    ``(e + 1) * 2**-24`` relative (e the exponent, plus the final rounding), and ours must
    equal the float64 truth (the paper's fairseq code computes in Python floats) exactly.
    """
    mask = torch.ones(1, 2, dtype=torch.long)
    hf = build_alibi_tensor(mask, num_heads, torch.float32).view(num_heads, 2)[:, 1].double()
    ours = alibi_slopes(num_heads)
    n = num_heads
    m = 1 << (n.bit_length() - 1)
    exps = list(range(1, m + 1)) + [2 * i + 1 for i in range(n - m)]  # BLOOM's exponents
    truth = [2.0 ** (-8.0 * (i + 1) / m) for i in range(m)]
    truth += [2.0 ** (-8.0 * (2 * i + 1) / (2 * m)) for i in range(n - m)]
    assert torch.equal(ours, torch.tensor(truth, dtype=torch.float64).float())
    bound = (torch.tensor(exps, dtype=torch.float64) + 1) * 2.0**-24 * hf.abs()
    assert bool(((ours.double() - hf).abs() <= bound).all())


def _llama_config(head_dim, base):
    return LlamaConfig(
        hidden_size=head_dim * 2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=8,
        num_hidden_layers=1,
        vocab_size=16,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": base},
    )


@pytest.mark.parametrize("base", [10000.0, 500000.0])
def test_llama_half_layout(base):
    cfg = _llama_config(16, base)
    hf_rope = llama.LlamaRotaryEmbedding(cfg)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, 2, 40, 16, generator=g)
    pos = torch.arange(40)[None]  # [1, n]
    cos, sin = hf_rope(q, pos)  # [1, n, d]
    hf_q, hf_k = llama.apply_rotary_pos_emb(q, k, cos, sin)
    ours_cos, ours_sin = rope_cos_sin(torch.arange(40), 16, base)
    # cos/sin tables agree to 1e-6 (HF's float32 angle costs < 1e-6 at positions < 40)
    torch.testing.assert_close(ours_cos, cos[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(ours_sin, sin[0], atol=ATOL, rtol=0)
    # the rotation itself, fed the same cos/sin, agrees to 1e-6
    torch.testing.assert_close(apply_rope(q, cos[0], sin[0]), hf_q, atol=ATOL, rtol=0)
    torch.testing.assert_close(apply_rope(k, cos[0], sin[0]), hf_k, atol=ATOL, rtol=0)
    # end to end the table differences (< 1e-6) are multiplied by |q| (about 4 here), so the
    # bound is 2 * max|x| * (table error); the module itself equals apply_rope(rope_cos_sin)
    ours_q, ours_k = RotaryEmbedding(16, base)(q, k)
    table_err = max(float((ours_cos - cos[0]).abs().max()), float((ours_sin - sin[0]).abs().max()))
    for ours, hf, x in ((ours_q, hf_q, q), (ours_k, hf_k, k)):
        bound = 2 * float(x.abs().max()) * table_err + ATOL
        assert float((ours - hf).abs().max()) <= bound


def test_gptj_interleaved():
    d, n = 16, 40
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, n, 3, d, generator=g)  # GPT-J: [b, n, h, d]
    table = gptj.create_sinusoidal_positions(n, d)  # [n, d] = (sin | cos)
    sin, cos = torch.split(table[None], d // 2, dim=-1)  # [1, n, d/2]
    hf = gptj.apply_rotary_pos_emb(x, sin, cos)
    c, s = rope_cos_sin(torch.arange(n), d, layout="interleaved")  # [n, d]
    ours = apply_rope(x.transpose(1, 2), c, s, layout="interleaved").transpose(1, 2)
    torch.testing.assert_close(ours, hf, atol=ATOL, rtol=0)


@pytest.mark.parametrize("rotary_pct", [0.25, 0.5])
def test_gpt_neox_partial_rotary(rotary_pct):
    head_dim = 32
    cfg = GPTNeoXConfig(
        hidden_size=head_dim * 2,
        num_attention_heads=2,
        intermediate_size=8,
        num_hidden_layers=1,
        vocab_size=16,
        max_position_embeddings=2048,
        rotary_pct=rotary_pct,
    )
    rotary_dim = int(head_dim * rotary_pct)
    hf_rope = neox.GPTNeoXRotaryEmbedding(cfg)
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(2, 2, 2, 30, head_dim, generator=g)
    cos, sin = hf_rope(q, torch.arange(30)[None])
    assert cos.shape[-1] == rotary_dim
    hf_q, hf_k = neox.apply_rotary_pos_emb(q, k, cos, sin)
    ours_cos, ours_sin = rope_cos_sin(torch.arange(30), rotary_dim)
    torch.testing.assert_close(ours_cos, cos[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(ours_sin, sin[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(apply_rope(q, cos[0], sin[0]), hf_q, atol=ATOL, rtol=0)
    torch.testing.assert_close(apply_rope(k, cos[0], sin[0]), hf_k, atol=ATOL, rtol=0)
    ours_q, ours_k = RotaryEmbedding(head_dim, 10000.0, rotary_dim=rotary_dim)(q, k)
    table_err = max(float((ours_cos - cos[0]).abs().max()), float((ours_sin - sin[0]).abs().max()))
    for ours, hf, x in ((ours_q, hf_q, q), (ours_k, hf_k, k)):
        assert float((ours - hf).abs().max()) <= 2 * float(x.abs().max()) * table_err + ATOL
    torch.testing.assert_close(ours_q[..., rotary_dim:], q[..., rotary_dim:], atol=0, rtol=0)
