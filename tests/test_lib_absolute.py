"""posemb.absolute: sinusoidal and learned absolute positions.

Checks the fast table against a slow loop written from Vaswani et al. (2017), the shift
property (moving by k is the same rotation at every position), explicit vs default
positions, and every error path.
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from posemb import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    sinusoidal_embedding,
    sinusoidal_table,
)


def slow_sinusoidal(num_positions, dim, base=10000.0):
    """Vaswani et al. 2017, section 3.5, one entry at a time in Python floats (float64)."""
    table = [[0.0] * dim for _ in range(num_positions)]
    for pos in range(num_positions):
        for i in range(dim // 2):
            angle = pos / base ** (2 * i / dim)
            table[pos][2 * i] = math.sin(angle)
            table[pos][2 * i + 1] = math.cos(angle)
    return torch.tensor(table, dtype=torch.float64)


@pytest.mark.parametrize("dim,base", [(2, 10000.0), (8, 10000.0), (64, 10000.0), (16, 500.0)])
def test_table_matches_paper_loop(dim, base):
    fast = sinusoidal_table(50, dim, base, dtype=torch.float64)
    torch.testing.assert_close(fast, slow_sinusoidal(50, dim, base), atol=1e-12, rtol=0)


def test_table_shape_dtype_and_first_row():
    t = sinusoidal_table(7, 10)
    assert t.shape == (7, 10) and t.dtype == torch.float32
    assert torch.equal(t[0, 0::2], torch.zeros(5)) and torch.equal(t[0, 1::2], torch.ones(5))
    assert sinusoidal_table(0, 4).shape == (0, 4)


def test_embedding_equals_table_rows_and_has_no_limit():
    table = sinusoidal_table(100, 16)
    pos = torch.tensor([[3, 0, 99], [5, 5, 1]])
    torch.testing.assert_close(sinusoidal_embedding(pos, 16), table[pos], atol=0, rtol=0)
    far = sinusoidal_embedding(torch.tensor([10**7]), 16, dtype=torch.float64)
    torch.testing.assert_close(far[0], slow_sinusoidal_row(10**7, 16), atol=1e-9, rtol=0)


def slow_sinusoidal_row(pos, dim, base=10000.0):
    row = []
    for i in range(dim // 2):
        a = pos / base ** (2 * i / dim)
        row += [math.sin(a), math.cos(a)]
    return torch.tensor(row, dtype=torch.float64)


def test_embedding_accepts_int_and_list():
    torch.testing.assert_close(sinusoidal_embedding(3, 8), sinusoidal_table(4, 8)[3])
    torch.testing.assert_close(sinusoidal_embedding([0, 2], 8), sinusoidal_table(3, 8)[[0, 2]])


@given(
    pos=st.integers(0, 5000),
    shift=st.integers(-300, 300),
    half_dim=st.integers(1, 16),
)
def test_shift_is_the_same_block_rotation_everywhere(pos, shift, half_dim):
    """PE[pos + k] = M_k PE[pos], with M_k block-diagonal 2x2 rotations independent of pos."""
    dim = 2 * half_dim
    inv = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # [dim/2]
    c, s = torch.cos(shift * inv), torch.sin(shift * inv)
    m = torch.zeros(dim, dim, dtype=torch.float64)
    for i in range(half_dim):  # (sin, cos) pair: sin(a+b) = sin a cos b + cos a sin b
        m[2 * i, 2 * i], m[2 * i, 2 * i + 1] = c[i], s[i]
        m[2 * i + 1, 2 * i], m[2 * i + 1, 2 * i + 1] = -s[i], c[i]
    here = sinusoidal_embedding(pos, dim, dtype=torch.float64)
    there = sinusoidal_embedding(pos + shift, dim, dtype=torch.float64)
    torch.testing.assert_close(m @ here, there, atol=1e-9, rtol=0)


@given(n=st.integers(1, 40), half_dim=st.integers(1, 8))
def test_module_explicit_positions_equal_default_table(n, half_dim):
    dim = 2 * half_dim
    mod = SinusoidalPositionalEmbedding(dim)
    assert list(mod.parameters()) == []
    torch.testing.assert_close(mod(torch.arange(n)), sinusoidal_table(n, dim), atol=0, rtol=0)
    torch.testing.assert_close(mod.embed_positions(torch.arange(n)), mod(torch.arange(n)))


def test_learned_lookup_and_gradient():
    torch.manual_seed(0)
    mod = LearnedPositionalEmbedding(10, 4)
    pos = torch.tensor([[0, 9], [3, 3]])
    out = mod(pos)
    assert out.shape == (2, 2, 4)
    torch.testing.assert_close(out, mod.weight[pos])
    out.sum().backward()
    assert mod.weight.grad[3].eq(2).all() and mod.weight.grad[1].eq(0).all()
    torch.testing.assert_close(mod.embed_positions(pos), out)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("dim", [3, 0, 7])
def test_odd_or_zero_dim_raises(dim):
    with pytest.raises(ValueError, match="dim"):
        sinusoidal_table(4, dim)
    with pytest.raises(ValueError, match="dim"):
        sinusoidal_embedding(torch.arange(3), dim)
    with pytest.raises(ValueError, match="dim"):
        SinusoidalPositionalEmbedding(dim)


def test_bad_arguments_raise_with_their_names():
    with pytest.raises(ValueError, match="num_positions"):
        sinusoidal_table(-1, 4)
    with pytest.raises(TypeError, match="num_positions"):
        sinusoidal_table(4.0, 4)
    with pytest.raises(ValueError, match="base"):
        sinusoidal_table(4, 4, base=0.0)
    with pytest.raises(TypeError, match="dim"):
        sinusoidal_table(4, 4.0)
    with pytest.raises(TypeError, match="positions"):
        sinusoidal_embedding("abc", 4)
    with pytest.raises(TypeError, match="positions"):
        sinusoidal_embedding(torch.tensor([True]), 4)
    with pytest.raises(ValueError, match="num_positions"):
        LearnedPositionalEmbedding(0, 4)
    with pytest.raises(ValueError, match="dim"):
        LearnedPositionalEmbedding(4, 0)


def test_learned_table_past_its_end_raises_index_error_naming_size():
    mod = LearnedPositionalEmbedding(8, 4)
    with pytest.raises(IndexError, match=r"positions.*num_positions=8.*got position 8"):
        mod(torch.arange(9))
    with pytest.raises(IndexError, match=r"positions.*got position -1"):
        mod(torch.tensor([-1, 0]))
    with pytest.raises(TypeError, match="positions"):
        mod(torch.tensor([0.5]))
