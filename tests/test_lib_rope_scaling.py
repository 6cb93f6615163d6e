"""posemb.rope_frequencies: RoPE context-extension scaling, equal to what checkpoints run.

* parity with transformers 5.23's ``ROPE_INIT_FUNCTIONS[rope_type](config, device, seq_len)``
  for every type over head sizes, bases and factors, with the published Llama 3.1 values,
  a DeepSeek-style YaRN, YaRN without truncation, dynamic NTK below/above its length and
  LongRoPE short/long with and without ``factor``;
* end to end against ``LlamaRotaryEmbedding(config)(x, position_ids)`` up to 32k positions,
  and both against an independent float64 reference (numpy, written from the formulas);
* hand checks from the papers' formulas that do not use transformers;
* the modules (``RotaryEmbedding``, ``Rotary``) and their length-keyed cache;
* every bad input, matched on the name of the offending key or argument.

Why not bit-equal to transformers: transformers computes the inverse frequencies in float32
(``torch.arange(...).float()``, ``base ** (...)``, the YaRN ramp and Llama 3's smoothing),
posemb in float64 throughout, so the two differ by a few float32 ulps (2**-23 ~ 1.2e-7
relative each): rtol 1e-6. Attention factors are Python floats in both and agree exactly.
"""

import math

import numpy as np
import pytest
import torch
import transformers
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.llama import modeling_llama as llama

from posemb import (
    ROPE_TYPES,
    MultiHeadAttention,
    Rotary,
    RotaryEmbedding,
    apply_rope,
    inverse_frequencies,
    rope_cos_sin,
    rope_frequencies,
)

HEAD_DIMS = [32, 64, 128]
BASES = [10000.0, 500000.0, 1e6]
FACTORS = [2, 4, 8, 16, 40]
RTOL = 1e-6  # a few float32 ulps: transformers' frequencies are float32, ours float64
ORIGINAL = 4096

LLAMA31 = {  # meta-llama/Llama-3.1-8B config.json, rope_scaling
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}
LLAMA31_THETA, LLAMA31_HEAD_DIM, LLAMA31_MAX = 500000.0, 128, 131072


@pytest.fixture(autouse=True)
def _quiet_transformers():
    """transformers logs a warning for each odd config; keep the test log readable."""
    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    yield
    transformers.logging.set_verbosity(level)


def hf_config(params, head_dim, base, max_positions):
    """A LlamaConfig as transformers 5.x wants it: rope_theta inside rope_parameters."""
    return LlamaConfig(
        hidden_size=head_dim * 2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=head_dim,
        intermediate_size=8,
        num_hidden_layers=1,
        vocab_size=16,
        max_position_embeddings=max_positions,
        rope_parameters={**params, "rope_theta": base},
    )


def hf_frequencies(params, head_dim, base, max_positions, seq_len=None):
    cfg = hf_config(params, head_dim, base, max_positions)
    inv_freq, factor = ROPE_INIT_FUNCTIONS[cfg.rope_parameters["rope_type"]](cfg, None, seq_len)
    assert inv_freq.dtype == torch.float32
    return inv_freq.double(), factor


