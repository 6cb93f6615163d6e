"""posemb.experiments: the command line, the JSON schema, the summaries."""

import json

import pytest
import torch

from posemb import experiments


@pytest.fixture(autouse=True)
def _restore_determinism():
    """seed_everything turns deterministic algorithms on globally; undo it after each test."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def test_list_names_every_experiment(capsys):
    assert experiments.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("classification", "translation", "qa", "generation"):
        assert name in out


def test_tiny_run_validates_against_schema(tmp_path):
    record = experiments.run_experiment(
        "classification", quick=True, schemes=("nope", "rope"), seeds=(0, 1), progress=False
    )
    experiments.validate(record)
    summary = record["summary"]["order"]
    assert set(summary) == {"nope", "rope"} and summary["rope"]["accuracy"]["n"] == 2
    path = tmp_path / "c.json"
    assert (
        experiments.main(
            ["classification", "--quick", "--schemes", "nope", "--no-progress", "--out", str(path)]
        )
        == 0
    )
    experiments.validate(json.loads(path.read_text()))


@pytest.mark.parametrize("name", ["classification", "translation", "qa", "generation"])
def test_committed_full_runs_validate(name):
    path = experiments.DATA / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path} not committed yet")
    record = json.loads(path.read_text())
    experiments.validate(record)
    assert not record["quick"] and len(record["seeds"]) >= 3


def test_summarize_keeps_none():
    rs = [
        {"task": "t", "scheme": "s", "seed": i, "metrics": {"a": float(i), "b": None}}
        for i in range(3)
    ]
    s = experiments.summarize(rs)["t"]["s"]
    assert s["a"]["mean"] == 1.0 and s["a"]["std"] == 1.0 and s["b"] is None


def test_doubling_multiple():
    assert experiments.doubling_multiple({32: 3.0, 64: 4.0, 128: 6.5}, 32) == 4.0
    assert experiments.doubling_multiple({32: 3.0, 64: 3.1}, 32) is None


def test_unknown_experiment_is_refused():
    with pytest.raises(ValueError, match="unknown experiment"):
        experiments.run_experiment("nonsense")


def test_merged_parts_equal_one_run():
    """Runs seed themselves: one process per seed gives the numbers of a single process."""
    kw = {"quick": True, "schemes": ("rope",), "progress": False}
    parts = [experiments.run_experiment("classification", seeds=(s,), **kw) for s in (0, 1)]
    merged = experiments.merge_records(parts)
    experiments.validate(merged)
    whole = experiments.run_experiment("classification", seeds=(0, 1), **kw)
    assert merged["seeds"] == [0, 1]
    assert [r["metrics"] for r in merged["results"]] == [r["metrics"] for r in whole["results"]]
    assert merged["summary"] == whole["summary"]
