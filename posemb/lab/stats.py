"""Intervals over seeds and exact tests of a difference.

The exact tests and t intervals at the end of this module (:func:`sign_flip_test`,
:func:`permutation_test`, :func:`t_interval`, :func:`welch_interval`, :func:`compare_runs`)
use ``scipy.stats`` and hold their level at five seeds, where the percentile bootstrap
below does not (in simulated null comparisons of five against five it excluded zero about
11% of the time at a nominal 5%). They are the book's rule from now on; the bootstrap
functions stay for the chapters that still print them.

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

__all__ = [
    "LEVEL",
    "ALPHA",
    "bootstrap_ci",
    "difference_ci",
    "mean_distribution",
    "proportion_ci",
    "sign_flip_test",
    "permutation_test",
    "t_interval",
    "welch_interval",
    "compare_runs",
]

#: Coverage of every interval the book prints.
LEVEL = 0.95
#: The book's rule (issue 22, DESIGN.md "experiments"): a comparison is called a difference
#: only where an exact permutation or sign-flip test gives p below this.
ALPHA = 0.05
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


# --- exact tests and t intervals (scipy.stats) ---------------------------------------------


def _arrays(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float], paired: bool):
    va, vb = _check_values(name_a, a), _check_values(name_b, b)
    if paired and len(va) != len(vb):
        raise ValueError(
            f"paired runs need as many values in {name_a} as in {name_b}, got {len(va)} and "
            f"{len(vb)}"
        )
    return va, vb


def sign_flip_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact two-sided p-value of a paired comparison: every one of the ``2**n`` ways of
    swapping ``a[i]`` and ``b[i]`` (flipping the sign of ``a[i] - b[i]``) is enumerated, and
    p is the share whose mean difference is at least as far from zero as the observed one.

    Use it when run ``i`` of ``a`` and of ``b`` share what a seed fixes (the same base
    model, data and order). With ``n`` pairs the smallest possible p is ``2 / 2**n``: five
    differences of one sign give ``0.0625``, so five seeds can never show a difference at
    0.05 with this test.

    Args:
        a: one value per seed for the first method.
        b: the second method's values, in the same seed order.

    Returns:
        The p-value (``1.0`` when every difference is zero).

    Raises:
        ValueError: empty or non-finite values, or ``a`` and ``b`` of different lengths.
    """
    import numpy as np
    from scipy import stats

    va, vb = _arrays("a", a, "b", b, paired=True)
    diffs = np.asarray(va) - np.asarray(vb)
    if not np.any(diffs):
        return 1.0
    result = stats.permutation_test(
        (np.asarray(va), np.asarray(vb)),
        lambda x, y, axis: np.abs(np.mean(x - y, axis=axis)),
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
        alternative="greater",
    )
    return float(min(1.0, result.pvalue))


def permutation_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact two-sided p-value of the difference of two means between independent groups:
    every split of the pooled values into groups of the two sizes is enumerated
    (``C(10, 5) = 252`` for five against five, so the smallest p is ``2 / 252``), and p is
    the share whose difference of means is at least as far from zero as the observed one
    (Fisher and Pitman's test; not twice the smaller one-sided p, which differs when the
    groups' sizes differ).

    Args:
        a: the first method's values (one per seed).
        b: the second method's values, not paired with ``a``.

    Returns:
        The p-value.

    Raises:
        ValueError: empty or non-finite values.
    """
    import numpy as np
    from scipy import stats

    va, vb = _arrays("a", a, "b", b, paired=False)
    if np.ptp(np.asarray(va + vb)) == 0:
        return 1.0
    result = stats.permutation_test(
        (np.asarray(va), np.asarray(vb)),
        lambda x, y, axis: np.abs(np.mean(x, axis=axis) - np.mean(y, axis=axis)),
        permutation_type="independent",
        vectorized=True,
        n_resamples=np.inf,
        alternative="greater",
    )
    return float(min(1.0, result.pvalue))


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """Student's t interval of the mean of ``values`` (of paired differences, for a paired
    comparison). Unlike a percentile bootstrap it widens with few values as it should.

    Args:
        values: at least two finite values.
        level: the coverage, in (0, 1).

    Returns:
        ``(low, high)``; ``(m, m)`` when every value is ``m``.

    Raises:
        ValueError: fewer than two values, non-finite values or a bad level.
    """
    import numpy as np
    from scipy import stats

    vals = _check_values("values", values)
    level = _check_level(level)
    if len(vals) < 2:
        raise ValueError(f"values must hold at least two values, got {len(vals)}")
    arr = np.asarray(vals)
    mean = float(arr.mean())
    sem = float(stats.sem(arr))
    if sem == 0:
        return mean, mean
    low, high = stats.t.interval(level, len(arr) - 1, loc=mean, scale=sem)
    return float(low), float(high)


def welch_interval(
    a: Sequence[float], b: Sequence[float], level: float = LEVEL
) -> tuple[float, float]:
    """Welch's t interval of ``mean(a) - mean(b)`` for independent groups with unequal
    spreads.

    Args:
        a: the first group's values (at least two).
        b: the second group's values (at least two).
        level: the coverage, in (0, 1).

    Returns:
        ``(low, high)``.

    Raises:
        ValueError: fewer than two values in a group, non-finite values or a bad level.
    """
    import numpy as np
    from scipy import stats

    va, vb = _arrays("a", a, "b", b, paired=False)
    level = _check_level(level)
    if len(va) < 2 or len(vb) < 2:
        raise ValueError(f"a and b need at least two values each, got {len(va)} and {len(vb)}")
    diff = float(np.mean(va) - np.mean(vb))
    if np.var(va) == 0 and np.var(vb) == 0:
        return diff, diff
    res = stats.ttest_ind(np.asarray(va), np.asarray(vb), equal_var=False)
    ci = res.confidence_interval(confidence_level=level)
    return float(ci.low), float(ci.high)


def compare_runs(
    a: Sequence[float], b: Sequence[float], *, paired: bool, level: float = LEVEL
) -> dict:
    """The book's comparison of two methods over seeds.

    Args:
        a: the first method's values, one per seed.
        b: the second method's values.
        paired: whether seed ``i`` of ``a`` and of ``b`` share everything a seed fixes
            (then the sign-flip test and the t interval of the differences), or not (the
            exact permutation test and Welch's interval).
        level: the interval's coverage.

    Returns:
        ``{"diff": mean(a) - mean(b), "ci": (low, high), "p": exact p-value, "sign": +1 or
        -1 where p < ALPHA (a difference the book may state), else 0, "n": (len(a),
        len(b)), "paired": paired}``.

    Raises:
        ValueError: as the tests and intervals above.
    """
    va, vb = _arrays("a", a, "b", b, paired=paired)
    diff = math.fsum(va) / len(va) - math.fsum(vb) / len(vb)
    if paired:
        p = sign_flip_test(va, vb)
        ci = t_interval([x - y for x, y in zip(va, vb, strict=True)], level)
    else:
        p = permutation_test(va, vb)
        ci = welch_interval(va, vb, level)
    sign = (1 if diff > 0 else -1 if diff < 0 else 0) if p < ALPHA else 0
    return {"diff": diff, "ci": ci, "p": p, "sign": sign, "n": (len(va), len(vb)),
            "paired": paired}