def assert_parity(params, head_dim, base, max_positions, seq_len=None, scale=None):
    """Ours (float64) against transformers (float32); returns the max relative difference.

    ``scale`` is what the error is relative to (default: our frequencies themselves).
    """
    hf_inv, hf_factor = hf_frequencies(params, head_dim, base, max_positions, seq_len)
    ours, factor = rope_frequencies(
        head_dim, base, params, seq_len=seq_len, max_positions=max_positions
    )
    assert ours.dtype == torch.float64 and ours.shape == (head_dim // 2,)
    scale = ours if scale is None else scale
    rel = ((hf_inv - ours).abs() / scale).max().item()
    assert rel <= RTOL, (params, head_dim, base, rel)
    assert factor == pytest.approx(hf_factor, abs=1e-6)
    assert isinstance(factor, float)
    return rel


def phi3_lists(head_dim, factor):
    """Phi-3-style LongRoPE factors: near 1 for fast pairs, rising towards slow ones."""
    n = head_dim // 2
    short = [1.0 + 0.1 * (i / (n - 1)) ** 3 for i in range(n)]
    long = [1.0 + (1.5 * factor - 1.0) * (i / (n - 1)) ** 2 for i in range(n)]
    return short, long


# ----------------------------------------------------------------------------- parity


@pytest.mark.parametrize("head_dim", HEAD_DIMS)
def test_linear_llama3_yarn_match_transformers(head_dim):
    for base in BASES:
        for factor in FACTORS:
            max_positions = ORIGINAL * factor
            linear = {"rope_type": "linear", "factor": float(factor)}
            assert_parity(linear, head_dim, base, max_positions)
            llama3 = {
                "rope_type": "llama3",
                "factor": float(factor),
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": ORIGINAL,
            }
            assert_parity(llama3, head_dim, base, max_positions)
            yarn = {
                "rope_type": "yarn",
                "factor": float(factor),
                "original_max_position_embeddings": ORIGINAL,
            }
            assert_parity(yarn, head_dim, base, max_positions)
            # factor absent: transformers needs the key (set to None), posemb max_positions
            assert_parity({**yarn, "factor": None}, head_dim, base, max_positions)


@pytest.mark.parametrize("head_dim", HEAD_DIMS)
def test_yarn_without_truncation_matches_transformers(head_dim):
    """gpt-oss sets truncate=False: the correction range keeps its real ends.

    Relative to theta_i rather than theta'_i: transformers computes the ramp weight
    ``g_i`` in float32, and an error e in g_i moves theta'_i = theta_i (1 - g_i + g_i / s)
    by theta_i (1 - 1/s) e; near the interpolated end theta'_i ~ theta_i / s, so relative
    to theta'_i that is s times a float32 ulp (2.4e-6 measured at s = 40).
    """
    for base in BASES:
        for factor in FACTORS:
            params = {
                "rope_type": "yarn",
                "factor": float(factor),
                "beta_fast": 32.0,
                "beta_slow": 1.0,
                "original_max_position_embeddings": ORIGINAL,
                "truncate": False,
            }
            plain = inverse_frequencies(head_dim, base)
            assert_parity(params, head_dim, base, ORIGINAL * factor, scale=plain)


@pytest.mark.parametrize("mscale", [1.0, 0.707])
def test_deepseek_style_yarn_matches_transformers(mscale):
    """DeepSeek-V2/V3: factor 40, mscale == mscale_all_dim, 4096 original, betas 32/1."""
    params = {
        "rope_type": "yarn",
        "factor": 40.0,
        "mscale": mscale,
        "mscale_all_dim": mscale,
        "original_max_position_embeddings": 4096,
        "beta_fast": 32,
        "beta_slow": 1,
    }
    for head_dim in (64, 128):  # DeepSeek's rotary part of a head is 64 wide
        for base in BASES:
            assert_parity(params, head_dim, base, 163840)
    assert rope_frequencies(64, 10000.0, params)[1] == 1.0  # m(s, a) / m(s, a)


def test_llama31_published_values_match_transformers():
    params = dict(LLAMA31)
    assert_parity(params, LLAMA31_HEAD_DIM, LLAMA31_THETA, LLAMA31_MAX)
    # the dict of a 5.x config carries rope_theta: accepted when it equals base
    with_theta = {**params, "rope_theta": LLAMA31_THETA}
    ours, _ = rope_frequencies(LLAMA31_HEAD_DIM, LLAMA31_THETA, with_theta)
    assert torch.equal(ours, rope_frequencies(LLAMA31_HEAD_DIM, LLAMA31_THETA, params)[0])


@pytest.mark.parametrize("head_dim", HEAD_DIMS)
def test_dynamic_ntk_matches_transformers_below_and_above(head_dim):
    for base in BASES:
        for factor in FACTORS:
            params = {"rope_type": "dynamic", "factor": float(factor)}
            m = 2048
            for seq_len in (None, 1, m // 2, m, m + 1, 3 * m, 40 * m):
                assert_parity(params, head_dim, base, m, seq_len=seq_len)
            below = rope_frequencies(head_dim, base, params, seq_len=m // 2, max_positions=m)
            assert torch.equal(below[0], inverse_frequencies(head_dim, base))


@pytest.mark.parametrize("head_dim", HEAD_DIMS)
def test_longrope_matches_transformers_short_and_long(head_dim):
    for base in BASES:
        for factor in FACTORS:
            short, long = phi3_lists(head_dim, factor)
            params = {
                "rope_type": "longrope",
                "short_factor": short,
                "long_factor": long,
                "original_max_position_embeddings": ORIGINAL,
            }
            max_positions = ORIGINAL * factor
            for p in (params, {**params, "factor": float(factor)}):  # factor absent, given
                for seq_len in (None, 1, ORIGINAL, ORIGINAL + 1, max_positions):
                    assert_parity(p, head_dim, base, max_positions, seq_len=seq_len)
            # an explicit attention_factor wins in both
            p = {**params, "attention_factor": 1.25}
            assert_parity(p, head_dim, base, max_positions, seq_len=ORIGINAL + 1)


def test_phi3_mini_shape_longrope():
    """Phi-3-mini-128k's shape: head_dim 96 (48 factors), 4096 -> 131072, theta 10000."""
    short, long = phi3_lists(96, 32)
    params = {
        "rope_type": "longrope",
        "short_factor": short,
        "long_factor": long,
        "original_max_position_embeddings": 4096,
    }
    for seq_len in (4096, 4097):
        assert_parity(params, 96, 10000.0, 131072, seq_len=seq_len)
    _, factor = rope_frequencies(96, 10000.0, params, max_positions=131072)
    assert factor == pytest.approx(math.sqrt(1 + math.log(32) / math.log(4096)), rel=1e-15)


# ----------------------------------------------------------------------------- end to end


def reference_frequencies(params, head_dim, base):
    """float64 numpy, one pair at a time, straight from the papers (no torch, no posemb)."""
    theta = np.array([base ** (-2 * i / head_dim) for i in range(head_dim // 2)])
    s, orig = params["factor"], params["original_max_position_embeddings"]
    out = theta.copy()
    if params["rope_type"] == "llama3":
        lo, hi = params["low_freq_factor"], params["high_freq_factor"]
        for i, t in enumerate(theta):
            turns = orig * t / (2 * math.pi)  # L / wavelength
            if turns < lo:
                out[i] = t / s
            elif turns <= hi:
                g = (turns - lo) / (hi - lo)
                out[i] = (1 - g) * t / s + g * t
        return out, 1.0

    # yarn, truncate True
    def pair(turns):
        return head_dim * math.log(orig / (turns * 2 * math.pi)) / (2 * math.log(base))

    lo = max(math.floor(pair(params.get("beta_fast", 32))), 0)
    hi = min(math.ceil(pair(params.get("beta_slow", 1))), head_dim - 1)
    for i, t in enumerate(theta):
        g = min(max((i - lo) / (hi - lo), 0.0), 1.0)
        out[i] = (1 - g) * t + g * t / s
    return out, 0.1 * math.log(s) + 1


END_TO_END = {
    "yarn": (
        {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8192},
        128,
        1e6,
        32768,
    ),
    "llama3": (LLAMA31, LLAMA31_HEAD_DIM, LLAMA31_THETA, LLAMA31_MAX),
}


@pytest.mark.parametrize("name", sorted(END_TO_END))
def test_cos_sin_match_llama_rotary_embedding_up_to_32k(name):
    """cos/sin of ``LlamaRotaryEmbedding`` at positions 0 .. 32767 against ours.

    Tolerance, per position p and pair i: transformers multiplies p by its float32
    theta'_i (relative error d_i, measured here against ours) and rounds the product
    (2**-24), so its angle is off by at most p theta'_i (|d_i| + 2**-24); cos and sin move by
    no more than the angle, times the attention factor a, plus a few float32 ulps of the
    result. Ours are float64 until one cast: within half an ulp of an exact float64
    reference, so transformers is the less accurate one by three orders of magnitude.
    """
    params, head_dim, base, max_positions = END_TO_END[name]
    cfg = hf_config(params, head_dim, base, max_positions)
    hf = llama.LlamaRotaryEmbedding(cfg)
    n = 32768
    pos = torch.arange(n)
    x = torch.zeros(1, n, head_dim)
    hf_cos, hf_sin = hf(x, pos[None])  # [1, n, d] float32
    hf_cos, hf_sin = hf_cos[0].double(), hf_sin[0].double()  # [n, d]
    cos, sin = rope_cos_sin(pos, head_dim, base, "half", scaling=params)  # [n, d] float32
    cos64, sin64 = rope_cos_sin(pos, head_dim, base, "half", scaling=params, dtype=torch.float64)

    ref_inv, ref_factor = reference_frequencies(params, head_dim, base)
    ours_inv, factor = rope_frequencies(head_dim, base, params)
    assert factor == pytest.approx(ref_factor, rel=1e-15)
    np.testing.assert_allclose(ours_inv.numpy(), ref_inv, rtol=1e-13)
    angles = np.outer(np.arange(n, dtype=np.float64), ref_inv)  # [n, d/2]
    ref_cos = torch.from_numpy(np.concatenate([np.cos(angles)] * 2, axis=1) * ref_factor)
    ref_sin = torch.from_numpy(np.concatenate([np.sin(angles)] * 2, axis=1) * ref_factor)

    hf_inv = hf.inv_freq.double()  # [d/2]
    d = ((hf_inv - ours_inv).abs() / ours_inv).repeat(2)  # [d]
    theta = ours_inv.repeat(2)  # [d]
    bound = factor * (pos.double()[:, None] * theta * (d + 2.0**-24) + 4 * 2.0**-24)  # [n, d]
    for ours_t, hf_t in ((cos, hf_cos), (sin, hf_sin)):
        assert ((ours_t.double() - hf_t).abs() <= bound).all()

    half_ulp = factor * 2.0**-24  # the one float32 rounding of a value of size <= factor
    ours_err = max((cos.double() - ref_cos).abs().max(), (sin.double() - ref_sin).abs().max())
    ours64_err = max((cos64 - ref_cos).abs().max(), (sin64 - ref_sin).abs().max())
    hf_err = max((hf_cos - ref_cos).abs().max(), (hf_sin - ref_sin).abs().max())
    assert ours_err <= half_ulp * 1.01
    assert ours64_err < 1e-10
    assert hf_err > 1000 * ours_err  # ~1e-3 at 32k: the float32 angle


def test_llama_rotary_embedding_dynamic_and_longrope_modules():
    """transformers' modules switch frequencies per call; ours give the same fresh result.

    transformers' dynamic NTK keeps the largest length it has seen (it only grows, and
    resets below max_position_embeddings); ours depend on the current call only.
    """
    head_dim, base, m = 32, 10000.0, 256
    dynamic = {"rope_type": "dynamic", "factor": 4.0}
    short, long = phi3_lists(head_dim, 8)
    longrope = {
        "rope_type": "longrope",
        "short_factor": short,
        "long_factor": long,
        "original_max_position_embeddings": m,
        "factor": 8.0,
    }
    for params in (dynamic, longrope):
        ours = RotaryEmbedding(head_dim, base, scaling=params, max_positions=m)
        for n in (m // 2, 3 * m, m // 2, 2 * m, m):
            hf = llama.LlamaRotaryEmbedding(hf_config(params, head_dim, base, m))
            pos = torch.arange(n)
            hf_cos, hf_sin = hf(torch.zeros(1, n, head_dim), pos[None])
            cos, sin = ours.cos_sin(pos)
            fresh = rope_cos_sin(pos, head_dim, base, scaling=params, max_positions=m)
            assert torch.equal(cos, fresh[0]) and torch.equal(sin, fresh[1])
            tol = 8 * n * 2.0**-23  # float32 angles in transformers (see the test above)
            assert (cos - hf_cos[0]).abs().max() <= tol
            assert (sin - hf_sin[0]).abs().max() <= tol

    # the history dependence of transformers' dynamic NTK, which ours does not have
    hf = llama.LlamaRotaryEmbedding(hf_config(dynamic, head_dim, base, m))
    hf(torch.zeros(1, 1, head_dim), torch.tensor([[4 * m - 1]]))  # a long call first
    after_long = hf(torch.zeros(1, 2 * m, head_dim), torch.arange(2 * m)[None])[0][0]
    fresh_hf = llama.LlamaRotaryEmbedding(hf_config(dynamic, head_dim, base, m))
    fresh = fresh_hf(torch.zeros(1, 2 * m, head_dim), torch.arange(2 * m)[None])[0][0]
    assert (after_long - fresh).abs().max() > 1e-2


# ----------------------------------------------------------------------------- hand checks


@pytest.mark.parametrize("head_dim", HEAD_DIMS)
@pytest.mark.parametrize("base", BASES)
def test_none_and_default_are_the_old_frequencies(head_dim, base):
    old = inverse_frequencies(head_dim, base)
    for scaling in (None, {"rope_type": "default"}, {"type": "default"}, {}):
        inv, factor = rope_frequencies(head_dim, base, scaling)
        assert torch.equal(inv, old) and factor == 1.0
    pos = torch.arange(0, 70000, 13)
    for layout in ("half", "interleaved"):
        for dtype in (torch.float32, torch.bfloat16, torch.float64):
            plain = rope_cos_sin(pos, head_dim, base, layout, dtype=dtype)
            default = rope_cos_sin(
                pos, head_dim, base, layout, dtype=dtype, scaling={"rope_type": "default"}
            )
            assert torch.equal(plain[0], default[0]) and torch.equal(plain[1], default[1])


@pytest.mark.parametrize("factor", FACTORS)
def test_linear_is_default_over_factor(factor):
    """Chen et al. (2023): positions m -> m / s, i.e. theta_i -> theta_i / s."""
    inv, attn = rope_frequencies(64, 10000.0, {"rope_type": "linear", "factor": factor})
    assert torch.equal(inv, inverse_frequencies(64, 10000.0) / factor) and attn == 1.0
    # and the angles of position s*m equal the unscaled angles of position m
    m = torch.arange(0, 1000)
    scaled = rope_cos_sin(m * factor, 64, scaling={"rope_type": "linear", "factor": factor})
    plain = rope_cos_sin(m, 64)
    assert (scaled[0] - plain[0]).abs().max() < 1e-6


@pytest.mark.parametrize("head_dim", HEAD_DIMS)
@pytest.mark.parametrize("factor", FACTORS)
def test_ntk_changes_the_base(head_dim, factor):
    """bloc97: base -> base * s**(d/(d-2)); fastest pair unchanged, slowest divided by s."""
    inv, attn = rope_frequencies(head_dim, 10000.0, {"rope_type": "ntk", "factor": factor})
    new_base = 10000.0 * factor ** (head_dim / (head_dim - 2))
    assert torch.equal(inv, inverse_frequencies(head_dim, new_base)) and attn == 1.0
    plain = inverse_frequencies(head_dim, 10000.0)
    assert inv[0] == 1.0
    assert inv[-1].item() == pytest.approx(plain[-1].item() / factor, rel=1e-13)
    assert (inv <= plain).all() and (inv >= plain / factor * (1 - 1e-13)).all()


def test_dynamic_ntk_formula_by_hand():
    d, base, m, s = 64, 10000.0, 1000, 4.0
    params = {"rope_type": "dynamic", "factor": s}
    for n in (10, 1000, 1500, 4000):
        inv, _ = rope_frequencies(d, base, params, seq_len=n, max_positions=m)
        ntk = max(1.0, s * n / m - (s - 1))
        want = [(base * ntk ** (d / (d - 2))) ** (-2 * i / d) for i in range(d // 2)]
        assert inv.tolist() == pytest.approx(want, rel=1e-13)
    # seq_len=None means max_positions: unscaled
    assert torch.equal(
        rope_frequencies(d, base, params, max_positions=m)[0], inverse_frequencies(d, base)
    )


def test_llama3_three_bands():
    """Llama 3.1's published values: wavelength 2 pi / theta_i against 8192 / 4 and 8192 / 1.

    theta_i = 500000**(-i/64): lambda_i < 2048 iff i < 64 ln(2048 / (2 pi)) / ln 500000 =
    28.2, and lambda_i > 8192 iff i > 64 ln(8192 / (2 pi)) / ln 500000 = 34.98: pairs
    0..28 unchanged, 35..63 divided by 8, 29..34 smoothed in between.
    """
    inv, attn = rope_frequencies(LLAMA31_HEAD_DIM, LLAMA31_THETA, LLAMA31)
    plain = inverse_frequencies(LLAMA31_HEAD_DIM, LLAMA31_THETA)
    assert attn == 1.0
    assert torch.equal(inv[:29], plain[:29])
    assert torch.equal(inv[35:], plain[35:] / 8)
    mid, mid_plain = inv[29:35], plain[29:35]
    assert ((mid < mid_plain) & (mid > mid_plain / 8)).all()
    ratio = mid_plain / mid  # falls from ~1 to ~8 with the wavelength
    assert (ratio[1:] > ratio[:-1]).all()
    # the smoothing by hand for one pair
    t = plain[32].item()
    g = (8192 * t / (2 * math.pi) - 1) / (4 - 1)
    assert inv[32].item() == pytest.approx((1 - g) * t / 8 + g * t, rel=1e-14)


def test_yarn_ramp_endpoints_and_temperature():
    """Peng et al. (2023): i(beta) = d ln(L / (2 pi beta)) / (2 ln base).

    d 128, base 10000, L 4096: i(32) = 64 ln(4096 / 64 pi) / ln 10000 = 20.94 -> floor 20,
    i(1) = 64 ln(4096 / 2 pi) / ln 10000 = 45.03 -> ceil 46. Pairs 0..20 keep theta_i,
    pairs 46.. take theta_i / s, pair i in between the blend with g = (i - 20) / 26.
    """
    s = 8.0
    params = {"rope_type": "yarn", "factor": s, "original_max_position_embeddings": 4096}
    inv, attn = rope_frequencies(128, 10000.0, params)
    plain = inverse_frequencies(128, 10000.0)
    assert torch.equal(inv[:21], plain[:21])
    assert torch.equal(inv[46:], plain[46:] / s)
    for i in (21, 33, 45):
        g = (i - 20) / 26
        assert inv[i].item() == pytest.approx((1 - g) * plain[i].item() + g * plain[i].item() / s)
    assert attn == pytest.approx(0.1 * math.log(s) + 1, rel=1e-15)  # sqrt(1/t)
    # untruncated: the ramp starts and ends at the real i(32), i(1)
    lo = 64 * math.log(4096 / (64 * math.pi)) / math.log(10000)
    hi = 64 * math.log(4096 / (2 * math.pi)) / math.log(10000)
    inv_f, _ = rope_frequencies(128, 10000.0, {**params, "truncate": False})
    g = (33 - lo) / (hi - lo)
    assert inv_f[33].item() == pytest.approx((1 - g) * plain[33].item() + g * plain[33].item() / s)
    assert torch.equal(inv_f[:21], plain[:21]) and torch.equal(inv_f[46:], plain[46:] / s)
    # temperature variants: s <= 1 gives 1, mscale ratio, explicit attention_factor
    assert rope_frequencies(128, 10000.0, {**params, "factor": 1.0})[1] == 1.0
    m = {**params, "mscale": 1.0, "mscale_all_dim": 0.5}
    want = (0.1 * math.log(s) + 1) / (0.05 * math.log(s) + 1)
    assert rope_frequencies(128, 10000.0, m)[1] == pytest.approx(want, rel=1e-15)
    assert rope_frequencies(128, 10000.0, {**params, "attention_factor": 0.9})[1] == 0.9
    # factor absent: max_positions / L
    absent = {k: v for k, v in params.items() if k != "factor"}
    same = rope_frequencies(128, 10000.0, absent, max_positions=4096 * 8)
    assert torch.equal(same[0], inv) and same[1] == attn


def test_longrope_switches_after_the_original_length():
    """Ding et al. (2024): theta_i / lambda_i; attention factor sqrt(1 + ln s / ln L)."""
    short, long = phi3_lists(32, 16)
    params = {
        "rope_type": "longrope",
        "short_factor": short,
        "long_factor": long,
        "original_max_position_embeddings": 2048,
        "factor": 16,
    }
    plain = inverse_frequencies(32, 10000.0)
    for seq_len, factors in ((None, short), (0, short), (2048, short), (2049, long)):
        inv, attn = rope_frequencies(32, 10000.0, params, seq_len=seq_len)
        assert torch.equal(inv, plain / torch.tensor(factors, dtype=torch.float64))
        assert attn == pytest.approx(math.sqrt(1 + math.log(16) / math.log(2048)), rel=1e-15)
    assert rope_frequencies(32, 10000.0, {**params, "factor": 1.0})[1] == 1.0
    assert rope_frequencies(32, 10000.0, {**params, "factor": None}, max_positions=2048)[1] == 1.0


def test_cos_sin_carry_the_attention_factor_in_both_layouts():
    params = {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 1024}
    inv, attn = rope_frequencies(16, 10000.0, params)
    pos = torch.tensor([[0, 5, 70000], [3, 2, 1]])  # [2, 3]
    angles = pos.double()[..., None] * inv  # [2, 3, 8]
    for layout, spread in (
        ("half", lambda t: torch.cat((t, t), -1)),
        ("interleaved", lambda t: torch.stack((t, t), -1).flatten(-2)),
    ):
        cos, sin = rope_cos_sin(pos, 16, 10000.0, layout, dtype=torch.float64, scaling=params)
        assert torch.equal(cos, spread(angles.cos() * attn))
        assert torch.equal(sin, spread(angles.sin() * attn))
        c32, _ = rope_cos_sin(pos, 16, 10000.0, layout, scaling=params)
        assert torch.equal(c32, cos.float())  # one cast from float64
    assert cos[0, 0, 0].item() == attn  # cos 0 = 1, times the factor


def test_hf_style_dicts_are_accepted():
    """Legacy ``type``, ``rope_theta`` equal to base, ``partial_rotary_factor`` (not applied)."""
    legacy = {"type": "linear", "factor": 2.0}
    assert torch.equal(
        rope_frequencies(16, 10000.0, legacy)[0],
        rope_frequencies(16, 10000.0, {"rope_type": "linear", "factor": 2})[0],
    )
    both = {"rope_type": "linear", "type": "linear", "factor": 2.0, "rope_theta": 10000}
    assert torch.equal(
        rope_frequencies(16, 10000.0, both)[0], rope_frequencies(16, 10000.0, legacy)[0]
    )
    partial = {"rope_type": "linear", "factor": 2.0, "partial_rotary_factor": 0.25}
    assert rope_frequencies(16, 10000.0, partial)[0].shape == (8,)  # dim is the rotary dim
    assert set(ROPE_TYPES) == {"default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope"}
    assert set(ROPE_TYPES) - {"ntk", "default"} <= set(ROPE_INIT_FUNCTIONS)
    # what the FAQ says: transformers has one more type, posemb refuses it by name
    assert set(ROPE_INIT_FUNCTIONS) - set(ROPE_TYPES) == {"proportional"}
    with pytest.raises(ValueError, match="'proportional'"):
        rope_frequencies(16, 10000.0, {"rope_type": "proportional", "factor": 2.0})


# ----------------------------------------------------------------------------- modules


def test_module_equals_the_function_with_scaling():
    params = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}
    rope = RotaryEmbedding(16, 10000.0, scaling=params)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, 3, 40, 16, generator=g)
    rq, rk = rope(q, k, offset=100)
    cos, sin = rope_cos_sin(torch.arange(100, 140), 16, scaling=params)
    assert torch.equal(rq, apply_rope(q, cos, sin)) and torch.equal(rk, apply_rope(k, cos, sin))
    for pos in (torch.arange(5), torch.tensor([3, 2**21]), torch.tensor([1.5, 2.0])):
        got = rope.cos_sin(pos, torch.bfloat16)
        want = rope_cos_sin(pos, 16, scaling=params, dtype=torch.bfloat16)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert "yarn" in repr(rope)


@pytest.mark.parametrize("params", ["dynamic", "longrope"])
def test_module_cache_is_keyed_by_length(params):
    """A shorter call after a longer one gets its own frequencies, not the cached long ones."""
    m = 64
    short, long = phi3_lists(16, 4)
    scaling = {
        "dynamic": {"rope_type": "dynamic", "factor": 4.0},
        "longrope": {
            "rope_type": "longrope",
            "short_factor": short,
            "long_factor": long,
            "original_max_position_embeddings": m,
            "factor": 4.0,
        },
    }[params]
    rope = RotaryEmbedding(16, 10000.0, scaling=scaling, max_positions=m)
    for n in (10, 4 * m, 10, 2 * m, m, m + 1, 3):
        pos = torch.arange(n)
        cos, sin = rope.cos_sin(pos)
        want = rope_cos_sin(pos, 16, scaling=scaling, max_positions=m)
        assert torch.equal(cos, want[0]) and torch.equal(sin, want[1]), n
    # the sequence length of a call is the largest position + 1 over queries and keys
    q = torch.randn(1, 1, 1, 16)
    k = torch.randn(1, 1, 4 * m, 16)
    rq, rk = rope(q, k, positions=torch.tensor([0]), k_positions=torch.arange(4 * m))
    cos, sin = rope_cos_sin(torch.tensor([0]), 16, scaling=scaling, seq_len=4 * m, max_positions=m)
    assert torch.equal(rq, apply_rope(q, cos, sin))
    # a pinned seq_len fixes the frequencies whatever the call sees
    pinned = RotaryEmbedding(16, scaling=scaling, max_positions=m, seq_len=4 * m)
    got = pinned.cos_sin(torch.arange(5))
    want = rope_cos_sin(torch.arange(5), 16, scaling=scaling, seq_len=4 * m, max_positions=m)
    assert torch.equal(got[0], want[0])


def test_module_partial_rotary_factor_and_attention():
    scaling = {"rope_type": "linear", "factor": 2.0, "partial_rotary_factor": 0.5}
    assert RotaryEmbedding(32, scaling=scaling).rotary_dim == 16
    assert RotaryEmbedding(32, rotary_dim=16, scaling=scaling).rotary_dim == 16
    with pytest.raises(ValueError, match="partial_rotary_factor"):
        RotaryEmbedding(32, rotary_dim=8, scaling=scaling)
    llama3 = {**LLAMA31, "original_max_position_embeddings": 64}
    mha = MultiHeadAttention(32, 2, scheme=Rotary(16, 500000.0, scaling=llama3))
    out = mha(torch.randn(2, 100, 32))
    assert out.shape == (2, 100, 32) and torch.isfinite(out).all()


# ----------------------------------------------------------------------------- bad input

YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024}
LR_SHORT, LR_LONG = phi3_lists(16, 4)
LONGROPE = {
    "rope_type": "longrope",
    "short_factor": LR_SHORT,
    "long_factor": LR_LONG,
    "original_max_position_embeddings": 1024,
    "factor": 4.0,
}


def _without(d, key):
    return {k: v for k, v in d.items() if k != key}


BAD = [
    # (scaling, kwargs, exception, match)
    ({"rope_type": "su"}, {}, ValueError, "rope_type"),
    ({"type": "proportional"}, {}, ValueError, "type"),
    ({"rope_type": "linear", "type": "yarn", "factor": 2.0}, {}, ValueError, "type"),
    ({"rope_type": None, "type": 3}, {}, ValueError, "type"),
    ({"rope_type": "linear"}, {}, ValueError, "factor"),
    ({"rope_type": "linear", "factor": None}, {}, ValueError, "factor"),
    ({"rope_type": "linear", "factor": 0}, {}, ValueError, "factor"),
    ({"rope_type": "linear", "factor": -2.0}, {}, ValueError, "factor"),
    ({"rope_type": "linear", "factor": float("nan")}, {}, ValueError, "factor"),
    ({"rope_type": "linear", "factor": True}, {}, TypeError, "factor"),
    ({"rope_type": "linear", "factor": "4"}, {}, TypeError, "factor"),
    ({"rope_type": "ntk"}, {}, ValueError, "factor"),
    ({"rope_type": "dynamic"}, {"max_positions": 10}, ValueError, "factor"),
    ({"rope_type": "llama3", **_without(LLAMA31, "factor")}, {}, ValueError, "factor"),
    (_without(YARN, "factor"), {}, ValueError, "factor"),
    (_without(LONGROPE, "factor"), {}, ValueError, "factor"),
    (_without(YARN, "original_max_position_embeddings"), {}, ValueError, "original_max"),
    (_without(LONGROPE, "original_max_position_embeddings"), {}, ValueError, "original_max"),
    (_without(LLAMA31, "original_max_position_embeddings"), {}, ValueError, "original_max"),
    ({**YARN, "original_max_position_embeddings": 0}, {}, ValueError, "original_max"),
    ({**YARN, "original_max_position_embeddings": 10.5}, {}, ValueError, "original_max"),
    ({**LLAMA31, "high_freq_factor": 1.0}, {}, ValueError, "high_freq_factor"),
    ({**LLAMA31, "low_freq_factor": 5.0}, {}, ValueError, "low_freq_factor"),
    (_without(LLAMA31, "high_freq_factor"), {}, ValueError, "high_freq_factor"),
    (_without(LLAMA31, "low_freq_factor"), {}, ValueError, "low_freq_factor"),
    ({**LLAMA31, "low_freq_factor": 0.0}, {}, ValueError, "low_freq_factor"),
    ({**LONGROPE, "short_factor": LR_SHORT[:-1]}, {}, ValueError, "short_factor"),
    ({**LONGROPE, "long_factor": LR_LONG + [1.0]}, {}, ValueError, "long_factor"),
    ({**LONGROPE, "long_factor": None}, {}, ValueError, "long_factor"),
    (_without(LONGROPE, "short_factor"), {}, ValueError, "short_factor"),
    ({**LONGROPE, "short_factor": [0.0] + LR_SHORT[1:]}, {}, ValueError, "short_factor"),
    ({**LONGROPE, "long_factor": [-1.0] + LR_LONG[1:]}, {}, ValueError, "long_factor"),
    ({**LONGROPE, "long_factor": ["1"] + LR_LONG[1:]}, {}, TypeError, "long_factor"),
    ({**LONGROPE, "attention_factor": 0.0}, {}, ValueError, "attention_factor"),
    ({"rope_type": "dynamic", "factor": 2.0}, {}, ValueError, "max_positions"),
    ({"rope_type": "linear", "factr": 2.0, "factor": 2.0}, {}, ValueError, "factr"),
    ({"rope_type": "linear", "factor": 2.0, "beta_fast": 32}, {}, ValueError, "beta_fast"),
    ({"rope_type": "default", "factor": 2.0}, {}, ValueError, "factor"),
    ({**YARN, "low_freq_factor": 1.0}, {}, ValueError, "low_freq_factor"),
    ({**YARN, "beta_fast": 0.5}, {}, ValueError, "beta_fast"),
    ({**YARN, "beta_slow": -1}, {}, ValueError, "beta_slow"),
    ({**YARN, "truncate": "no"}, {}, TypeError, "truncate"),
    ({**YARN, "mscale": 0.707}, {}, ValueError, "mscale_all_dim"),
    ({**YARN, "mscale_all_dim": 0.707}, {}, ValueError, "mscale"),
    ({**YARN, "rope_theta": 500000.0}, {}, ValueError, "rope_theta"),
    ({**YARN, "partial_rotary_factor": 1.5}, {}, ValueError, "partial_rotary_factor"),
    ([("rope_type", "linear")], {}, TypeError, "scaling"),
    ("linear", {}, TypeError, "scaling"),
    ({"rope_type": "ntk", "factor": 2.0}, {"dim": 2}, ValueError, "dim"),
    (None, {"dim": 7}, ValueError, "dim"),
    (None, {"dim": 0}, ValueError, "dim"),
    (None, {"dim": -4}, ValueError, "dim"),
    (YARN, {"dim": 7}, ValueError, "dim"),
    (None, {"base": 0.0}, ValueError, "base"),
    (YARN, {"base": -10000.0}, ValueError, "base"),
    (YARN, {"seq_len": -1}, ValueError, "seq_len"),
    (None, {"seq_len": -1}, ValueError, "seq_len"),
    (YARN, {"seq_len": 2.5}, TypeError, "seq_len"),
    ({"rope_type": "dynamic", "factor": 2.0}, {"max_positions": 0}, ValueError, "max_positions"),
]


@pytest.mark.parametrize("scaling,kwargs,exc,match", BAD)
def test_bad_input_names_the_key(scaling, kwargs, exc, match):
    kwargs = dict(kwargs)
    dim = kwargs.pop("dim", 16)
    base = kwargs.pop("base", 10000.0)
    with pytest.raises(exc, match=match):
        rope_frequencies(dim, base, scaling, **kwargs)
    if dim == 16 and base == 10000.0:  # the same checks guard the function and the modules
        with pytest.raises(exc, match=match):
            rope_cos_sin(torch.arange(4), dim, base, scaling=scaling, **kwargs)
        if scaling is not None:
            with pytest.raises(exc, match=match):
                RotaryEmbedding(dim, base, scaling=scaling, **kwargs)


def test_messages_list_the_accepted_values():
    with pytest.raises(ValueError, match=r"must be one of \('default', 'linear', 'ntk'"):
        rope_frequencies(16, scaling={"rope_type": "su"})
    with pytest.raises(
        ValueError,
        match=r"accepted keys: \['factor', 'llama_4_scaling_beta', 'max_position_embeddings', "
        r"'partial",
    ):
        rope_frequencies(16, scaling={"rope_type": "linear", "factr": 2.0})
    with pytest.raises(ValueError, match=r"dim // 2 = 8"):
        rope_frequencies(16, scaling={**LONGROPE, "short_factor": [1.0]})


def shipped_configs():
    """transformers' configuration classes whose defaults carry a RoPE scaling dict.

    Their defaults are the reference checkpoints' settings (gpt-oss, Apertus, CWM,
    Ministral 3, Mistral 4, ...), so these are dicts real models ship, not made-up ones.
    """
    import importlib

    names = {
        "gpt_oss": "GptOssConfig",
        "apertus": "ApertusConfig",
        "cwm": "CwmConfig",
        "ministral3": "Ministral3Config",
        "mistral4": "Mistral4Config",
    }
    out = []
    for module, cls in names.items():
        mod = importlib.import_module(f"transformers.models.{module}.configuration_{module}")
        out.append(pytest.param(getattr(mod, cls), id=cls))
    return out


@pytest.mark.parametrize("config_class", shipped_configs())
def test_shipped_model_dicts_match_transformers(config_class):
    """A real model's rope_parameters goes in as it is and gives transformers' frequencies."""
    cfg = config_class()
    params = dict(cfg.rope_parameters)
    assert params.get("rope_type") in ("yarn", "llama3")
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    rotary = int(head_dim * params.get("partial_rotary_factor", 1.0))
    hf_inv, hf_factor = ROPE_INIT_FUNCTIONS[params["rope_type"]](cfg, None, None)
    ours, factor = rope_frequencies(
        rotary, params["rope_theta"], params, max_positions=cfg.max_position_embeddings
    )
    rel = ((hf_inv.double() - ours).abs() / ours).max().item()
    assert rel <= RTOL, (config_class.__name__, rel)
    assert factor == pytest.approx(hf_factor, abs=1e-6)


def test_max_position_embeddings_in_the_dict_must_agree():
    params = {"rope_type": "dynamic", "factor": 2.0, "max_position_embeddings": 64}
    a, _ = rope_frequencies(16, 10000.0, params, seq_len=128)
    b, _ = rope_frequencies(16, 10000.0, {"rope_type": "dynamic", "factor": 2.0}, seq_len=128,
                            max_positions=64)  # fmt: skip
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="differs from max_positions = 32"):
        rope_frequencies(16, 10000.0, params, max_positions=32)
    with pytest.raises(ValueError, match="llama_4_scaling_beta"):
        rope_frequencies(16, 10000.0, {"rope_type": "linear", "factor": 2.0,
                                       "llama_4_scaling_beta": -1})  # fmt: skip
