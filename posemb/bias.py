"""Linear and learned biases: a function of distance added to the attention logits.

Where position enters: (3) *biasing attention logits*, ``scores += bias[h, q, k]``.
Explained in the book chapter "Linear biases".

Notation: ``h`` heads, ``q``/``k`` query/key lengths. Query ``i`` sits at ``i + offset``,
key ``j`` at ``j``; distances are ``|j - (i + offset)|``.

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

from ._checks import as_positions, check_int, check_positive_float, check_qk, check_seq_positions

__all__ = [
    "alibi_slopes",
    "alibi_bias",
    "ALiBi",
    "kerple_bias",
    "KerpleBias",
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
    """
    check_int("num_heads", num_heads, minimum=1)

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    m = 2 ** math.floor(math.log2(num_heads))
    slopes = power_of_two(m) + power_of_two(2 * m)[0::2][: num_heads - m]
    return torch.tensor(slopes, dtype=torch.float64).to(torch.float32)  # [h]


def _distances(q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
    qp, kp = as_positions(q_positions), as_positions(k_positions)
    return (kp[None, :] - qp[:, None]).abs()  # [q, k]


def alibi_bias(num_heads: int, q_len: int, k_len: int, offset: int = 0) -> torch.Tensor:
    """ALiBi bias ``[h, q, k]``: ``-slope_h * |j - (i + offset)|`` (Press et al. 2022).

    The paper applies it with a causal mask (only ``j <= i`` matters); the absolute value
    makes the same tensor usable without one. Book chapter: "Linear biases".
    """
    slopes = alibi_slopes(num_heads).double()  # [h]
    check_int("q_len", q_len)
    check_int("k_len", k_len)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, got {type(offset).__name__}")
    dist = _distances(torch.arange(q_len) + offset, torch.arange(k_len)).double()  # [q, k]
    # 0 - x rather than -x: the diagonal is +0.0, not -0.0 (which prints as "-0.0000").
    return (0.0 - slopes[:, None, None] * dist).to(torch.float32)  # [h, q, k]


class ALiBi(nn.Module):
    """The ALiBi scheme (Press et al. 2022): a ``bias`` hook with fixed slopes in a buffer.

    Book chapter: "Linear biases".
    """

    def __init__(self, num_heads: int) -> None:
        super().__init__()
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        self.register_buffer("slopes", alibi_slopes(num_heads))  # [h]

    def bias_from_positions(self, q_positions, k_positions) -> torch.Tensor:
        dist = _distances(q_positions, k_positions).to(self.slopes.device)  # [q, k]
        return 0.0 - self.slopes[:, None, None] * dist  # [h, q, k], +0.0 on the diagonal

    def bias(self, q, k, q_positions, k_positions):
        """``[h, q, k]`` (no batch dim) for ``q`` ``[b, h, q, d]`` and ``k`` ``[b, h, k, d]``."""
        check_qk(q, k)
        if q.shape[1] != self.num_heads:
            raise ValueError(f"q must have num_heads={self.num_heads} heads, got {q.shape[1]}")
        check_seq_positions("q_positions", as_positions(q_positions), q.shape[-2])
        check_seq_positions("k_positions", as_positions(k_positions), k.shape[-2])
        return self.bias_from_positions(q_positions, k_positions).to(q.dtype)

    def forward(self, q_positions, k_positions):
        return self.bias_from_positions(q_positions, k_positions)


KERPLE_VARIANTS = ("log", "power")


def kerple_bias(
    distance: torch.Tensor, r1: torch.Tensor, r2: torch.Tensor, variant: str = "log"
) -> torch.Tensor:
    """KERPLE bias (Chi et al. 2022) ``[h, q, k]`` from distances ``|i - j|`` ``[q, k]``.

    ``variant="log"``: ``-r1 * log(1 + r2 * dist)``; ``"power"``: ``-r1 * dist**r2``
    (the paper requires ``0 < r2 <= 2``). ``r1``, ``r2`` are ``[h]``, positive.
    Book chapter: "Linear biases".
    """
    if variant not in KERPLE_VARIANTS:
        raise ValueError(f"variant must be one of {KERPLE_VARIANTS}, got {variant!r}")
    if r1.dim() != 1 or r2.shape != r1.shape:
        raise ValueError(
            f"r1 and r2 must both have shape [h], got {tuple(r1.shape)} and {tuple(r2.shape)}"
        )
    dist = distance.to(r1.dtype)[None]  # [1, q, k]
    r1, r2 = r1[:, None, None], r2[:, None, None]  # [h, 1, 1]
    if variant == "log":
        return -r1 * torch.log1p(r2 * dist)  # [h, q, k]
    return -r1 * dist.pow(r2)  # [h, q, k]


class KerpleBias(nn.Module):
    """KERPLE (Chi et al. 2022), a ``bias`` hook with learnable positive per-head parameters.

    Positivity is kept by a parametrisation rather than clamping: ``r1 = softplus(raw1)``;
    for ``"log"`` ``r2 = softplus(raw2)``; for ``"power"`` ``r2 = 2 * sigmoid(raw2)`` in
    ``(0, 2)``. All start at ``r1 = r2 = 1``. Book chapter: "Linear biases".
    """

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

    def bias_from_positions(self, q_positions, k_positions) -> torch.Tensor:
        dist = _distances(q_positions, k_positions).to(self.raw_r1.device)  # [q, k]
        return kerple_bias(dist, self.r1, self.r2, self.variant)  # [h, q, k]

    def bias(self, q, k, q_positions, k_positions):
        check_qk(q, k)
        check_seq_positions("q_positions", as_positions(q_positions), q.shape[-2])
        check_seq_positions("k_positions", as_positions(k_positions), k.shape[-2])
        return self.bias_from_positions(q_positions, k_positions).to(q.dtype)

    def forward(self, q_positions, k_positions):
        return self.bias_from_positions(q_positions, k_positions)


class FireBias(nn.Module):
    """FIRE (Li et al. 2023): a learned function of the normalised distance, a ``bias`` hook.

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
        """``psi(|i - j|) / psi(max(i, L))``, ``[q, k]`` in ``[0, 1]`` for ``j <= i``."""
        qp = as_positions(q_positions).to(self.log_c.device)
        kp = as_positions(k_positions).to(self.log_c.device)
        c, threshold = self.log_c.exp(), self.log_threshold.exp()
        dist = (qp[:, None] - kp[None, :]).abs().to(c.dtype)  # [q, k]
        norm = torch.log1p(c * torch.maximum(qp.to(c.dtype), threshold))  # [q]
        return torch.log1p(c * dist) / norm[:, None]  # [q, k]

    def bias_from_positions(self, q_positions, k_positions) -> torch.Tensor:
        x = self.normalised_distance(q_positions, k_positions)  # [q, k]
        return self.mlp(x[..., None]).permute(2, 0, 1)  # [h, q, k]

    def bias(self, q, k, q_positions, k_positions):
        check_qk(q, k)
        check_seq_positions("q_positions", as_positions(q_positions), q.shape[-2])
        check_seq_positions("k_positions", as_positions(k_positions), k.shape[-2])
        return self.bias_from_positions(q_positions, k_positions).to(q.dtype)

    def forward(self, q_positions, k_positions):
        return self.bias_from_positions(q_positions, k_positions)
