"""Rotary positions: rotate queries and keys by an angle proportional to their position.

Where position enters: (2) *rotating queries and keys*, ``q, k = rotate(q, k, positions)``.
Explained in the book chapter "Rotary positions".

Notation: ``b`` batch, ``h`` heads, ``n`` sequence length, ``d`` head dim, ``r`` rotary dim
(the number of rotated features, ``r <= d``, even), ``...`` any leading shape.

RoPE (Su et al. 2021, "RoFormer: Enhanced Transformer with Rotary Position Embedding") turns
feature pair ``i`` of a query or key at position ``m`` by the angle ``m * base**(-2i/r)``.
Then ``<R_m q, R_n k> = <q, R_{n-m} k>``: the score depends on ``n - m`` only.

Two layouts decide which features form pair ``i``:

* ``"half"`` (GPT-NeoX, Hugging Face Llama ``rotate_half``): features ``i`` and ``i + r/2``;
* ``"interleaved"`` (GPT-J, Meta's reference Llama, RoFormer): features ``2i`` and ``2i + 1``.

Both are the same rotation up to a fixed permutation of the features;
:func:`convert_qk_weights` moves a checkpoint's q/k projections from one to the other.

Partial rotary (GPT-NeoX ``rotary_pct``): when ``cos`` is narrower than ``x``, only the first
``r`` features are rotated and the rest pass through unchanged.

xPos (Sun et al. 2022, "A Length-Extrapolatable Transformer") multiplies pair ``i`` of the
query at ``m`` by ``zeta_i**(m/scale_base)`` and of the key at ``n`` by
``zeta_i**(-n/scale_base)``, ``zeta_i = (2i/d + 0.4) / 1.4``, so scores decay with distance.

Context extension (position interpolation, NTK-aware and dynamic NTK, YaRN, Llama 3.1,
LongRoPE) changes the frequencies: :func:`rope_frequencies` takes a Hugging Face style
``rope_parameters`` dict, and :func:`rope_cos_sin`, :class:`RotaryEmbedding` and
:class:`Rotary` accept the same dict as ``scaling``.

Angles are computed in float64 and cast once to the requested dtype.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
from collections.abc import Mapping

import torch
from torch import nn

from . import _rope_kernels
from ._checks import (
    as_positions,
    check_even,
    check_finite,
    check_float_dtype,
    check_int,
    check_layout,
    check_positive_float,
    check_qk,
    check_seq_positions,
)
from .absolute import inverse_frequencies
from .attention import PositionScheme

__all__ = [
    "ROPE_TYPES",
    "ROPE_BACKENDS",
    "rope_frequencies",
    "rope_angles",
    "rope_cos_sin",
    "apply_rope",
    "apply_rope_reference",
    "RotaryEmbedding",
    "Rotary",
    "xpos_zeta",
    "xpos_scale",
    "apply_xpos",
    "XPos",
    "rope_permutation",
    "convert_rope_layout",
    "convert_qk_weights",
]

# Below this many elements apply_rope uses the textbook formula directly: the blocked kernel
# only pays off on inputs that do not fit in cache.
_FAST_MIN_ELEMENTS = 1 << 16


def _spread(angles: torch.Tensor, layout: str) -> torch.Tensor:
    """Lay ``[..., r/2]`` per-pair values out over ``[..., r]`` features for ``layout``."""
    if layout == "half":
        return torch.cat((angles, angles), dim=-1)  # [..., r]: pair i is (i, i + r/2)
    return torch.stack((angles, angles), dim=-1).flatten(-2)  # [..., r]: pair i is (2i, 2i+1)


def rope_angles(
    positions: torch.Tensor | int | list[int], dim: int, base: float = 10000.0
) -> torch.Tensor:
    """float64 angles ``positions * base**(-2i/dim)``, shape ``[..., dim/2]``.

    Book chapter: "Rotary positions".

    Args:
        positions: ``[...]`` integer (or real) positions (or an int / list of ints).
        dim: rotary dim ``r`` (even); the result has one angle per pair, ``dim / 2``.
        base: frequency base theta.
    """
    check_even("dim", dim)
    pos = as_positions(positions)
    return pos.to(torch.float64)[..., None] * inverse_frequencies(dim, base, device=pos.device)


# ----------------------------------------------------------------------------- scaling
#
# Context extension: a model pretrained on ``L`` positions is run on ``s * L`` by changing
# its inverse frequencies ``theta_i = base**(-2i/d)``, ``i = 0 .. d/2 - 1`` (pair ``i`` turns
# ``theta_i`` radians per position and completes ``L * theta_i / (2 pi)`` turns in the
# pretraining context; its wavelength is ``lambda_i = 2 pi / theta_i``), and sometimes by
# scaling cos/sin by an "attention factor" (both q and k are scaled, so logits by its square).

ROPE_TYPES = ("default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope")

# Keys every rope_type accepts: the type itself (``"type"`` is the legacy spelling) and
# keys Hugging Face dicts carry whose role the arguments play: ``rope_theta`` must equal
# ``base``; ``partial_rotary_factor`` is already part of ``dim`` (the rotary dim);
# ``max_position_embeddings`` (Mistral's configs repeat it here) must agree with
# ``max_positions``. ``llama_4_scaling_beta`` (Ministral 3, Mistral 4) is a query
# temperature that attention applies by position, outside RoPE: accepted, not applied here.
_COMMON_KEYS = frozenset(
    {
        "rope_type",
        "type",
        "rope_theta",
        "partial_rotary_factor",
        "max_position_embeddings",
        "llama_4_scaling_beta",
    }
)
_TYPE_KEYS = {
    "default": frozenset(),
    "linear": frozenset({"factor"}),
    "ntk": frozenset({"factor"}),
    "dynamic": frozenset({"factor"}),
    "yarn": frozenset(
        {
            "factor",
            "original_max_position_embeddings",
            "attention_factor",
            "beta_fast",
            "beta_slow",
            "mscale",
            "mscale_all_dim",
            "truncate",
        }
    ),
    "llama3": frozenset(
        {"factor", "original_max_position_embeddings", "low_freq_factor", "high_freq_factor"}
    ),
    "longrope": frozenset(
        {
            "factor",
            "original_max_position_embeddings",
            "attention_factor",
            "short_factor",
            "long_factor",
        }
    ),
}
# Types whose frequencies depend on the current length ``seq_len``.
_LENGTH_DEPENDENT = ("dynamic", "longrope")


def _scaling_type(scaling: object) -> str:
    """The validated ``rope_type`` of a scaling dict (``"default"`` when it names none)."""
    if not isinstance(scaling, Mapping):
        raise TypeError(
            "scaling must be None or a dict like a Hugging Face config's rope_parameters "
            f"(e.g. {{'rope_type': 'linear', 'factor': 4.0}}), got {type(scaling).__name__}"
        )
    new, old = scaling.get("rope_type"), scaling.get("type")
    if new is not None and old is not None and new != old:
        raise ValueError(
            f"scaling['rope_type'] = {new!r} and its legacy spelling scaling['type'] = {old!r} "
            "disagree; give one of them"
        )
    rope_type = new if new is not None else old if old is not None else "default"
    if not isinstance(rope_type, str) or rope_type not in ROPE_TYPES:
        key = "rope_type" if new is not None else "type"
        raise ValueError(f"scaling[{key!r}] must be one of {ROPE_TYPES}, got {rope_type!r}")
    allowed = _COMMON_KEYS | _TYPE_KEYS[rope_type]
    unknown = sorted(repr(k) for k in scaling if k not in allowed)
    if unknown:
        raise ValueError(
            f"scaling has unknown key(s) {', '.join(unknown)} for rope_type {rope_type!r}; "
            f"accepted keys: {sorted(allowed)}"
        )
    return rope_type


def _real(
    scaling: Mapping,
    key: str,
    rope_type: str,
    *,
    required: bool = False,
    default: float | None = None,
) -> float | None:
    """``scaling[key]`` as a finite float > 0; None (or absent) gives ``default``."""
    value = scaling.get(key)
    if value is None:
        if required:
            raise ValueError(
                f"scaling[{key!r}] is required for rope_type {rope_type!r}: "
                "a finite real number > 0"
            )
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"scaling[{key!r}] must be a finite real number > 0, "
            f"got {type(value).__name__} {value!r}"
        )
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"scaling[{key!r}] must be a finite real number > 0, got {value!r}")
    return float(value)


def _original_length(scaling: Mapping, rope_type: str) -> int:
    """``original_max_position_embeddings``: the pretraining context length, an int >= 1."""
    key = "original_max_position_embeddings"
    value = scaling.get(key)
    if value is None:
        raise ValueError(
            f"scaling[{key!r}] (the pretraining context length, an int >= 1) is required for "
            f"rope_type {rope_type!r}"
        )
    ok = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not ok or value < 1:
        raise ValueError(f"scaling[{key!r}] must be an int >= 1, got {value!r}")
    return int(value)


def _factor(scaling: Mapping, rope_type: str, original: int, max_positions: int | None) -> float:
    """``factor``, or, when absent, ``max_positions / original`` (YaRN, LongRoPE; as HF)."""
    factor = _real(scaling, "factor", rope_type)
    if factor is not None:
        return factor
    if max_positions is None:
        raise ValueError(
            f"scaling['factor'] (a finite real number > 0) is required for rope_type "
            f"{rope_type!r} unless max_positions is given (then factor = max_positions / "
            "original_max_position_embeddings)"
        )
    return max_positions / original


def _ntk_exponent(dim: int, rope_type: str) -> float:
    if dim < 4:
        raise ValueError(
            f"dim must be >= 4 for rope_type {rope_type!r} (the NTK exponent is "
            f"dim / (dim - 2)), got {dim}"
        )
    return dim / (dim - 2)


def _yarn(
    inv_freq: torch.Tensor, dim: int, base: float, scaling: Mapping, max_positions: int | None
) -> tuple[torch.Tensor, float]:
    """YaRN (Peng, Quesnelle, Fan, Shippole 2023, "YaRN: Efficient Context Window Extension").

    Pair ``i`` completes ``r_i = L / lambda_i`` turns in the pretraining context ``L``. Pairs
    with many turns (``r_i > beta_fast``, high frequency) have seen every angle during
    pretraining and are kept; pairs with few turns (``r_i < beta_slow``) are interpolated as
    in PI, ``theta_i / s``; in between a linear ramp over the pair index blends the two:
    ``theta'_i = (1 - g_i) theta_i + g_i theta_i / s``, ``g_i = clamp((i - lo)/(hi - lo), 0, 1)``.
    Solving ``L theta_i / (2 pi) = beta`` for ``i`` gives the correction range ends
    ``i(beta) = d ln(L / (2 pi beta)) / (2 ln base)``: ``lo = i(beta_fast)``,
    ``hi = i(beta_slow)``, floored/ceiled when ``truncate`` (default True; gpt-oss sets False)
    and clamped to ``[0, d - 1]``: ``d - 1``, not the last pair ``d/2 - 1``, as in the
    reference code and transformers (it sets the ramp's slope when ``hi`` passes ``d/2``).

    Where posemb is stricter than transformers: ``beta_fast``/``beta_slow`` of 0 or
    ``beta_fast < beta_slow`` raise (transformers replaces a 0 by the default and only warns
    about the order); ``truncate=None`` counts as absent, i.e. True (transformers'
    ``.get("truncate", True)`` would read it as False); a lone ``mscale`` or
    ``mscale_all_dim`` raises (below).

    Temperature: the paper scales logits by ``1/t`` with ``sqrt(1/t) = 0.1 ln s + 1``,
    applied as the attention factor on cos and sin. With ``mscale`` and ``mscale_all_dim``
    (DeepSeek-V2/V3) the factor is ``m(s, mscale) / m(s, mscale_all_dim)`` with
    ``m(s, a) = 0.1 a ln s + 1`` (1 when ``s <= 1``); DeepSeek's attention multiplies its
    softmax scale by ``m(s, mscale_all_dim)**2`` itself, outside RoPE. An explicit
    ``attention_factor`` overrides both.
    """
    rope_type = "yarn"
    original = _original_length(scaling, rope_type)
    factor = _factor(scaling, rope_type, original, max_positions)
    beta_fast = _real(scaling, "beta_fast", rope_type, default=32.0)
    beta_slow = _real(scaling, "beta_slow", rope_type, default=1.0)
    if beta_fast < beta_slow:
        raise ValueError(
            "scaling['beta_fast'] must be >= scaling['beta_slow'] (turns that bound the "
            f"correction range; defaults 32 and 1), got {beta_fast} and {beta_slow}"
        )
    truncate = scaling.get("truncate")
    if truncate is None:
        truncate = True
    if not isinstance(truncate, bool):
        raise TypeError(f"scaling['truncate'] must be True or False, got {truncate!r}")
    mscale = _real(scaling, "mscale", rope_type)
    mscale_all_dim = _real(scaling, "mscale_all_dim", rope_type)
    if (mscale is None) != (mscale_all_dim is None):
        given, missing = ("mscale", "mscale_all_dim")[:: 1 if mscale is not None else -1]
        raise ValueError(
            f"scaling[{given!r}] needs scaling[{missing!r}] too: the attention factor is "
            "m(s, mscale) / m(s, mscale_all_dim); transformers ignores a lone one, DeepSeek's "
            "reference code does not, so posemb refuses to guess"
        )

    def turns_to_pair(turns: float) -> float:  # i(beta) = d ln(L / (2 pi beta)) / (2 ln base)
        return dim * math.log(original / (turns * 2 * math.pi)) / (2 * math.log(base))

    lo, hi = turns_to_pair(beta_fast), turns_to_pair(beta_slow)
    if truncate:
        lo, hi = math.floor(lo), math.ceil(hi)
    lo, hi = max(lo, 0), min(hi, dim - 1)
    if lo == hi:
        hi += 0.001  # as the reference code: avoid 0/0
    i = torch.arange(dim // 2, dtype=torch.float64, device=inv_freq.device)  # [d/2]
    ramp = ((i - lo) / (hi - lo)).clamp(0, 1)  # [d/2]: 0 keep, 1 interpolate
    inv_freq = inv_freq / factor * ramp + inv_freq * (1 - ramp)  # [d/2]

    attention_factor = _real(scaling, "attention_factor", rope_type)
    if attention_factor is None:

        def m(s: float, a: float = 1.0) -> float:
            return 1.0 if s <= 1 else 0.1 * a * math.log(s) + 1.0

        if mscale is not None:
            attention_factor = m(factor, mscale) / m(factor, mscale_all_dim)
        else:
            attention_factor = m(factor)
    return inv_freq, attention_factor


def _llama3(inv_freq: torch.Tensor, scaling: Mapping) -> torch.Tensor:
    """Llama 3.1 (Meta 2024, "The Llama 3 Herd of Models"; ``apply_scaling`` in llama-models).

    By wavelength ``lambda_i = 2 pi / theta_i`` against the pretraining context ``L``:
    ``lambda_i < L / high_freq_factor`` (many turns in ``L``): unchanged;
    ``lambda_i > L / low_freq_factor`` (under ``low_freq_factor`` turns): ``theta_i / s``;
    in between, with ``g = (L / lambda_i - low) / (high - low)`` (the turns in ``L``, mapped
    to [0, 1]): ``theta'_i = (1 - g) theta_i / s + g theta_i``, continuous at both ends.
    Published values: ``s = 8``, low 1, high 4, ``L = 8192``, theta 500000.
    """
    rope_type = "llama3"
    original = _original_length(scaling, rope_type)
    factor = _real(scaling, "factor", rope_type, required=True)
    low = _real(scaling, "low_freq_factor", rope_type, required=True)
    high = _real(scaling, "high_freq_factor", rope_type, required=True)
    if high <= low:
        raise ValueError(
            "scaling['high_freq_factor'] must be > scaling['low_freq_factor'] (Llama 3.1: 4 "
            f"and 1), got high_freq_factor={high} and low_freq_factor={low}"
        )
    wavelength = 2 * math.pi / inv_freq  # [d/2]
    out = torch.where(wavelength > original / low, inv_freq / factor, inv_freq)  # [d/2]
    g = (original / wavelength - low) / (high - low)  # [d/2]
    smooth = (1 - g) * inv_freq / factor + g * inv_freq  # [d/2]
    medium = (wavelength >= original / high) & (wavelength <= original / low)
    return torch.where(medium, smooth, out)  # [d/2]


def _longrope(
    inv_freq: torch.Tensor,
    dim: int,
    scaling: Mapping,
    seq_len: int | None,
    max_positions: int | None,
) -> tuple[torch.Tensor, float]:
    """LongRoPE (Ding et al. 2024, "LongRoPE: Extending LLM Context Window Beyond 2 Million
    Tokens"; Phi-3).

    A searched rescale factor per pair, ``theta'_i = theta_i / lambda_i``: ``short_factor``
    while ``seq_len <= L`` (the pretraining context), ``long_factor`` beyond (``seq_len=None``
    counts as short, as in transformers). Attention factor ``sqrt(1 + ln s / ln L)`` (1 when
    ``s <= 1``), ``s = factor`` or ``max_positions / L``; an explicit ``attention_factor``
    overrides it.
    """
    rope_type = "longrope"
    original = _original_length(scaling, rope_type)
    factor = _factor(scaling, rope_type, original, max_positions)
    lists = {}
    for key in ("short_factor", "long_factor"):
        value = scaling.get(key)
        if not isinstance(value, list | tuple) or len(value) != dim // 2:
            what = f"length {len(value)}" if isinstance(value, list | tuple) else repr(value)
            raise ValueError(
                f"scaling[{key!r}] must be a list of dim // 2 = {dim // 2} real numbers > 0 "
                f"(one per rotated pair), got {what}"
            )
        for x in value:
            if isinstance(x, bool) or not isinstance(x, numbers.Real):
                raise TypeError(
                    f"scaling[{key!r}] must hold real numbers > 0, got {type(x).__name__} {x!r}"
                )
            if not math.isfinite(x) or x <= 0:
                raise ValueError(f"scaling[{key!r}] must hold finite real numbers > 0, got {x!r}")
        lists[key] = value
    use = "long_factor" if seq_len is not None and seq_len > original else "short_factor"
    rescale = torch.tensor(lists[use], dtype=torch.float64, device=inv_freq.device)  # [d/2]
    attention_factor = _real(scaling, "attention_factor", rope_type)
    if attention_factor is None:
        if factor <= 1:
            attention_factor = 1.0
        elif original < 2:
            raise ValueError(
                "scaling['original_max_position_embeddings'] must be >= 2 for LongRoPE's "
                f"attention factor sqrt(1 + ln s / ln L), got {original}"
            )
        else:
            attention_factor = math.sqrt(1 + math.log(factor) / math.log(original))
    return inv_freq / rescale, attention_factor


def _partial_rotary_factor(scaling: Mapping) -> float | None:
    """``scaling['partial_rotary_factor']`` (a real number in (0, 1]) or None."""
    partial = scaling.get("partial_rotary_factor")
    if partial is None:
        return None
    if isinstance(partial, bool) or not isinstance(partial, numbers.Real) or not 0 < partial <= 1:
        raise ValueError(
            f"scaling['partial_rotary_factor'] must be a real number in (0, 1], got {partial!r}"
        )
    return float(partial)


def rope_frequencies(
    dim: int,
    base: float = 10000.0,
    scaling: Mapping | None = None,
    *,
    seq_len: int | None = None,
    max_positions: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, float]:
    """RoPE inverse frequencies, optionally scaled for a longer context, and the attention factor.

    ``scaling`` is a dict in the form of a Hugging Face config's ``rope_parameters`` (or the
    older ``rope_scaling``), with the same keys and defaults as transformers 5.23's
    ``ROPE_INIT_FUNCTIONS``, so a real model's dict can be passed in as it is. Pair ``i``
    turns ``theta_i = base**(-2i/d)`` radians per position; ``s`` is ``factor`` and ``L``
    ``original_max_position_embeddings``. ``rope_type`` (legacy key ``type``):

    * ``"default"`` (or ``scaling=None``): ``theta_i``, exactly :func:`inverse_frequencies`.
    * ``"linear"``: position interpolation (Chen et al. 2023, "Extending Context Window of
      Large Language Models via Positional Interpolation"): position ``m`` becomes
      ``m / s``, so the angles of ``s L`` positions stay within those seen in training;
      ``m/s * theta_i = m * (theta_i / s)``, i.e. ``theta_i / s``. Key: ``factor``.
    * ``"ntk"``: static NTK-aware scaling (bloc97, 2023, r/LocalLLaMA): change the base to
      ``base * s**(d/(d-2))``. The fastest pair (``i = 0``) is unchanged and the slowest
      (``i = d/2 - 1``, exponent ``(d-2)/d``) becomes exactly ``theta_i / s``: high
      frequencies extrapolate, low ones interpolate, with a geometric blend in between.
      transformers has no static form of this; key: ``factor``.
    * ``"dynamic"``: dynamic NTK (emozilla, 2023, r/LocalLLaMA): the NTK base change with a
      factor that grows with the length: ``base * (s n / M - (s - 1))**(d/(d-2))`` with
      ``n = max(seq_len, M)`` and ``M = max_positions`` (required): no change up to ``M``,
      and beyond it the NTK factor grows linearly, with slope ``s / M``. Key: ``factor``.
    * ``"yarn"``: YaRN (Peng et al. 2023); see :func:`_yarn` for the ramp and temperature.
      Keys: ``factor`` (default ``max_positions / L``), ``original_max_position_embeddings``,
      ``beta_fast`` (32), ``beta_slow`` (1), ``mscale``, ``mscale_all_dim``,
      ``attention_factor``, ``truncate`` (True).
    * ``"llama3"``: Llama 3.1 (Meta 2024); see :func:`_llama3`. Keys: ``factor``,
      ``low_freq_factor``, ``high_freq_factor``, ``original_max_position_embeddings``.
    * ``"longrope"``: LongRoPE (Ding et al. 2024); see :func:`_longrope`. Keys:
      ``short_factor``, ``long_factor`` (lists of ``dim // 2``), ``factor`` (default
      ``max_positions / L``), ``original_max_position_embeddings``, ``attention_factor``.

    Keys of Hugging Face dicts that the arguments stand for: ``rope_theta`` is accepted when
    it equals ``base`` (a different value raises rather than choosing one);
    ``partial_rotary_factor`` is accepted and not applied, because ``dim`` is already the
    rotary dim (``head_dim * partial_rotary_factor``); ``max_position_embeddings`` stands
    for ``max_positions`` (both given and different raises). ``llama_4_scaling_beta``
    (Ministral 3, Mistral 4) is accepted and not applied: it is a per-position query
    temperature that the model's attention applies, not part of RoPE. Any other key raises,
    so a typo such as ``"factr"`` cannot be silently ignored (transformers only logs a
    warning). A key set to None counts as absent, as in transformers.

    Args:
        dim: rotary dim ``d`` (even).
        base: frequency base theta.
        scaling: the dict above, or None for plain RoPE.
        seq_len: the current length ``n``: dynamic NTK uses ``max(n, max_positions)``
            (None means ``max_positions``); LongRoPE uses ``long_factor`` when
            ``n > original_max_position_embeddings`` (None means short). Others ignore it.
        max_positions: the config's ``max_position_embeddings`` ``M``: required by
            dynamic NTK, and the source of ``factor`` for YaRN and LongRoPE when it is absent.
        device: where to put the result.

    Returns:
        ``(inv_freq, attention_factor)``: float64 ``[dim // 2]`` (computed in float64
        throughout) and a Python float that multiplies cos and sin (1.0 unless YaRN or
        LongRoPE). Book chapter: "Interpolation and its descendants".
    """
    check_even("dim", dim)
    base = check_positive_float("base", base)
    if seq_len is not None:
        check_int("seq_len", seq_len, minimum=0)
    if max_positions is not None:
        check_int("max_positions", max_positions, minimum=1)
    inv_freq = inverse_frequencies(dim, base, device=device)  # [d/2] float64
    if scaling is None:
        return inv_freq, 1.0
    rope_type = _scaling_type(scaling)
    theta = scaling.get("rope_theta")
    if theta is not None and (
        isinstance(theta, bool) or not isinstance(theta, numbers.Real) or float(theta) != base
    ):
        raise ValueError(
            f"scaling['rope_theta'] = {theta!r} differs from base = {base}: pass the model's "
            "rope_theta as base (or drop it from the dict)"
        )
    _partial_rotary_factor(scaling)  # checked, not applied: dim is the rotary dim
    in_dict = scaling.get("max_position_embeddings")
    if in_dict is not None:
        ok = isinstance(in_dict, numbers.Integral) and not isinstance(in_dict, bool)
        if not ok or in_dict < 1:
            raise ValueError(
                f"scaling['max_position_embeddings'] must be an int >= 1, got {in_dict!r}"
            )
        if max_positions is not None and max_positions != in_dict:
            raise ValueError(
                f"scaling['max_position_embeddings'] = {in_dict} differs from max_positions = "
                f"{max_positions}; give one of them"
            )
        max_positions = int(in_dict)
    beta4 = scaling.get("llama_4_scaling_beta")
    if beta4 is not None and (
        isinstance(beta4, bool) or not isinstance(beta4, numbers.Real) or not beta4 >= 0
    ):
        raise ValueError(
            f"scaling['llama_4_scaling_beta'] must be a real number >= 0, got {beta4!r}"
        )
    if rope_type == "default":
        return inv_freq, 1.0
    if rope_type in _EXTENDING_TYPES:
        given = _real(scaling, "factor", rope_type)
        if given is not None and given < 1:
            raise ValueError(
                f"scaling['factor'] must be >= 1 for rope_type {rope_type!r} (it extends the "
                f"context by that factor; below 1 it would shorten it), got {given!r}"
            )
    if rope_type == "linear":
        return inv_freq / _real(scaling, "factor", rope_type, required=True), 1.0
    if rope_type == "ntk":
        factor = _real(scaling, "factor", rope_type, required=True)
        ntk_base = base * factor ** _ntk_exponent(dim, rope_type)
        return inverse_frequencies(dim, ntk_base, device=device), 1.0
    if rope_type == "dynamic":
        factor = _real(scaling, "factor", rope_type, required=True)
        exponent = _ntk_exponent(dim, rope_type)
        if max_positions is None:
            raise ValueError(
                "max_positions (the config's max_position_embeddings, an int >= 1) is "
                "required for rope_type 'dynamic'"
            )
        n = max_positions if seq_len is None else max(seq_len, max_positions)
        dynamic_base = base * (factor * n / max_positions - (factor - 1)) ** exponent
        return inverse_frequencies(dim, dynamic_base, device=device), 1.0
    if rope_type == "yarn":
        return _yarn(inv_freq, dim, base, scaling, max_positions)
    if rope_type == "llama3":
        return _llama3(inv_freq, scaling), 1.0
    return _longrope(inv_freq, dim, scaling, seq_len, max_positions)


# types whose factor extends the context (LongRoPE's factor only sets its temperature)
_EXTENDING_TYPES = ("linear", "ntk", "dynamic", "yarn", "llama3")


def _one_past_max(pos: torch.Tensor) -> int:
    """The number of positions a call sees: one past its largest position (0 if none).

    Hugging Face's ``dynamic_rope_update`` uses ``max(position_ids) + 1`` the same way.
    Real positions count up to their floor. One host sync; only length-dependent scaling
    (dynamic NTK, LongRoPE) needs it.
    """
    if pos.numel() == 0:
        return 0
    return max(0, math.floor(pos.max().item()) + 1)


def rope_cos_sin(
    positions: torch.Tensor | int | list[int],
    dim: int,
    base: float = 10000.0,
    layout: str = "half",
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    scaling: Mapping | None = None,
    seq_len: int | None = None,
    max_positions: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the RoPE angles (Su et al. 2021), laid out for ``layout``.

    Args:
        positions: ``[...]`` integer (or real, for position interpolation) positions.
        dim: rotary dim ``r`` (even): the number of features that are rotated.
        base: frequency base theta (10000 in RoFormer and Llama 2; 500000 in Llama 3).
        layout: ``"half"`` (feature ``i`` pairs with ``i + r/2``) or ``"interleaved"``
            (``2i`` with ``2i + 1``).
        dtype: output dtype; the angles and their cos/sin are float64 until one final cast.
        device: where to put the result (default: the device of ``positions``).
        scaling: context-extension scaling, a Hugging Face style ``rope_parameters`` dict
            (see :func:`rope_frequencies`); cos and sin are multiplied by its attention
            factor (in float64, before the cast), as transformers does.
        seq_len: the current length for dynamic NTK and LongRoPE; default one past the
            largest of ``positions`` (transformers' ``max(position_ids) + 1``).
        max_positions: the config's ``max_position_embeddings`` (see
            :func:`rope_frequencies`).

    Returns:
        ``(cos, sin)``, each ``[..., dim]``. Book chapter: "Rotary positions".
    """
    check_layout(layout)
    check_float_dtype("dtype", dtype)
    factor = 1.0
    if scaling is None:
        if seq_len is not None:
            check_int("seq_len", seq_len, minimum=0)
        if max_positions is not None:
            check_int("max_positions", max_positions, minimum=1)
        angles = rope_angles(positions, dim, base)  # [..., r/2] float64
    else:
        pos = as_positions(positions)
        if seq_len is None and _scaling_type(scaling) in _LENGTH_DEPENDENT:
            seq_len = _one_past_max(pos)
        inv_freq, factor = rope_frequencies(
            dim, base, scaling, seq_len=seq_len, max_positions=max_positions, device=pos.device
        )  # [r/2] float64
        angles = pos.to(torch.float64)[..., None] * inv_freq  # [..., r/2] float64
    if device is not None:
        angles = angles.to(device)
    cos, sin = angles.cos(), angles.sin()  # [..., r/2] float64
    if factor != 1.0:
        cos, sin = cos * factor, sin * factor
    cos = _spread(cos, layout).to(dtype)  # [..., r]
    sin = _spread(sin, layout).to(dtype)  # [..., r]
    return cos, sin


def _check_rope_args(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> int:
    check_layout(layout)
    for name, t in (("x", x), ("cos", cos), ("sin", sin)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(
                f"{name} must be a real floating tensor, got dtype {t.dtype}"
                + (" (rotate a float copy: x.float())" if name == "x" else "")
            )
    if cos.shape != sin.shape:
        raise ValueError(
            f"cos and sin must have the same shape, got {tuple(cos.shape)} and {tuple(sin.shape)}"
        )
    r = cos.shape[-1] if cos.dim() else 0
    d = x.shape[-1] if x.dim() else 0
    if cos.dim() == 0 or r == 0 or r % 2 or r > d:
        raise ValueError(
            f"cos/sin last dim (the rotary dim) must be even and in [2, {d}] (x's last dim), "
            f"got cos shape {tuple(cos.shape)} for x shape {tuple(x.shape)}"
        )
    if x.dim() >= 2:
        # cos [n, r] is shared by every leading dim of x; otherwise cos has x's dims, each
        # equal or 1. A 1-D cos (one position for all n) or a 3-D cos for a 4-D x (is its
        # first dim the batch or the heads?) is refused rather than guessed.
        if cos.dim() not in (2, x.dim()) or cos.shape[-2] != x.shape[-2]:
            hint = (
                f"; for per-sequence positions give cos[:, None] of shape "
                f"[b, 1, {x.shape[-2]}, {r}]"
                if x.dim() == 4 and cos.dim() == 3
                else ""
            )
            raise ValueError(
                f"cos/sin must have shape [n, r] = [{x.shape[-2]}, r] or as many dims as x "
                f"{tuple(x.shape)} with n = {x.shape[-2]} on dim -2, got {tuple(cos.shape)}" + hint
            )
    try:
        lead = torch.broadcast_shapes(x.shape[:-1], cos.shape[:-1])
    except RuntimeError:
        lead = None
    if lead != x.shape[:-1]:
        raise ValueError(
            f"cos/sin shape {tuple(cos.shape)} must broadcast to x shape {tuple(x.shape)} "
            "without enlarging x"
        )
    return r


def _pair_views(t: torch.Tensor, r: int, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The two members of every rotated pair, as views ``[..., r/2]``."""
    if layout == "half":
        return t[..., : r // 2], t[..., r // 2 : r]
    return t[..., 0:r:2], t[..., 1:r:2]


def _seq_to_minus2(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, seq_dim: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int | None]:
    """Move ``x``'s sequence axis ``seq_dim`` to -2 (and ``cos``/``sin``'s, when they have
    as many dims as ``x``); return the axis to move the result back to, or None."""
    if isinstance(seq_dim, bool) or not isinstance(seq_dim, int):
        raise TypeError(f"seq_dim must be an int, got {seq_dim!r}")
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        return x, cos, sin, None  # _check_rope_args explains what x must be
    if not -x.dim() <= seq_dim < x.dim():
        raise ValueError(
            f"seq_dim must name an axis of x {tuple(x.shape)} other than the last (the "
            f"features), got {seq_dim}"
        )
    axis = seq_dim % x.dim()
    if axis == x.dim() - 1:
        raise ValueError(
            f"seq_dim={seq_dim} is x's last axis, which holds the features; the sequence "
            "axis is another one"
        )
    if axis == x.dim() - 2:
        return x, cos, sin, None
    x = x.movedim(axis, -2)
    if isinstance(cos, torch.Tensor) and cos.dim() == x.dim():
        cos, sin = cos.movedim(axis, -2), sin.movedim(axis, -2)
    return x, cos, sin, axis


@contextlib.contextmanager
def _moved_axes_note(back: int | None, seq_dim: int):
    """Say, in a shape error, that x's axes were reordered for ``seq_dim``."""
    try:
        yield
    except ValueError as err:
        if back is None:
            raise
        raise ValueError(
            f"{err} (shapes as seen with x's sequence axis, seq_dim={seq_dim}, moved to -2)"
        ) from None


def apply_rope_reference(
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    layout: str = "half",
    *,
    seq_dim: int = -2,
) -> torch.Tensor:
    """The textbook formula ``x * cos + rotate(x) * sin`` on the first ``r`` features.

    ``rotate`` maps each pair ``(a, b)`` to ``(-b, a)``. Differentiable and easy to read;
    :func:`apply_rope` computes the same numbers faster. float16 and bfloat16 inputs are
    computed in float32 and rounded once. ``seq_dim`` is as in :func:`apply_rope`. Book
    chapter: "Rotary positions".

    Args:
        x: ``[..., n, d]`` tensor to rotate (real floating).
        cos: ``[n, r]`` cosines (or as many dims as ``x``), e.g. from :func:`rope_cos_sin`.
        sin: sines of the same shape as ``cos``.
        layout: ``"half"`` (feature ``i`` pairs with ``i + r/2``) or ``"interleaved"``
            (``2i`` with ``2i + 1``).
        seq_dim: the axis of ``x`` that holds the sequence (default -2).
    """
    x, cos, sin, back = _seq_to_minus2(x, cos, sin, seq_dim)
    with _moved_axes_note(back, seq_dim):
        r = _check_rope_args(x, cos, sin, layout)
    out = _rope_reference(x, cos, sin, r, layout)
    return out if back is None else out.movedim(-2, back)


_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _rope_reference(x, cos, sin, r, layout):
    if x.dtype in _LOW_PRECISION:
        # float32 arithmetic on cos/sin rounded to x.dtype, and one rounding at the end, on
        # every path of apply_rope: the result never depends on batch size or grad mode
        cos32 = cos.to(x.dtype).to(torch.float32)
        sin32 = sin.to(x.dtype).to(torch.float32)
        return _rope_reference(x.to(torch.float32), cos32, sin32, r, layout).to(x.dtype)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x_rot, x_pass = x[..., :r], x[..., r:]  # [..., r], [..., d - r]
    a, b = _pair_views(x_rot, r, layout)  # [..., r/2] each
    if layout == "half":
        rotated = torch.cat((-b, a), dim=-1)  # [..., r]
    else:
        rotated = torch.stack((-b, a), dim=-1).flatten(-2)  # [..., r]
    return torch.cat((x_rot * cos + rotated * sin, x_pass), dim=-1)  # [..., d]


ROPE_BACKENDS = ("eager", "compiled", "auto")
# "auto" compiles only for inputs this large, where the measured gain repays the first
# call's compile (benchmarks/rope_speed.py: 0.25-1.2 s per shape variant, ~4-11 s for the
# process's first compile).
_AUTO_COMPILE_ELEMENTS = 1 << 22


def apply_rope(
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    layout: str = "half",
    *,
    backend: str = "eager",
    seq_dim: int = -2,
) -> torch.Tensor:
    """Rotate ``x`` ``[..., n, d]`` by RoPE angles given as ``cos``, ``sin`` ``[n, r]``.

    Su et al. (2021), RoFormer. Pair ``(a, b)`` becomes ``(a cos - b sin, b cos + a sin)``;
    pairs are ``(i, i + r/2)`` for ``layout="half"`` and ``(2i, 2i + 1)`` for
    ``"interleaved"``. If ``r < d`` only the first ``r`` features are rotated (GPT-NeoX
    partial rotary); the rest are copied. ``cos``/``sin`` are ``[n, r]`` (shared by every
    leading dim of ``x``) or have as many dims as ``x`` with sizes equal or 1 (e.g.
    ``[b, 1, n, r]`` for per-sequence positions and ``x`` ``[b, h, n, d]``); they never
    enlarge ``x``.

    Output dtype is ``x.dtype``, and the numbers never depend on the batch size, the
    grad mode or the backend: float32/float64 are bit for bit the textbook formula of
    :func:`apply_rope_reference` (each product rounded on its own); float16/bfloat16 are
    that formula in float32 on ``cos``/``sin`` rounded to ``x.dtype``, rounded once.

    Args:
        x: ``[..., n, d]`` tensor to rotate (real floating); its dtype is the output's.
        cos: ``[n, r]`` cosines, or as many dims as ``x`` (see above), e.g. from
            :func:`rope_cos_sin`.
        sin: sines of the same shape as ``cos``.
        layout: ``"half"`` (feature ``i`` pairs with ``i + r/2``) or ``"interleaved"``
            (``2i`` with ``2i + 1``).
        seq_dim: the axis of ``x`` that holds the sequence (default -2, ``[..., n, d]``).
            For ``[b, n, h, d]`` tensors (transformers' GPT-J and FlashAttention layouts)
            pass ``seq_dim=1`` (or -3): without it, a ``cos`` of ``[n, r]`` would be
            applied along the heads, silently, whenever ``n == h``. A ``cos``/``sin`` with
            as many dims as ``x`` follows the same axes as ``x``.
        backend: ``"eager"`` (default): without autograd and for inputs of 2**16 elements
            or more, a blocked kernel of plain ATen operations
            (``posemb._rope_kernels.rope_eager_into``); otherwise the textbook formula.
            ``"compiled"``: the formula fused by ``torch.compile`` into one pass, falling
            back to the eager kernel where compiling is not possible; the first call per
            shape variant compiles (seconds). ``"auto"``: compiled for inputs of 2**22
            elements or more, eager below. Under autograd or inside ``torch.compile``
            every backend uses the formula. Book chapter: "Rotary positions".
    """
    x, cos, sin, back = _seq_to_minus2(x, cos, sin, seq_dim)
    if back is not None:
        with _moved_axes_note(back, seq_dim):
            out = apply_rope(x, cos, sin, layout, backend=backend)
        return out.movedim(-2, back)
    r = _check_rope_args(x, cos, sin, layout)
    if backend not in ROPE_BACKENDS:
        raise ValueError(f"backend must be one of {ROPE_BACKENDS}, got {backend!r}")
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or cos.requires_grad or sin.requires_grad
    )
    if (
        needs_grad
        or x.numel() < _FAST_MIN_ELEMENTS
        or x.dim() < 2
        or torch.compiler.is_compiling()  # the compiler fuses the textbook formula itself
    ):
        return _rope_reference(x, cos, sin, r, layout)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    if backend == "compiled" or (backend == "auto" and x.numel() >= _AUTO_COMPILE_ELEMENTS):
        fused = _rope_kernels.compiled_rope(layout, x.dtype)
        if fused is not None:
            return fused(x, cos, sin, r)
    out = torch.empty_like(x, memory_format=torch.contiguous_format)  # [..., n, d]
    if r < x.shape[-1]:
        out[..., r:] = x[..., r:]
    return _rope_kernels.rope_eager_into(out, x, cos, sin, r, layout)


class RotaryEmbedding(nn.Module):
    """RoPE for ``[b, h, n, d]`` queries and keys; cos/sin computed per call, in float64.

    Su et al. (2021), RoFormer. The inverse frequencies are a float64 buffer
    (non-persistent: not in the ``state_dict``; moved by ``.to(device)``, and kept in
    float64 by ``.half()``, ``.to(dtype)`` and friends, recomputed after ``to_empty``); each call
    computes ``positions * inv_freq`` and its cos/sin in float64 and casts them once to the
    query dtype, so results equal :func:`rope_cos_sin` with that dtype exactly. There is no
    table sized by the largest position: a decode step at position ``10**6`` costs what a
    step at position 10 costs, nothing reads the positions on the host, and the module runs
    on the meta device and under ``torch.compile`` without graph breaks. Book chapter:
    "Rotary positions".

    With ``scaling`` (context extension, see :func:`rope_frequencies`) the frequencies and
    the attention factor are those of :func:`rope_cos_sin` with the same arguments. The
    length-dependent types (``"dynamic"``, ``"longrope"``) with ``seq_len=None`` compute
    their frequencies per call for the length the call sees, one past the largest query or
    key position (transformers' ``max(position_ids) + 1``; the same for q and k, so scores
    still depend on ``n - m`` only): this reads the positions on the host. Unlike
    transformers' dynamic NTK, which keeps the largest length seen so far, the result
    depends on the current call only. Fix ``seq_len`` to avoid the read.

    Args:
        head_dim: ``d``, the width of each head.
        base: frequency base theta.
        rotary_dim: ``r``, how many leading features to rotate (default ``d``, or
            ``int(d * partial_rotary_factor)`` when ``scaling`` has that key; GPT-NeoX uses
            ``d * rotary_pct``). Must be even and ``<= head_dim``.
        layout: ``"half"`` or ``"interleaved"``.
        scaling: a Hugging Face style ``rope_parameters`` dict (see
            :func:`rope_frequencies`), or None for plain RoPE. Validated here.
        seq_len: fix the length that dynamic NTK and LongRoPE see (default: per call, as
            above).
        max_positions: the config's ``max_position_embeddings`` (required by dynamic NTK).
        backend: how :func:`apply_rope` rotates (``"eager"``, ``"compiled"``, ``"auto"``).
    """

    inv_freq: torch.Tensor

    def __init__(
        self,
        head_dim: int,
        base: float = 10000.0,
        rotary_dim: int | None = None,
        layout: str = "half",
        *,
        scaling: Mapping | None = None,
        seq_len: int | None = None,
        max_positions: int | None = None,
        backend: str = "eager",
    ) -> None:
        super().__init__()
        if backend not in ROPE_BACKENDS:
            raise ValueError(f"backend must be one of {ROPE_BACKENDS}, got {backend!r}")
        self.backend = backend
        self.head_dim = check_int("head_dim", head_dim, minimum=1)
        self.base = check_positive_float("base", base)
        rope_type = None if scaling is None else _scaling_type(scaling)
        partial = None if scaling is None else _partial_rotary_factor(scaling)
        if rotary_dim is None:
            # as transformers: dim = int(head_dim * partial_rotary_factor)
            rotary_dim = head_dim if partial is None else int(head_dim * partial)
            if rotary_dim % 2 and partial is None:
                raise ValueError(
                    f"head_dim must be even to rotate every feature in pairs, got {head_dim} "
                    "(or give an even rotary_dim to rotate only the first features)"
                )
        elif partial is not None and rotary_dim != int(head_dim * partial):
            raise ValueError(
                f"scaling['partial_rotary_factor'] = {partial!r} gives a rotary dim of "
                f"int({head_dim} * {partial!r}) = {int(head_dim * partial)}, but rotary_dim="
                f"{rotary_dim}; give one of them"
            )
        check_int("rotary_dim", rotary_dim, minimum=2)
        if rotary_dim % 2 or rotary_dim > head_dim:
            raise ValueError(
                f"rotary_dim must be even and <= head_dim={head_dim}, got {rotary_dim}"
            )
        self.rotary_dim = rotary_dim
        self.layout = check_layout(layout)
        # validated once, here; fixed-frequency types keep the result
        inv_freq, factor = rope_frequencies(
            rotary_dim, self.base, scaling, seq_len=seq_len, max_positions=max_positions
        )
        self.scaling = None if scaling is None else copy.deepcopy(dict(scaling))
        self.seq_len = seq_len
        self.max_positions = max_positions
        self._rope_type = rope_type
        self._length_dependent = rope_type in _LENGTH_DEPENDENT and seq_len is None
        self.attention_factor = factor
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # [r/2] float64

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202 (nn.Module's signature)
        # .half(), .to(torch.bfloat16), to_empty() and friends would cast or blank the
        # buffer too. Keep the float64 values (moved to the new device), or, when they
        # never existed (built on the meta device), compute them from the configuration.
        before = self.inv_freq
        super()._apply(fn, recurse)
        device = self.inv_freq.device
        if before.device.type != "meta":
            self.inv_freq = before.to(device=device, dtype=torch.float64)
        else:
            self.inv_freq, _ = rope_frequencies(
                self.rotary_dim,
                self.base,
                self.scaling,
                seq_len=self.seq_len,
                max_positions=self.max_positions,
                device=device,
            )
        return self

    @property
    def cache_safe(self) -> bool:
        """False when the frequencies follow the current length (a key cached at an earlier
        length would keep stale frequencies): dynamic NTK or LongRoPE with ``seq_len=None``."""
        return not self._length_dependent

    def _frequencies(self, seq_len: int) -> tuple[torch.Tensor, float]:
        return rope_frequencies(
            self.rotary_dim,
            self.base,
            self.scaling,
            seq_len=seq_len,
            max_positions=self.max_positions,
            device=self.inv_freq.device,
        )

    def cos_sin(
        self,
        positions: torch.Tensor,
        dtype: torch.dtype = torch.float32,
        *,
        seq_len: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cos, sin)`` ``[..., r]`` for ``positions`` ``[...]`` in ``dtype``.

        ``seq_len`` (dynamic NTK, LongRoPE) defaults to the module's ``seq_len``, else to
        one past the largest of ``positions``.

        Args:
            positions: ``[...]`` integer (or real) positions.
            dtype: output dtype (floating); cos and sin are float64 until one final cast.
            seq_len: the length that dynamic NTK and LongRoPE see for this call (other
                scaling types ignore it).
        """
        check_float_dtype("dtype", dtype)
        pos = as_positions(positions).to(self.inv_freq.device)
        if seq_len is not None:
            check_int("seq_len", seq_len, minimum=0)
        if seq_len is not None and self._rope_type in _LENGTH_DEPENDENT:
            inv_freq, factor = self._frequencies(seq_len)
        elif self._length_dependent:
            inv_freq, factor = self._frequencies(_one_past_max(pos))
        else:
            inv_freq, factor = self.inv_freq, self.attention_factor
        angles = pos.to(torch.float64)[..., None] * inv_freq  # [..., r/2] float64
        cos, sin = angles.cos(), angles.sin()
        if factor != 1.0:
            cos, sin = cos * factor, sin * factor
        return _spread(cos, self.layout).to(dtype), _spread(sin, self.layout).to(dtype)

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        offset: int = 0,
        positions: torch.Tensor | None = None,
        k_positions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate ``q`` ``[b, h, q, d]`` and ``k`` ``[b, h_kv, k, d]``.

        Positions are ``offset .. offset + n - 1`` unless ``positions`` (``[q]`` or
        ``[b, q]``) is given; it is used for the keys too, unless ``k_positions`` (``[k]``
        or ``[b, k]``) is given. ``k`` may have fewer heads than ``q`` (grouped-query
        attention).

        Args:
            q: ``[b, h, q, d]`` queries.
            k: ``[b, h_kv, k, d]`` keys.
            offset: position of the first query (an int >= 0) when ``positions`` is None;
                not with ``positions``.
            positions: ``[q]`` or ``[b, q]`` query positions (and key positions unless
                ``k_positions`` is given).
            k_positions: ``[k]`` or ``[b, k]`` key positions; required when the key and
                query lengths differ.

        Returns:
            ``(q, k)`` rotated, of the shapes and dtypes given.
        """
        check_qk(q, k, grouped=True)
        if q.shape[-1] != self.head_dim:
            raise ValueError(
                f"q and k last dim must be head_dim={self.head_dim}, got {q.shape[-1]}"
            )
        check_int("offset", offset)
        if offset and positions is not None:
            raise ValueError(
                "give either offset or positions, not both (positions already say where the "
                f"queries are), got offset={offset}"
            )
        b = q.shape[0]
        if positions is None:
            positions = torch.arange(offset, offset + q.shape[-2], device=q.device)
        positions = as_positions(positions).to(q.device)
        check_seq_positions("positions", positions, q.shape[-2], batch=b)
        if k_positions is None:
            if k.shape[-2] != q.shape[-2]:
                raise ValueError(
                    "k_positions must be given when q and k lengths differ, "
                    f"got q length {q.shape[-2]} and k length {k.shape[-2]}"
                )
            k_positions = positions
        k_positions = as_positions(k_positions).to(k.device)
        check_seq_positions("k_positions", k_positions, k.shape[-2], batch=b)
        seq_len = None  # one length for q and k: their angles must use the same frequencies
        if self._length_dependent:
            seq_len = _one_past_max(positions)
            if k_positions is not positions:
                seq_len = max(seq_len, _one_past_max(k_positions))
        cos_q, sin_q = self.cos_sin(positions, q.dtype, seq_len=seq_len)  # [(b,) q, r]
        cos_k, sin_k = (
            (cos_q, sin_q)
            if k_positions is positions
            else self.cos_sin(k_positions, k.dtype, seq_len=seq_len)
        )
        return (
            _rotate_per_sequence(q, cos_q, sin_q, self.layout, self.backend),
            _rotate_per_sequence(k, cos_k, sin_k, self.layout, self.backend),
        )

    def extra_repr(self) -> str:
        text = (
            f"head_dim={self.head_dim}, rotary_dim={self.rotary_dim}, base={self.base}, "
            f"layout={self.layout!r}"
        )
        if self.scaling is not None:
            text += f", scaling={self.scaling!r}"
            if self.seq_len is not None:
                text += f", seq_len={self.seq_len}"
            if self.max_positions is not None:
                text += f", max_positions={self.max_positions}"
        return text


def _rotate_per_sequence(x, cos, sin, layout, backend="eager"):
    """Apply ``[n, r]`` cos/sin, or ``[b, n, r]`` ones (per-sequence positions) as
    ``[b, 1, n, r]``, to ``x`` ``[b, h, n, d]``."""
    if cos.dim() == 3:
        cos, sin = cos[:, None], sin[:, None]  # [b, 1, n, r]
    return apply_rope(x, cos, sin, layout, backend=backend)


class Rotary(PositionScheme):
    """The RoPE scheme for :class:`posemb.MultiHeadAttention`, kind ``"rotate"``.

    Su et al. (2021). Book chapter: "Rotary positions". Arguments as in
    :class:`RotaryEmbedding` (``scaling``, ``seq_len``, ``max_positions`` for context
    extension; the length a call sees is one past its largest query or key position).

    Args:
        head_dim: ``d``, the width of each head.
        base: frequency base theta.
        rotary_dim: ``r``, how many leading features to rotate (default ``d``, or as set by
            ``scaling``'s ``partial_rotary_factor``). Must be even and ``<= head_dim``.
        layout: ``"half"`` or ``"interleaved"``.
        scaling: a Hugging Face style ``rope_parameters`` dict (see
            :func:`rope_frequencies`), or None for plain RoPE.
        seq_len: fix the length that dynamic NTK and LongRoPE see (default: per call).
        max_positions: the config's ``max_position_embeddings`` (required by dynamic NTK).
        backend: how :func:`apply_rope` rotates (``"eager"``, ``"compiled"``, ``"auto"``).
    """

    kind = "rotate"

    def __init__(
        self,
        head_dim: int,
        base: float = 10000.0,
        rotary_dim: int | None = None,
        layout: str = "half",
        *,
        scaling: Mapping | None = None,
        seq_len: int | None = None,
        max_positions: int | None = None,
        backend: str = "eager",
    ) -> None:
        super().__init__()
        self.rope = RotaryEmbedding(
            head_dim,
            base,
            rotary_dim,
            layout,
            scaling=scaling,
            seq_len=seq_len,
            max_positions=max_positions,
            backend=backend,
        )
        self.head_dim = head_dim

    @property
    def cache_safe(self) -> bool:
        """Whether keys rotated once stay valid in a key/value cache (see RotaryEmbedding)."""
        return self.rope.cache_safe

    def rotate_qk(
        self,
        q: torch.Tensor,  # [b, h, q, d]
        k: torch.Tensor,  # [b, h_kv, k, d]
        q_positions: torch.Tensor,  # [q] or [b, q]
        k_positions: torch.Tensor,  # [k] or [b, k]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate q and k by their positions: :class:`RotaryEmbedding`.

        Args:
            q: ``[b, h, q, d]`` queries.
            k: ``[b, h_kv, k, d]`` keys.
            q_positions: ``[q]`` or ``[b, q]`` query positions.
            k_positions: ``[k]`` or ``[b, k]`` key positions.
        """
        return self.rope(q, k, positions=q_positions, k_positions=k_positions)


# ----------------------------------------------------------------------------- xPos


def xpos_zeta(dim: int) -> torch.Tensor:
    """Per-pair decay bases ``zeta_i = (2i + 0.4 dim) / (1.4 dim)``, float64 ``[dim/2]``.

    Sun et al. (2022), as in torchscale's ``XPOS``. Book chapter: "Rotary positions".

    Args:
        dim: rotary dim (even); one base per pair.
    """
    check_even("dim", dim)
    return (torch.arange(0, dim, 2, dtype=torch.float64) + 0.4 * dim) / (1.4 * dim)


def xpos_scale(
    positions: torch.Tensor | int | list[int],
    dim: int,
    scale_base: float = 512.0,
    layout: str = "interleaved",
    *,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """xPos scales ``zeta_i**(pos / scale_base)`` spread over ``[..., dim]`` for ``layout``.

    Multiply the rotated query by this and divide the rotated key by it (Sun et al. 2022).
    The exponent is computed in float64. Book chapter: "Rotary positions".

    Args:
        positions: ``[...]`` positions (or an int / list of ints); negative ones (relative
            to a centre) are allowed.
        dim: rotary dim (even).
        scale_base: the decay's length scale (512 in torchscale).
        layout: ``"interleaved"`` (torchscale) or ``"half"``: how the per-pair scales are
            spread over the features.
        dtype: output dtype.
    """
    check_layout(layout)
    scale_base = check_positive_float("scale_base", scale_base)
    pos = as_positions(positions)
    zeta = xpos_zeta(dim).to(pos.device)  # [dim/2]
    s = zeta ** (pos.to(torch.float64)[..., None] / scale_base)  # [..., dim/2]
    return _spread(s, layout).to(dtype)  # [..., dim]


def apply_xpos(
    q: torch.Tensor,
    k: torch.Tensor,
    q_positions: torch.Tensor,
    k_positions: torch.Tensor,
    *,
    base: float = 10000.0,
    scale_base: float = 512.0,
    layout: str = "interleaved",
    center: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate ``q`` ``[..., q, d]``/``k`` ``[..., k, d]`` by RoPE and scale them the xPos way.

    Query at ``m`` gets ``zeta**((m - c)/scale_base)``, key at ``n`` gets
    ``zeta**(-(n - c)/scale_base)``; the product depends on ``m - n`` only, and the centre
    ``c`` only keeps the factors near 1. ``center=None`` takes torchscale's choice for a
    whole sequence, ``ceil(L/2)`` with ``L`` one past the largest position: it reads the
    positions on the host and moves as a sequence grows, so it cannot serve a key/value
    cache; :class:`XPos` uses a fixed centre instead. Positions are ``[n]``, or ``[b, n]``
    for ``q``/``k`` ``[b, h, n, d]``. Sun et al. (2022). Book chapter: "Rotary positions".

    Args:
        q: ``[..., q, d]`` queries (``d`` even; every feature is rotated).
        k: ``[..., k, d]`` keys.
        q_positions: ``[q]`` (or ``[b, q]``) query positions.
        k_positions: ``[k]`` (or ``[b, k]``) key positions.
        base: RoPE frequency base theta.
        scale_base: the decay's length scale (512 in torchscale).
        layout: ``"interleaved"`` (torchscale) or ``"half"``.
        center: the centre ``c`` (an int), or None for ``ceil(L/2)`` as above.
    """
    d = q.shape[-1]
    check_even("dim", d)
    qp, kp = as_positions(q_positions).to(q.device), as_positions(k_positions).to(k.device)
    batch = q.shape[0] if q.dim() == 4 else None
    check_seq_positions("q_positions", qp, q.shape[-2], batch=batch)
    check_seq_positions("k_positions", kp, k.shape[-2], batch=batch)
    if center is None:
        last = max(int(qp.max()) if qp.numel() else 0, int(kp.max()) if kp.numel() else 0)
        center = (last + 2) // 2  # ceil((last + 1) / 2)
    elif isinstance(center, bool) or not isinstance(center, int):
        raise TypeError(f"center must be an int or None, got {type(center).__name__}")
    cos_q, sin_q = rope_cos_sin(qp, d, base, layout, dtype=q.dtype)  # [(b,) q, d]
    cos_k, sin_k = rope_cos_sin(kp, d, base, layout, dtype=k.dtype)  # [(b,) k, d]
    up = xpos_scale(qp - center, d, scale_base, layout, dtype=q.dtype)  # [(b,) q, d]
    down = xpos_scale(-(kp - center), d, scale_base, layout, dtype=k.dtype)  # [(b,) k, d]
    for name, t in (("query", up), ("key", down)):
        check_finite(
            f"xPos {name} scales (positions too far from center={center} for "
            f"{q.dtype}; choose a centre nearer the positions)",
            t,
        )
    if qp.dim() == 2:  # [b, n, d] -> [b, 1, n, d] against [b, h, n, d]
        cos_q, sin_q, up = cos_q[:, None], sin_q[:, None], up[:, None]
    if kp.dim() == 2:
        cos_k, sin_k, down = cos_k[:, None], sin_k[:, None], down[:, None]
    return apply_rope(q, cos_q, sin_q, layout) * up, apply_rope(k, cos_k, sin_k, layout) * down


class XPos(PositionScheme):
    """The xPos scheme (Sun et al. 2022), kind ``"rotate"``: RoPE plus a per-pair decay.

    Defaults follow torchscale (interleaved pairs, ``scale_base=512``). The centre ``c``
    is fixed at construction (default 0), not derived from the positions, so a key scaled
    once keeps its scale in a key/value cache and nothing is read on the host. Scores do
    not depend on ``c``; the factors ``zeta**(+-(position - c)/scale_base)`` do: with
    ``zeta_0 = 0.4/1.4`` they reach float32's largest number about ``36 000 *
    scale_base/512`` positions from ``c`` (float16: ``4 500 * scale_base/512``), and a
    call beyond that raises. Put ``c`` near the middle of the positions you will use.
    Book chapter: "Rotary positions".

    Args:
        head_dim: ``d``, the width of each head (even; every feature is rotated).
        base: RoPE frequency base theta.
        scale_base: the decay's length scale (512 in torchscale).
        layout: ``"interleaved"`` (torchscale) or ``"half"``.
        center: the fixed centre ``c``, an int.
    """

    kind = "rotate"

    def __init__(
        self,
        head_dim: int,
        base: float = 10000.0,
        scale_base: float = 512.0,
        layout: str = "interleaved",
        *,
        center: int = 0,
    ) -> None:
        super().__init__()
        self.head_dim = check_even("head_dim", head_dim)
        self.base = check_positive_float("base", base)
        self.scale_base = check_positive_float("scale_base", scale_base)
        self.layout = check_layout(layout)
        if isinstance(center, bool) or not isinstance(center, int):
            raise TypeError(f"center must be an int, got {type(center).__name__} {center!r}")
        self.center = center

    def rotate_qk(
        self,
        q: torch.Tensor,  # [b, h, q, d]
        k: torch.Tensor,  # [b, h_kv, k, d]
        q_positions: torch.Tensor,  # [q] or [b, q]
        k_positions: torch.Tensor,  # [k] or [b, k]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE, then the xPos scales: :func:`apply_xpos` with this module's centre.

        Args:
            q: ``[b, h, q, d]`` queries.
            k: ``[b, h_kv, k, d]`` keys.
            q_positions: ``[q]`` or ``[b, q]`` query positions.
            k_positions: ``[k]`` or ``[b, k]`` key positions.
        """
        check_qk(q, k, grouped=True)
        if q.shape[-1] != self.head_dim:
            raise ValueError(
                f"q and k last dim must be head_dim={self.head_dim}, got {q.shape[-1]}"
            )
        return apply_xpos(
            q,
            k,
            q_positions,
            k_positions,
            base=self.base,
            scale_base=self.scale_base,
            layout=self.layout,
            center=self.center,
        )

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, base={self.base}, scale_base={self.scale_base}, "
            f"layout={self.layout!r}, center={self.center}"
        )


# ----------------------------------------------------------------------------- layouts


def rope_permutation(head_dim: int, source: str, target: str) -> torch.Tensor:
    """Index ``perm`` ``[head_dim]`` with ``x_target = x_source[..., perm]``.

    Interleaved pair ``(2i, 2i+1)`` goes to half-layout slots ``(i, i + d/2)``: ``perm`` is
    ``[0, 2, 4, ..., 1, 3, 5, ...]`` from interleaved to half (the row permutation the
    Hugging Face Llama conversion script applies to Meta's q/k weights), and its inverse the
    other way. Book chapter: "Rotary positions".

    Args:
        head_dim: ``d``, the width of each head (even).
        source: the layout of ``x_source``, ``"half"`` or ``"interleaved"``.
        target: the layout of ``x_target``, ``"half"`` or ``"interleaved"``.
    """
    check_even("head_dim", head_dim)
    check_layout(source)
    check_layout(target)
    to_half = torch.cat((torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)))
    if source == target:
        return torch.arange(head_dim)
    if source == "interleaved":
        return to_half
    return torch.argsort(to_half)


def convert_rope_layout(x: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """Permute the last dim (``d``) of ``x`` ``[..., d]`` from ``source`` to ``target`` layout.

    Args:
        x: ``[..., d]`` tensor whose features are laid out as ``source`` (``d`` even).
        source: the layout of ``x``, ``"half"`` or ``"interleaved"``.
        target: the layout of the result, ``"half"`` or ``"interleaved"``.
    """
    perm = rope_permutation(x.shape[-1], source, target).to(x.device)
    return x[..., perm]  # [..., d]


def convert_qk_weights(
    weight: torch.Tensor,
    num_heads: int,
    source: str,
    target: str,
    bias: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Reorder the output rows of a q or k projection, head by head, between layouts.

    ``weight`` is ``[num_heads * d, in]`` (``nn.Linear`` convention), ``bias``
    ``[num_heads * d]``. A model whose projections are converted and whose RoPE uses
    ``target`` computes exactly the scores of the original with ``source``. The inverse is
    the same call with ``source`` and ``target`` swapped. Returns the new weight, or
    ``(weight, bias)`` when a bias is given. Book chapter: "Rotary positions".

    Args:
        weight: ``[num_heads * d, in]`` projection weight, each head laid out as ``source``.
        num_heads: number of heads whose rows the weight holds (``h`` for q, ``h_kv`` for k).
        source: the layout of the given rows, ``"half"`` or ``"interleaved"``.
        target: the layout of the returned rows, ``"half"`` or ``"interleaved"``.
        bias: ``[num_heads * d]`` projection bias, or None.
    """
    check_int("num_heads", num_heads, minimum=1)
    if weight.dim() != 2 or weight.shape[0] % num_heads:
        raise ValueError(
            f"weight must be [num_heads * head_dim, in] with rows divisible by "
            f"num_heads={num_heads}, got {tuple(weight.shape)}"
        )
    head_dim = weight.shape[0] // num_heads
    perm = rope_permutation(head_dim, source, target).to(weight.device)  # [d]
    rows = (torch.arange(num_heads, device=weight.device)[:, None] * head_dim + perm).flatten()
    new_weight = weight[rows]  # [h * d, in]
    if bias is None:
        return new_weight
    if bias.shape != weight.shape[:1]:
        raise ValueError(f"bias must have shape [{weight.shape[0]}], got {tuple(bias.shape)}")
    return new_weight, bias[rows]
