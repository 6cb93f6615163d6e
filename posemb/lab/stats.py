"""Intervals over seeds: percentile bootstrap of a mean, and of a difference of two means.

A comparison in the book ("scheme A beats scheme B") is made only where the 95% bootstrap
interval of the difference of the two means over seeds excludes zero. With the book's five
seeds there are only ``C(9, 5) = 126`` distinct resamples of one scheme's values, so the
bootstrap distribution is computed exactly (every multiset of seeds, weighted by its
multinomial probability) instead of by random resampling: no random numbers, and the same
interval on every machine. Larger groups fall back to a seeded Monte Carlo bootstrap.

Caveat the chapters repeat: a percentile bootstrap over five seeds is narrower than the
truth (it cannot see spread the five seeds did not show), so an interval here is a
minimum of the uncertainty, not a guarantee. Book part: "Applications".

For a count of successes (``k`` keys recalled out of ``n`` prompts) a bootstrap is useless at
the edges (``5 of 5`` resamples to ``(1, 1)``), so :func:`proportion_ci` gives the exact
Clopper-Pearson interval instead (*Context extension, measured*).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

__all__ = ["LEVEL", "bootstrap_ci", "difference_ci", "mean_distribution", "proportion_ci"]

#: Coverage of every interval the book prints.
LEVEL = 0.95
#: Largest number of distinct resamples computed exactly; beyond it, Monte Carlo.
EXACT_LIMIT = 20_000
#: Monte Carlo resamples (seeded) when the exact distribution is too large.
RESAMPLES = 20_000


def _compositions(n: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every tuple of ``parts`` non-negative ints summing to ``n``."""
    if parts == 1:
        yield (n,)
        return
    for first in range(n + 1):
        for rest in _compositions(n - first, parts - 1):
            yield (first, *rest)


def _check_values(name: str, values: Sequence[float]) -> list[float]:
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError(f"{name} must hold at least one value")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{name} must be finite, got {vals}")
    return vals


def mean_distribution(values: Sequence[float]) -> list[tuple[float, float]] | None:
    """The exact bootstrap distribution of the mean: ``[(mean, probability), ...]``.

    Each resample draws ``n`` of the ``n`` values with replacement; a resample is fixed by
    how many times it takes each value (a composition ``k`` of ``n``), with probability
    ``n! / (k_1! ... k_n! n^n)``. ``None`` when there are more than :data:`EXACT_LIMIT`
    compositions (``n >= 9``).
    """
    vals = _check_values("values", values)
    n = len(vals)
    if math.comb(2 * n - 1, n) > EXACT_LIMIT:
        return None
    log_norm = math.lgamma(n + 1) - n * math.log(n)
    out = []
    for k in _compositions(n, n):
        log_p = log_norm - sum(math.lgamma(c + 1) for c in k)
        out.append((math.fsum(c * v for c, v in zip(k, vals, strict=True)) / n, math.exp(log_p)))
    return out


def _quantiles(dist: list[tuple[float, float]], level: float) -> tuple[float, float]:
    """Lower and upper percentile-bootstrap bounds of a discrete distribution."""
    dist = sorted(dist)
    total = math.fsum(p for _, p in dist)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    lo = hi = dist[-1][0]
    acc = 0.0
    found_lo = False
    for value, p in dist:
        acc += p / total
        if not found_lo and acc >= lo_q - 1e-12:
            lo, found_lo = value, True
        if acc >= hi_q - 1e-12:
            hi = value
            break
    return lo, hi


def _monte_carlo(sample, level: float, seed: int) -> tuple[float, float]:
    rng = random.Random(seed)
    draws = [(sample(rng), 1.0) for _ in range(RESAMPLES)]
    return _quantiles(draws, level)


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


def bootstrap_ci(
    values: Sequence[float], level: float = LEVEL, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (exact for ``n <= 8``).

    One value gives the degenerate interval ``(v, v)``.
    """
    vals = _check_values("values", values)
    level = _check_level(level)
    dist = mean_distribution(vals)
    if dist is not None:
        return _quantiles(dist, level)
    n = len(vals)
    return _monte_carlo(lambda rng: math.fsum(rng.choices(vals, k=n)) / n, level, seed)


def difference_ci(
    a: Sequence[float], b: Sequence[float], level: float = LEVEL, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a) - mean(b)``, resampling each group alone.

    The groups are independent runs (different schemes), so each is resampled on its own;
    exact while both exact distributions fit in ``EXACT_LIMIT ** 2 / 100`` pairs, seeded
    Monte Carlo otherwise. ``A`` is better than ``B`` at this level where the interval
    excludes zero on the right side.
    """
    va, vb = _check_values("a", a), _check_values("b", b)
    level = _check_level(level)
    da, db = mean_distribution(va), mean_distribution(vb)
    if da is not None and db is not None and len(da) * len(db) <= EXACT_LIMIT**2 // 100:
        return _quantiles([(x - y, p * q) for x, p in da for y, q in db], level)
    na, nb = len(va), len(vb)
    return _monte_carlo(
        lambda rng: math.fsum(rng.choices(va, k=na)) / na - math.fsum(rng.choices(vb, k=nb)) / nb,
        level,
        seed,
    )


def _binomial_tail(k: int, n: int, p: float, upper: bool) -> float:
    """P(X >= k) (``upper``) or P(X <= k) for X ~ Binomial(n, p)."""
    terms = range(k, n + 1) if upper else range(0, k + 1)
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in terms)


def proportion_ci(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a success probability from ``k`` of ``n`` trials.

    The lower end is the ``p`` at which ``P(X >= k) = (1 - level) / 2``, the upper end the
    ``p`` at which ``P(X <= k) = (1 - level) / 2`` (``0`` and ``1`` when ``k`` is ``0`` or
    ``n``), found by bisection to about ``1e-12``. It covers the true probability at least
    ``level`` of the time, for any ``n``: conservative, where a bootstrap over a handful of
    0/1 outcomes is not (``5 of 5`` gives about ``(0.478, 1)`` here, ``(1, 1)`` by bootstrap).
    """
    for name, v in (("n", n), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, n] = [0, {n}], got {k}")
    alpha = (1 - _check_level(level)) / 2

    def solve(f, target: float) -> float:  # f increasing in p: the p in (0, 1) with f(p) = target
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
        return (lo + hi) / 2

    # P(X >= k) grows with p; P(X <= k) falls, so its complement grows
    lower = 0.0 if k == 0 else solve(lambda p: _binomial_tail(k, n, p, upper=True), alpha)
    upper = 1.0 if k == n else solve(lambda p: 1 - _binomial_tail(k, n, p, upper=False), 1 - alpha)
    return lower, upper
