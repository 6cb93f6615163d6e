"""posemb.lab.stats and the evaluations the full runs add: intervals over seeds, learning
curves, sliding-window and far-context evaluation, FIRE's threshold."""

import math

import pytest
import torch
from torch import nn

from posemb.lab import experiments, stats, tasks
from posemb.lab.model import DecoderLM, ModelConfig, make_scheme
from posemb.lab.training import TrainConfig, perplexity, scored_nll, train

# --------------------------------------------------------------------------- bootstrap


def test_exact_bootstrap_is_a_distribution_over_every_resample():
    dist = stats.mean_distribution([1.0, 2.0, 3.0, 4.0, 5.0])
    assert len(dist) == math.comb(9, 5)  # multisets of 5 draws from 5 values
    assert math.isclose(math.fsum(p for _, p in dist), 1.0, rel_tol=1e-12)
    # the all-equal resamples (e.g. five times the first value) have probability 5^-5
    assert min(p for _, p in dist) == pytest.approx(5.0**-5)
    assert stats.mean_distribution(list(range(9))) is None  # too many: Monte Carlo


def test_bootstrap_interval_of_a_binomial_case_by_hand():
    # one value of 1 among five zeros-and-ones: the resample mean is Binomial(5, 1/5) / 5.
    # P(0) = 0.328 > 0.025, so the lower bound is 0; P(<=2) = 0.942 < 0.975 <= P(<=3) = 0.993.
    assert stats.bootstrap_ci([0, 0, 0, 0, 1]) == (0.0, 0.6)
    assert stats.bootstrap_ci([7.0]) == (7.0, 7.0)
    assert stats.bootstrap_ci([2.0] * 5) == (2.0, 2.0)


def test_monte_carlo_agrees_with_the_exact_bootstrap(monkeypatch):
    vals = [3.1, 2.7, 4.0, 3.3, 2.9]
    exact = stats.bootstrap_ci(vals)
    monkeypatch.setattr(stats, "EXACT_LIMIT", 0)
    mc = stats.bootstrap_ci(vals)
    assert mc == pytest.approx(exact, abs=0.05)
    assert stats.bootstrap_ci(vals) == mc  # seeded: the same interval every time


