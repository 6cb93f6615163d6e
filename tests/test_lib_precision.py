"""Precision of angles at large positions (up to 2**24).

The design rule: angles and their cos/sin are computed in float64 and cast once to the
requested dtype. So the only error in the output is the final rounding. The truth here is
computed independently in Python floats (float64, ``math.cos``/``math.sin``).

* float32 output: within 1e-6 of the truth (the final rounding alone is <= 2**-25 ~ 3e-8).
* bfloat16 / float16 output: these formats cannot represent values to 1e-6 (bfloat16 has
  8 significant bits, about 4e-3 near 1), so "within 1e-6" would be meaningless. The test is
  instead that the output *equals the float64 truth cast to that dtype*, bit for bit: no
  error beyond the unavoidable final rounding.
* a float32-angle computation (what Hugging Face Llama does) fails the float32 check by
  orders of magnitude at these positions, which shows the test can fail.
"""

import math

import pytest
import torch

from posemb import RotaryEmbedding, apply_rope, rope_cos_sin, sinusoidal_embedding

POSITIONS = [0, 1, 1000, 65535, 10**6, 2**23 + 1, 2**24 - 1, 2**24]
DIM = 64
BASES = [10000.0, 500000.0]


def truth(positions, dim, base, fn):
    out = []
    for p in positions:
        row = []
        for i in range(dim // 2):
            row.append(fn(p * base ** (-2 * i / dim)))
        out.append(row)
    return torch.tensor(out, dtype=torch.float64)  # [n, dim/2]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_float32_within_1e6_of_float64_truth(base, layout):
    cos, sin = rope_cos_sin(torch.tensor(POSITIONS), DIM, base, layout)
    c_true, s_true = truth(POSITIONS, DIM, base, math.cos), truth(POSITIONS, DIM, base, math.sin)
    pick = slice(0, DIM // 2) if layout == "half" else slice(0, DIM, 2)
    assert cos.dtype == torch.float32
    assert float((cos[:, pick].double() - c_true).abs().max()) <= 1e-6
    assert float((sin[:, pick].double() - s_true).abs().max()) <= 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("base", BASES)
def test_output_is_float64_truth_cast_once(dtype, base):
    cos, sin = rope_cos_sin(torch.tensor(POSITIONS), DIM, base, dtype=dtype)
    c_true, s_true = truth(POSITIONS, DIM, base, math.cos), truth(POSITIONS, DIM, base, math.sin)
    assert cos.dtype == dtype
    assert torch.equal(cos[:, : DIM // 2], c_true.to(dtype))
    assert torch.equal(sin[:, : DIM // 2], s_true.to(dtype))
    # the module's cache (float64, cast per dtype) gives the same bits
    c_mod, s_mod = RotaryEmbedding(DIM, base).cos_sin(torch.tensor(POSITIONS), dtype)
    assert torch.equal(c_mod, cos) and torch.equal(s_mod, sin)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_sinusoidal_embedding_is_truth_cast_once(dtype):
    emb = sinusoidal_embedding(torch.tensor(POSITIONS), DIM, dtype=dtype)
    s_true = truth(POSITIONS, DIM, 10000.0, math.sin)
    c_true = truth(POSITIONS, DIM, 10000.0, math.cos)
    assert torch.equal(emb[:, 0::2], s_true.to(dtype))
    assert torch.equal(emb[:, 1::2], c_true.to(dtype))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_use_cast_once_tables(dtype):
    """A bf16/fp16 query at position 2**24 is rotated with the cast-once cos/sin."""
    q = torch.randn(1, 1, 2, DIM).to(dtype)
    pos = torch.tensor([2**24 - 1, 2**24])
    qr, _ = RotaryEmbedding(DIM)(q, q, positions=pos)
    cos, sin = rope_cos_sin(pos, DIM, dtype=dtype)
    assert qr.dtype == dtype
    assert torch.equal(qr, apply_rope(q, cos, sin))


def test_a_float32_angle_would_fail():
    """HF-style float32 angle ``pos.float() * inv_freq.float()`` misses by far more than 1e-6."""
    inv = 1.0 / 10000.0 ** (torch.arange(0, DIM, 2, dtype=torch.float32) / DIM)
    angle32 = torch.tensor(POSITIONS, dtype=torch.float32)[:, None] * inv
    err = (angle32.cos().double() - truth(POSITIONS, DIM, 10000.0, math.cos)).abs().max()
    assert float(err) > 1e-3
