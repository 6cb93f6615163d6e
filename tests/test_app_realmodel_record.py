"""The committed SmolLM2 run (posemb/lab/data/realmodel.json): complete, and consistent.

Reads the record only (``posemb.lab.realmodel`` imports transformers only to load the
model), so it runs where the model is not installed.
"""

from __future__ import annotations

import pytest

from posemb.lab import experiments
from posemb.lab.realmodel import PASSKEY_DEPTHS
from posemb.lab.realmodel import REALMODEL_METHODS as METHODS

DEPTHS = [round(d * 100) for d in PASSKEY_DEPTHS]  # 10 and 90


@pytest.fixture(scope="module")
def record():
    path = experiments.DATA / "realmodel.json"
    if not path.exists():
        pytest.skip(f"{path} not committed yet")
    return experiments.load("realmodel")


def test_the_committed_run_is_the_full_one(record):
    experiments.validate(record)
    assert not record["quick"] and len(record["seeds"]) >= 5
    assert record["tasks"] == list(METHODS) and record["schemes"] == ["rope"]
    assert record["config"]["multiples"] == [1, 2]
    assert {(r["task"], r["seed"]) for r in record["results"]} == {
        (t, s) for t in METHODS for s in record["seeds"]
    }
    for r in record["results"]:
        ctx = r["context"]
        assert ctx["used"] == ctx["trained"] == 8192 and ctx["rope_theta"] == 100000.0
        m = r["metrics"]
        for n in (8192, 16384):
            assert 1.0 < m[f"ppl@{n}"] < 1000
            for d in DEPTHS:
                assert m[f"passkey{d}@{n}"] in (0.0, 1.0)
                assert 0.0 <= m[f"passkey{d}_tokens@{n}"] <= 1.0
        assert "ppl_far@16384" in m and "ppl_far@8192" not in m


def test_inside_the_context_every_method_is_the_trained_model(record):
    by = {(r["task"], r["seed"]): r["metrics"] for r in record["results"]}
    inside = [k for k in by["none", record["seeds"][0]] if k.endswith("@8192")]
    assert len(inside) == 5  # perplexity, and two depths x (whole key, tokens)
    for seed in record["seeds"]:
        for k in inside:
            assert by["dynamic", seed][k] == by["yarn", seed][k] == by["none", seed][k]
        # past it, the three methods are three different models
        assert len({by[m, seed]["ppl@16384"] for m in METHODS}) == 3