def test_difference_interval_separates_distinct_groups_only():
    lo, hi = stats.difference_ci([10, 11, 12, 13, 14], [0, 1, 2, 3, 4])
    assert 0 < lo <= 10 <= hi
    lo, hi = stats.difference_ci([1, 2, 3, 4, 5], [1.5, 2.5, 3.5, 2, 4])
    assert lo < 0 < hi
    assert stats.difference_ci([5.0] * 5, [3.0] * 5) == (2.0, 2.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: stats.bootstrap_ci([]), "values must hold"),
        (lambda: stats.bootstrap_ci([1.0, float("nan")]), "values must be finite"),
        (lambda: stats.bootstrap_ci([1.0], level=1.5), "level"),
        (lambda: stats.difference_ci([1.0], []), "b must hold"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _fake_record():
    results = [
        {"task": "t", "scheme": s, "seed": i, "metrics": {"acc": base + 0.01 * i, "x": None}}
        for s, base in (("good", 0.9), ("bad", 0.5), ("same", 0.91))
        for i in range(5)
    ]
    return {"tasks": ["t"], "schemes": ["good", "bad", "same"], "results": results}


def test_summary_intervals_and_comparisons():
    rec = _fake_record()
    s = experiments.summarize(rec["results"])["t"]["good"]["acc"]
    assert s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    assert s["min"] <= s["ci95"][0] and s["ci95"][1] <= s["max"]
    assert experiments.compare(rec, "t", "acc", "good", "bad")["sign"] == 1
    assert experiments.compare(rec, "t", "acc", "bad", "good")["sign"] == -1
    # 0.90-0.94 against 0.91-0.95: a difference of -0.01 inside the seeds' spread, no claim
    same = experiments.compare(rec, "t", "acc", "good", "same")
    assert same["sign"] == 0 and same["diff"] == pytest.approx(-0.01)
    assert experiments.metric_values(rec, "t", "bad", "acc") == pytest.approx(
        [0.5, 0.51, 0.52, 0.53, 0.54]
    )
    with pytest.raises(ValueError, match="metric must be one of"):
        experiments.compare(rec, "t", "nope", "good", "bad")
    with pytest.raises(ValueError, match="no runs of task 't' with scheme 'ugly'"):
        experiments.compare(rec, "t", "acc", "good", "ugly")
    with pytest.raises(ValueError, match="undefined"):
        experiments.compare(rec, "t", "x", "good", "bad")


# --------------------------------------------------------------------------- learning curves


def test_learning_curve_does_not_change_training():
    """Evaluating along the way draws no training randomness: same weights, same metrics."""
    cfg = TrainConfig(steps=24, warmup=4)
    plain = experiments.run_classification("rope", 0, train_cfg=cfg, num_eval=50)
    curved = experiments.run_classification("rope", 0, train_cfg=cfg, num_eval=50, curve_every=10)
    assert plain["metrics"] == curved["metrics"] and plain["history"] == curved["history"]
    assert curved["curve"]["steps"] == [10, 20, 24]
    assert curved["curve"]["accuracy"][-1] == curved["metrics"]["accuracy"]
    assert "curve" not in plain


def test_train_refuses_half_an_evaluation_setup():
    model = nn.Linear(2, 1)
    batch = lambda step: (torch.zeros(1, 2),)  # noqa: E731
    loss = lambda m, b: m(b[0]).sum()  # noqa: E731
    cfg = TrainConfig(steps=2, warmup=1)
    with pytest.raises(ValueError, match="eval_fn and eval_every go together"):
        train(model, batch, loss, cfg, progress=False, eval_every=1)
    with pytest.raises(ValueError, match="eval_every must be a positive int"):
        train(model, batch, loss, cfg, progress=False, eval_fn=lambda m: {"a": 1}, eval_every=0)
    with pytest.raises(TypeError, match="eval_fn must return a non-empty dict"):
        train(model, batch, loss, cfg, progress=False, eval_fn=lambda m: 1.0, eval_every=1)


# --------------------------------------------------------------------------- evaluation windows


class Bigram(nn.Module):
    """Logits from the current token only: context and position do not matter to it."""

    def __init__(self, vocab: int = 11):
        super().__init__()
        torch.manual_seed(0)
        self.table = nn.Embedding(vocab, vocab)

    def forward(self, x):
        return self.table(x)


def test_sliding_windows_score_the_same_targets_at_every_length():
    ids = torch.arange(500) % 11
    model = Bigram()
    per_length = []
    for n in (8, 16, 32):
        w = tasks.sliding_windows(ids, n, 4, first_target=40, num_tokens=64)
        assert w.shape == (16, n + 1)
        assert torch.equal(w[:, -4:].reshape(-1), ids[40:104])  # the scored targets
        # each window is a contiguous stretch of the stream
        assert torch.equal(w[3], ids[40 + 4 * 4 - 1 - n : 40 + 4 * 4])
        per_length.append(scored_nll(model, w, n - 4))
    assert per_length[0] == per_length[1] == per_length[2]  # same targets, same bigrams


def test_last_context_windows_match_the_far_predictions():
    ids = (torch.arange(700) * 7) % 11
    n, ctx = 32, 8
    full = tasks.lm_windows(ids, n, 256)
    last = tasks.last_context_windows(ids, n, ctx, 256)
    assert last.shape == (full.shape[0] * (n - ctx), ctx + 1)
    assert torch.equal(last[:, -1], full[:, ctx + 1 :].reshape(-1))  # same targets, in order
    assert torch.equal(last[5], ids[ctx + 5 - ctx + 1 : ctx + 5 + 2])
    model = Bigram()
    a, b = scored_nll(model, full, ctx), scored_nll(model, last, ctx - 1, batch_size=7)
    assert a[1] == b[1] and a[0] == pytest.approx(b[0], rel=1e-12)


def test_scored_nll_from_zero_is_perplexity():
    ids = (torch.arange(300) * 3) % 11
    w = tasks.lm_windows(ids, 16, 200)
    total, count = scored_nll(Bigram(), w)
    assert count == w[:, 1:].numel()
    assert math.exp(total / count) == perplexity(Bigram(), w)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda ids: tasks.sliding_windows(ids, 8, 16, 40, 64), "stride must be at most"),
        (lambda ids: tasks.sliding_windows(ids, 8, 4, 2, 64), "first_target must be at least"),
        (lambda ids: tasks.sliding_windows(ids, 8, 4, 40, 2), "num_tokens must be at least"),
        (lambda ids: tasks.sliding_windows(ids, 8, 4, 40, 4000), "need 4040 ids"),
        (lambda ids: tasks.last_context_windows(ids, 8, 8), "context must be shorter"),
        (lambda ids: scored_nll(Bigram(), tasks.lm_windows(ids, 8), 8), "score_from must be in"),
    ],
)
def test_window_arguments_are_checked(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.arange(500) % 11)


