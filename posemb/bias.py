"""Linear and learned biases: a function of distance added to the attention logits.

Where position enters: (3) *biasing attention logits*, ``scores += bias[h, q, k]``.
Explained in the book chapter "Linear biases".

Notation: ``h`` heads, ``q``/``k`` query/key lengths. Query ``i`` sits at ``i + offset``,
key ``j`` at ``j``; distances are ``|j - (i + offset)|``. The modules are schemes of kind
``"bias"``: ``position_bias(q_positions, k_positions)`` (also their ``forward``) gives
``[h, q, k]`` for positions ``[q]``, ``[k]`` and ``[b, h, q, k]`` for per-sequence
positions ``[b, q]``, ``[b, k]``; each is a thin wrapper around a function of the same
name in lower case.

* ALiBi (Press et al. 2022, "Train Short, Test Long: Attention with Linear Biases Enables
  Input Length Extrapolation"): ``-m_h |i - j|`` with fixed geometric slopes ``m_h``.
* KERPLE (Chi et al. 2022, "KERPLE: Kernelized Relative Positional Embedding for Length
  Extrapolation"): ``-r1 log(1 + r2 |i - j|)`` or ``-r1 |i - j|**r2``, ``r1, r2 > 0`` learned
  per head.
* FIRE (Li et al. 2023, "Functional Interpolation for Relative Positions Improves Long Context
  Transformers"): an MLP of the log-normalised distance
  ``psi(i - j) / psi(max(i, L))``, ``psi(x) = log(c x + 1)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (
    check_int,
    check_positive,
    check_positive_float,
    offsets,
    pair_positions,
)
from .attention import PositionScheme

__all__ = [
    "alibi_slopes",
    "alibi_bias",
    "linear_bias",
    "ALiBi",
    "kerple_bias",
    "KerpleBias",
    "fire_distance",
    "fire_bias",
    "FireBias",
]


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """ALiBi head slopes (Press et al. 2022) for any head count, float32 ``[num_heads]``.

    For ``n`` a power of two the slopes are ``2**(-8/n), 2**(-16/n), ..., 2**(-8)``. Otherwise,
    with ``m`` the largest power of two below ``n``, the ``m`` slopes for ``m`` heads are
    followed by every other slope of ``2m`` heads (the 1st, 3rd, ...), ``n - m`` of them:
    the paper's rule, also used by BLOOM.

    Computed in float64 and cast once. BLOOM raises a float32 base to integer powers in
    float32, so its slopes can differ from these by a few float32 ulps (measured: at most
    6e-8 absolute for 1..64 heads); these are the correctly rounded values.
    Book chapter: "Linear biases".

    Args:
        num_heads: number of heads ``n`` (1 or more).
    """
    check_int("num_heads", num_heads, minimum=1)

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    m = 2 ** math.floor(math.log2(num_heads))
    slopes = power_of_two(m) + power_of_two(2 * m)[0::2][: num_heads - m]
    return torch.tensor(slopes, dtype=torch.float64).to(torch.float32)  # [h]


def _distances(q_positions, k_positions, device=None) -> torch.Tensor:
    qp, kp = pair_positions(q_positions, k_positions, device=device)
    return offsets(qp, kp).abs()  # [q, k] or [b, q, k]


def linear_bias(
    slopes: torch.Tensor, q_positions: torch.Tensor, k_positions: torch.Tensor
) -> torch.Tensor:
    """ALiBi's bias from positions: ``-slope_h * |j - i|`` (Press et al. 2022).

    Args:
        slopes: ``[h]`` (see :func:`alibi_slopes`).
        q_positions: ``[q]`` or ``[b, q]``.
        k_positions: ``[k]`` or ``[b, k]``.

    Returns:
        ``[h, q, k]``, or ``[b, h, q, k]`` for per-sequence positions, in ``slopes.dtype``.
        Book chapter: "Linear biases".
    """
    if not isinstance(slopes, torch.Tensor) or slopes.dim() != 1:
        raise ValueError(f"slopes must be a tensor [h], got {getattr(slopes, 'shape', slopes)}")
    dist = _distances(q_positions, k_positions, slopes.device).to(slopes.dtype)  # [(b,) q, k]
    # 0 - x rather than -x: the diagonal is +0.0, not -0.0 (which prints as "-0.0000").
    return 0.0 - slopes[:, None, None] * dist.unsqueeze(-3)  # [(b,) h, q, k]


def alibi_bias(num_heads: int, q_len: int, k_len: int, offset: int = 0) -> torch.Tensor:
    """ALiBi bias ``[h, q, k]``: ``-slope_h * |j - (i + offset)|`` (Press et al. 2022).

    The paper applies it with a causal mask (only ``j <= i`` matters); the absolute value
    makes the same tensor usable without one. Book chapter: "Linear biases".

    Args:
        num_heads: number of heads ``h`` (the slopes of :func:`alibi_slopes`).
        q_len: number of queries ``q``.
        k_len: number of keys ``k`` (at positions ``0 .. k - 1``).
        offset: position of the first query (an int).
    """
    slopes = alibi_slopes(num_heads).double()  # [h]
    check_int("q_len", q_len)
    check_int("k_len", k_len)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, got {type(offset).__name__}")
    bias = linear_bias(slopes, torch.arange(q_len) + offset, torch.arange(k_len))  # [h, q, k]
    return bias.to(torch.float32)


class ALiBi(PositionScheme):
    """The ALiBi scheme (Press et al. 2022), kind ``"bias"``, fixed slopes in a buffer.

    Book chapter: "Linear biases".

    Args:
        num_heads: number of heads ``h`` (the slopes of :func:`alibi_slopes`).
    """

    kind = "bias"

    def __init__(self, num_heads: int) -> None:
        super().__init__()
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.register_buffer("slopes", alibi_slopes(num_heads))  # [h]

    def position_bias(self, q_positions, k_positions) -> torch.Tensor:
        """``[h, q, k]`` (``[b, h, q, k]`` for positions ``[b, n]``): :func:`linear_bias`.

        Args:
            q_positions: ``[q]`` or ``[b, q]``.
            k_positions: ``[k]`` or ``[b, k]``.
        """
        return linear_bias(self.slopes, q_positions, k_positions)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}"


KERPLE_VARIANTS = ("log", "power")


def kerple_bias(
    distance: torch.Tensor, r1: torch.Tensor, r2: torch.Tensor, variant: str = "log"
) -> torch.Tensor:
    """KERPLE bias (Chi et al. 2022) from distances ``|i - j|`` ``[q, k]`` (or ``[b, q, k]``).

    ``variant="log"``: ``-r1 * log(1 + r2 * dist)``; ``"power"``: ``-r1 * dist**r2``
    (the paper requires ``0 < r2 <= 2``). ``r1``, ``r2`` are ``[h]``, positive (checked:
    a negative ``r2`` would give NaN). Returns ``[h, q, k]`` (or ``[b, h, q, k]``).
    Book chapter: "Linear biases".

    Args:
        distance: ``[q, k]`` (or ``[b, q, k]``) distances ``|i - j|``.
        r1: ``[h]`` positive per-head scales.
        r2: ``[h]`` positive per-head rates (``"log"``) or exponents (``"power"``).
        variant: ``"log"`` or ``"power"``.
    """
    if variant not in KERPLE_VARIANTS:
        raise ValueError(f"variant must be one of {KERPLE_VARIANTS}, got {variant!r}")
    if r1.dim() != 1 or r2.shape != r1.shape:
        raise ValueError(
            f"r1 and r2 must both have shape [h], got {tuple(r1.shape)} and {tuple(r2.shape)}"
        )
    check_positive("r1", r1)
    check_positive("r2", r2)
    return _kerple(distance, r1, r2, variant)


def _kerple(distance, r1, r2, variant):
    dist = distance.to(r1.dtype).unsqueeze(-3)  # [(b,) 1, q, k]
    r1, r2 = r1[:, None, None], r2[:, None, None]  # [h, 1, 1]
    if variant == "log":
        return -r1 * torch.log1p(r2 * dist)  # [h, q, k]
    return -r1 * dist.pow(r2)  # [h, q, k]


class KerpleBias(PositionScheme):
    """KERPLE (Chi et al. 2022), kind ``"bias"``, learnable positive per-head parameters.

    Positivity is kept by a parametrisation rather than clamping: ``r1 = softplus(raw1)``;
    for ``"log"`` ``r2 = softplus(raw2)``; for ``"power"`` ``r2 = 2 * sigmoid(raw2)`` in
    ``(0, 2)``. All start at ``r1 = r2 = 1``. Book chapter: "Linear biases".

    Args:
        num_heads: number of heads ``h`` (one ``r1`` and one ``r2`` each).
        variant: ``"log"`` or ``"power"`` (see :func:`kerple_bias`).
    """

    kind = "bias"

    def __init__(self, num_heads: int, variant: str = "log") -> None:
        super().__init__()
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        if variant not in KERPLE_VARIANTS:
            raise ValueError(f"variant must be one of {KERPLE_VARIANTS}, got {variant!r}")
        self.variant = variant
        one = math.log(math.e - 1.0)  # softplus(one) = 1; 2 * sigmoid(0) = 1
        self.raw_r1 = nn.Parameter(torch.full((num_heads,), one))
        self.raw_r2 = nn.Parameter(torch.full((num_heads,), one if variant == "log" else 0.0))

    @property
    def r1(self) -> torch.Tensor:
        return F.softplus(self.raw_r1)  # [h]

    @property
    def r2(self) -> torch.Tensor:
        if self.variant == "log":
            return F.softplus(self.raw_r2)  # [h]
        return 2.0 * torch.sigmoid(self.raw_r2)  # [h]

    def position_bias(self, q_positions, k_positions) -> torch.Tensor:
        """``[h, q, k]`` (``[b, h, q, k]`` for positions ``[b, n]``): :func:`kerple_bias`.

        Args:
            q_positions: ``[q]`` or ``[b, q]``.
            k_positions: ``[k]`` or ``[b, k]``.
        """
        dist = _distances(q_positions, k_positions, self.raw_r1.device)  # [(b,) q, k]
        # r1, r2 > 0 by the parametrisation: no data checks needed
        return _kerple(dist, self.r1, self.r2, self.variant)  # [(b,) h, q, k]

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, variant={self.variant!r}"


def fire_distance(
    q_positions: torch.Tensor,
    k_positions: torch.Tensor,
    c: torch.Tensor | float,
    threshold: torch.Tensor | float,
) -> torch.Tensor:
    """FIRE's normalised distance ``psi(|i - j|) / psi(max(i, L))``, ``psi(x) = log(c x + 1)``.

    ``[q, k]`` (``[b, q, k]`` for per-sequence positions), in ``[0, 1]`` for ``j <= i``
    (Li et al. 2023). ``c`` and the threshold ``L`` must be positive. Book chapter:
    "Linear biases".

    Args:
        q_positions: ``[q]`` or ``[b, q]``.
        k_positions: ``[k]`` or ``[b, k]``.
        c: the scale ``c`` of ``psi`` (a scalar tensor or a float), positive.
        threshold: the threshold ``L`` (a scalar tensor or a float), positive.
    """
    c = c if isinstance(c, torch.Tensor) else torch.tensor(float(c))
    threshold = torch.as_tensor(threshold, dtype=c.dtype, device=c.device)
    check_positive("c", c)
    check_positive("threshold", threshold)
    return _fire_distance(q_positions, k_positions, c, threshold)


def _fire_distance(q_positions, k_positions, c: torch.Tensor, threshold: torch.Tensor):
    qp, kp = pair_positions(q_positions, k_positions, device=c.device)
    dist = offsets(qp, kp).abs().to(c.dtype)  # [(b,) q, k]
    norm = torch.log1p(c * torch.maximum(qp.to(c.dtype), threshold))  # [(b,) q]
    return torch.log1p(c * dist) / norm[..., None]  # [(b,) q, k]


def fire_bias(
    mlp: nn.Module,
    q_positions: torch.Tensor,
    k_positions: torch.Tensor,
    c: torch.Tensor | float,
    threshold: torch.Tensor | float,
) -> torch.Tensor:
    """FIRE's bias: ``mlp`` (``1 -> h``) applied to :func:`fire_distance`.

    Returns ``[h, q, k]`` (``[b, h, q, k]`` for per-sequence positions). Book chapter:
    "Linear biases".

    Args:
        mlp: a module mapping ``[..., 1]`` to ``[..., h]``.
        q_positions: ``[q]`` or ``[b, q]``.
        k_positions: ``[k]`` or ``[b, k]``.
        c: the scale ``c`` of ``psi`` (a scalar tensor or a float), positive.
        threshold: the threshold ``L`` (a scalar tensor or a float), positive.
    """
    x = fire_distance(q_positions, k_positions, c, threshold)  # [(b,) q, k]
    return _fire_mlp(mlp, x)


def _fire_mlp(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return mlp(x[..., None]).movedim(-1, -3)  # [(b,) h, q, k]


class FireBias(PositionScheme):
    """FIRE (Li et al. 2023): a learned function of the normalised distance, kind ``"bias"``.

    ``b_h(i, j) = f_theta(psi(i - j) / psi(max(i, L)))_h`` with ``psi(x) = log(c x + 1)``,
    ``f_theta`` a two-layer MLP (``1 -> hidden -> num_heads``, ReLU), ``c > 0`` and the
    threshold ``L > 0`` learned. Dividing by ``psi(max(i, L))`` maps every distance into
    ``[0, 1]`` whatever the sequence length (progressive interpolation); ``L`` keeps short
    prefixes from being stretched. The paper is causal (``i >= j``); here ``|i - j|`` is used
    so the module also works without a causal mask. Book chapter: "Linear biases".

    Args:
        num_heads: heads ``h``.
        hidden: MLP width (32 in the paper).
        init_c: initial ``c``.
        init_threshold: initial ``L``.
    """

    kind = "bias"

    def __init__(
        self,
        num_heads: int,
        hidden: int = 32,
        init_c: float = 1.0,
        init_threshold: float = 512.0,
    ) -> None:
        super().__init__()
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        check_int("hidden", hidden, minimum=1)
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, num_heads))
        self.log_c = nn.Parameter(torch.tensor(math.log(check_positive_float("init_c", init_c))))
        threshold = check_positive_float("init_threshold", init_threshold)
        self.log_threshold = nn.Parameter(torch.tensor(math.log(threshold)))

    def normalised_distance(self, q_positions, k_positions) -> torch.Tensor:
        """``psi(|i - j|) / psi(max(i, L))``, ``[q, k]`` in ``[0, 1]`` for ``j <= i``.

        Args:
            q_positions: ``[q]`` or ``[b, q]``.
            k_positions: ``[k]`` or ``[b, k]``.
        """
        # c and L are positive by construction (exponentials): no data checks needed
        return _fire_distance(q_positions, k_positions, self.log_c.exp(), self.log_threshold.exp())

    def position_bias(self, q_positions, k_positions) -> torch.Tensor:
        """``[h, q, k]`` (``[b, h, q, k]`` for positions ``[b, n]``): :func:`fire_bias`.

        Args:
            q_positions: ``[q]`` or ``[b, q]``.
            k_positions: ``[k]`` or ``[b, k]``.
        """
        return _fire_mlp(self.mlp, self.normalised_distance(q_positions, k_positions))

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}"