def test_far_control_metrics_come_in_pairs():
    r = experiments.run_generation(
        "alibi",
        0,
        train_cfg=TrainConfig(steps=4, warmup=1),
        multiples=(1, 2),
        eval_tokens=512,
        sliding=True,
        far_control=True,
        curve_every=2,
    )
    m = r["metrics"]
    assert set(m) == {
        "ppl@32",
        "ppl@64",
        "ppl_sliding@32",
        "ppl_sliding@64",
        "ppl_far@64",
        "ppl_lastL@64",
    }
    assert all(v > 1 for v in m.values())
    assert r["curve"]["steps"] == [2, 4] and r["curve"]["ppl@64"][-1] == m["ppl@64"]
    learned = experiments.run_generation(
        "learned",
        0,
        train_cfg=TrainConfig(steps=2, warmup=1),
        multiples=(1, 2),
        eval_tokens=512,
        sliding=True,
        far_control=True,
    )["metrics"]
    assert learned["ppl_far@64"] is None and learned["ppl_sliding@64"] is None
    assert learned["ppl_sliding@32"] > 1


# --------------------------------------------------------------------------- FIRE threshold


def test_fire_threshold_starts_at_the_training_length():
    fire = make_scheme("fire", dim=64, num_heads=4, max_len=32, causal=True)
    assert fire.log_threshold.exp().item() == pytest.approx(32.0)
    fire = make_scheme("fire", dim=64, num_heads=4, max_len=32, causal=True, fire_threshold=8.0)
    assert fire.log_threshold.exp().item() == pytest.approx(8.0)
    model = DecoderLM(ModelConfig(vocab_size=10, scheme="fire", max_len=16))
    thresholds = [
        m.log_threshold.exp().item() for m in model.modules() if hasattr(m, "log_threshold")
    ]
    assert thresholds and all(t == pytest.approx(16.0) for t in thresholds)


def test_full_runs_meet_the_bar():
    """Every full run: at least 5 seeds; every one that trains: a learning curve and the
    same long budget (the real-model run trains nothing)."""
    untrained = {n for n, e in experiments.EXPERIMENTS.items() if "train_cfg" not in e.full}
    assert untrained == {"realmodel"}
    for exp in experiments.EXPERIMENTS.values():
        assert len(exp.seeds) >= 5
        if exp.name in untrained:
            continue
        assert exp.full["curve_every"] < exp.full["train_cfg"].steps
        assert exp.full["train_cfg"].steps == experiments.FULL_STEPS
    assert experiments.EXPERIMENTS["generation"].full["far_control"]
    assert set(experiments.EXPERIMENTS["classification"].runs) == {"order", "order_boundary"}
    assert set(experiments.EXPERIMENTS["translation"].runs) == {"reversal", "reversal_boundary"}


def test_proportion_interval_is_clopper_pearson():
    # at the edges the interval has a closed form: (0, 1 - (alpha/2)^(1/n)) for 0 of n
    for n in (1, 5, 20):
        lo, hi = stats.proportion_ci(0, n)
        assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / n), abs=1e-9)
        lo, hi = stats.proportion_ci(n, n)
        assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / n), abs=1e-9)
    # an interior case by its definition: each end leaves 2.5% in the tail beyond it
    lo, hi = stats.proportion_ci(3, 10)
    tail_above = sum(math.comb(10, i) * lo**i * (1 - lo) ** (10 - i) for i in range(3, 11))
    tail_below = sum(math.comb(10, i) * hi**i * (1 - hi) ** (10 - i) for i in range(0, 4))
    assert tail_above == pytest.approx(0.025, abs=1e-9)
    assert tail_below == pytest.approx(0.025, abs=1e-9)
    assert 0.06 < lo < 0.07 and 0.65 < hi < 0.66  # published: (0.0667, 0.6525)
    # symmetric in successes and failures, and wider at a higher level
    a, b = stats.proportion_ci(2, 7), stats.proportion_ci(5, 7)
    assert a[0] == pytest.approx(1 - b[1], abs=1e-9) and a[1] == pytest.approx(1 - b[0], abs=1e-9)
    w95, w99 = stats.proportion_ci(2, 7), stats.proportion_ci(2, 7, level=0.99)
    assert w99[0] < w95[0] and w99[1] > w95[1]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((1, 0), ValueError, "n must be at least 1"),
        ((6, 5), ValueError, r"k must be in \[0, n\]"),
        ((-1, 5), ValueError, r"k must be in \[0, n\]"),
        ((1.0, 5), TypeError, "k must be an int"),
        ((1, True), TypeError, "n must be an int"),
    ],
)
def test_proportion_interval_refuses_bad_counts(args, error, match):
    with pytest.raises(error, match=match):
        stats.proportion_ci(*args)


# --- exact tests and t intervals (issue 22) ------------------------------------------------

import itertools  # noqa: E402


def _brute_sign_flip(a, b):
    d = [x - y for x, y in zip(a, b, strict=True)]
    observed = abs(sum(d))
    flips = [abs(sum(s * v for s, v in zip(signs, d, strict=True)))
             for signs in itertools.product((1, -1), repeat=len(d))]
    return sum(f >= observed - 1e-12 for f in flips) / len(flips)


def _brute_permutation(a, b):
    pooled, n = list(a) + list(b), len(a)
    observed = abs(sum(a) / len(a) - sum(b) / len(b))
    count = total = 0
    for idx in itertools.combinations(range(len(pooled)), n):
        ga = [pooled[i] for i in idx]
        gb = [pooled[i] for i in range(len(pooled)) if i not in idx]
        total += 1
        count += abs(sum(ga) / len(ga) - sum(gb) / len(gb)) >= observed - 1e-12
    return count / total


def test_sign_flip_test_is_exact():
    # five differences of one sign: 2 of 32 flips are as extreme, the smallest p at n = 5
    assert stats.sign_flip_test([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]) == pytest.approx(0.0625)
    cases = [([3.1, 2.0, 4.2, 1.0, 2.5, 0.7], [2.0, 2.2, 3.0, 1.4, 1.9, 0.1]),
             ([0.86, 0.74, 0.91, 0.33, 0.60], [0.80, 0.52, 0.88, 0.41, 0.20])]
    for a, b in cases:
        assert stats.sign_flip_test(a, b) == pytest.approx(_brute_sign_flip(a, b))
    assert stats.sign_flip_test([1, 2], [1, 2]) == 1.0
    # ten seeds of one sign reach 2 / 1024
    assert stats.sign_flip_test(list(range(1, 11)), [0] * 10) == pytest.approx(2 / 1024)


def test_permutation_test_is_exact():
    assert stats.permutation_test([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    a, b = [0.9, 0.7, 1.1, 0.4], [0.5, 0.6, 0.2, 0.8, 0.3]
    assert stats.permutation_test(a, b) == pytest.approx(_brute_permutation(a, b))
    assert stats.permutation_test([1.0, 1.0], [1.0, 1.0, 1.0]) == 1.0


def test_t_interval_matches_the_closed_form():
    # mean 3, s = sqrt(2.5), n = 5, t(0.975, 4) = 2.776445 (published tables)
    lo, hi = stats.t_interval([1, 2, 3, 4, 5])
    half = 2.776445 * (2.5 ** 0.5) / 5 ** 0.5
    assert lo == pytest.approx(3 - half, abs=1e-5) and hi == pytest.approx(3 + half, abs=1e-5)
    assert stats.t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_welch_interval_matches_the_closed_form():
    from scipy.stats import t

    a, b = [1, 2, 3, 4, 5], [2, 4, 6, 8, 10]
    va, vb = 2.5 / 5, 10.0 / 5  # variance of each mean
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)
    half = t.ppf(0.975, df) * (va + vb) ** 0.5
    lo, hi = stats.welch_interval(a, b)
    assert lo == pytest.approx(-3 - half) and hi == pytest.approx(-3 + half)


def test_compare_runs_calls_a_difference_only_below_alpha():
    five = stats.compare_runs([1, 2, 3, 4, 5], [0, 0, 0, 0, 0], paired=True)
    assert five["p"] == pytest.approx(0.0625) and five["sign"] == 0  # not separated
    ten = stats.compare_runs(list(range(1, 11)), [0] * 10, paired=True)
    assert ten["sign"] == 1 and ten["ci"][0] > 0
    apart = stats.compare_runs([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], paired=False)
    assert apart["sign"] == -1 and apart["diff"] == -5 and apart["ci"][1] < 0


def test_exact_tests_refuse_bad_input_by_name():
    with pytest.raises(ValueError, match="paired runs need as many values in a as in b"):
        stats.sign_flip_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="a must be finite"):
        stats.permutation_test([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="at least two values"):
        stats.t_interval([1.0])
    with pytest.raises(ValueError, match="a and b need at least two values each"):
        stats.welch_interval([1.0], [1.0, 2.0])
