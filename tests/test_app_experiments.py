"""posemb.lab.experiments: the command line, the JSON schema, the summaries."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from posemb.lab import experiments, training
from posemb.lab.model import ModelConfig
from posemb.lab.training import TrainConfig

PROG_ERROR = "python -m posemb.lab.experiments: error: "


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
    # Issue 12's bar: at least five seeds, trained for the full budget with learning curves,
    # and the boundary-token variants of the encoder tasks.
    assert not record["quick"] and len(record["seeds"]) >= 5
    assert record["config"]["train_cfg"]["steps"] >= experiments.FULL_STEPS
    assert all("curve" in r and len(r["curve"]["steps"]) >= 10 for r in record["results"])
    assert {(r["task"], r["scheme"]) for r in record["results"]} == {
        (t, s) for t in record["tasks"] for s in record["schemes"]
    }
    if name in ("classification", "translation"):
        assert any(t.endswith("_boundary") for t in record["tasks"])


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


def test_committed_records_are_package_data():
    """The records live inside the package (they ship in the wheel), not in the book."""
    package = Path(experiments.__file__).resolve().parent
    assert experiments.DATA == package / "data"
    assert experiments.schema_path() == package / "data" / "schema.json"
    record = experiments.load("classification")
    experiments.validate(record)
    assert record["experiment"] == "classification"


# --------------------------------------------------------------------------- output paths


def test_source_checkout_is_detected():
    assert experiments._in_source_checkout()


@pytest.mark.parametrize("quick", [False, True])
def test_default_out_in_a_source_checkout(monkeypatch, quick):
    monkeypatch.setattr(experiments, "_in_source_checkout", lambda: True)
    expected = experiments.DATA / ("quick/qa.json" if quick else "qa.json")
    assert experiments.default_out("qa", quick) == expected


@pytest.mark.parametrize("quick", [False, True])
def test_default_out_of_an_installed_package(monkeypatch, quick):
    """Outside a checkout the default is ./posemb-results/, never site-packages."""
    monkeypatch.setattr(experiments, "_in_source_checkout", lambda: False)
    out = experiments.default_out("qa", quick)
    assert out == Path("posemb-results", "quick" if quick else "", "qa.json")
    assert not out.is_absolute()


def _committed(name="classification") -> dict:
    return json.loads((experiments.DATA / f"{name}.json").read_text())


@pytest.mark.parametrize("checkout", [True, False])
@pytest.mark.parametrize("quick", [False, True])
def test_cli_writes_to_the_default_out(tmp_path, monkeypatch, checkout, quick):
    record = _committed()
    data = tmp_path / "pkg" / "data"  # stands in for posemb/lab/data: never overwrite the real one
    data.mkdir(parents=True)
    shutil.copy(experiments.schema_path(), data / "schema.json")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(experiments, "_in_source_checkout", lambda: checkout)
    monkeypatch.setattr(experiments, "DATA", data)
    monkeypatch.setattr(experiments, "run_experiment", lambda *a, **kw: record)
    argv = ["classification", "--no-progress"] + (["--quick"] if quick else [])
    assert experiments.main(argv) == 0
    base = data if checkout else tmp_path / "cwd" / "posemb-results"
    written = base / "quick" / "classification.json" if quick else base / "classification.json"
    assert json.loads(written.read_text()) == record
    assert sorted(p.name for p in data.iterdir()) == sorted(
        ["schema.json"] + (["quick" if quick else "classification.json"] if checkout else [])
    )


# --------------------------------------------------------------------------- bad input


def _part(tmp_path: Path) -> str:
    path = tmp_path / "part.json"
    path.write_text(json.dumps(_committed()))
    return str(path)


def _no_dir_is_writable(monkeypatch):
    monkeypatch.setattr(experiments, "_dir_writable", lambda path: False)


def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _no_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


# (argv given tmp_path, text the error line must contain, setup(monkeypatch) or None)
BAD_INPUT = {
    "out-dir-missing": (
        lambda t: ["classification", "--out", str(t / "missing" / "c.json")],
        "--out",
        None,
    ),
    "out-is-dir": (lambda t: ["classification", "--out", str(t)], "--out", None),
    "out-not-writable": (
        lambda t: ["classification", "--out", str(t / "c.json")],
        "--out",
        _no_dir_is_writable,
    ),
    "merge-out-dir-missing": (
        lambda t: ["--merge", _part(t), "--out", str(t / "missing" / "c.json")],
        "--out",
        None,
    ),
    "merge-out-is-dir": (lambda t: ["--merge", _part(t), "--out", str(t)], "--out", None),
    "threads-zero": (lambda t: ["classification", "--threads", "0"], "--threads", None),
    "threads-negative": (lambda t: ["classification", "--threads", "-2"], "--threads", None),
    "threads-not-int": (lambda t: ["classification", "--threads", "two"], "--threads", None),
    "device-bogus": (lambda t: ["classification", "--device", "bogus"], "--device", None),
    "device-malformed": (lambda t: ["classification", "--device", "cuda:x"], "--device", None),
    "device-no-cuda": (lambda t: ["classification", "--device", "cuda"], "not available", _no_cuda),
    "device-no-cuda-index": (
        lambda t: ["classification", "--device", "cuda:3"],
        "not available",
        _no_cuda,
    ),
    "device-no-mps": (lambda t: ["classification", "--device", "mps"], "not available", _no_mps),
    "seed-negative": (lambda t: ["classification", "--seeds", "0", "-1"], "--seeds", None),
    "seed-duplicate": (lambda t: ["classification", "--seeds", "1", "0", "1"], "--seeds", None),
    "merge-missing-file": (lambda t: ["--merge", str(t / "nowhere.json")], "nowhere.json", None),
    "merge-overlapping-seeds": (lambda t: ["--merge", _part(t), _part(t)], "repeats seed", None),
    "merge-not-json": (
        lambda t: ["--merge", _part(t), _write(t / "broken.json", "{not json")],
        "broken.json",
        None,
    ),
    "merge-not-a-record": (
        lambda t: ["--merge", _write(t / "list.json", "[1, 2]")],
        "list.json",
        None,
    ),
    "merge-with-name": (lambda t: ["classification", "--merge", _part(t)], "--merge", None),
    "merge-with-quick": (lambda t: ["--merge", _part(t), "--quick"], "--merge", None),
    "list-with-name": (lambda t: ["--list", "generation"], "--list", None),
    "list-with-options": (lambda t: ["--list", "--quick"], "--list", None),
    "no-name": (lambda t: ["--quick"], "experiment name", None),
    "unknown-name": (lambda t: ["nonsense", "--quick"], "unknown experiment", None),
}


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_usage_error_before_training(case, tmp_path, monkeypatch, capsys):
    argv_of, named, setup = BAD_INPUT[case]
    argv = argv_of(tmp_path)
    if setup is not None:
        setup(monkeypatch)

    def no_training(*args, **kwargs):
        raise AssertionError("training started despite bad input")

    monkeypatch.setattr(experiments, "run_experiment", no_training)
    monkeypatch.setattr(experiments, "merge_records", _fail_if_error_expected(named))
    with pytest.raises(SystemExit) as exc:
        experiments.main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    errors = [line for line in lines if line.startswith(PROG_ERROR)]
    assert len(errors) == 1 and lines[-1] == errors[0], captured.err
    assert lines[0].startswith("usage: ")
    assert named in errors[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert not list(tmp_path.glob("**/c.json"))


def _fail_if_error_expected(named):
    real = experiments.merge_records

    def merge(records):
        if named == "--out":  # the output path is refused before the parts are even merged
            raise AssertionError("merged despite a bad --out")
        return real(records)

    return merge


def test_merge_cli_joins_parts(tmp_path):
    whole = _committed()
    paths = []
    for seed in whole["seeds"]:
        part = dict(whole, seeds=[seed], results=[r for r in whole["results"] if r["seed"] == seed])
        paths.append(_write(tmp_path / f"part{seed}.json", json.dumps(part)))
    out = tmp_path / "merged.json"
    assert experiments.main(["--merge", *paths, "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert merged["results"] == whole["results"] and merged["summary"] == whole["summary"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_device_is_accepted_where_there_is_one(tmp_path):
    path = tmp_path / "c.json"
    argv = ["classification", "--quick", "--schemes", "nope", "--no-progress", "--device", "cuda"]
    assert experiments.main([*argv, "--out", str(path)]) == 0
    assert json.loads(path.read_text())["machine"]["device"] == "cuda"


# --------------------------------------------------------------------------- global state


def _torch_state() -> dict:
    return {
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


@pytest.fixture(params=[False, True], ids=["deterministic-off", "deterministic-warn-only"])
def caller_state(request, monkeypatch):
    """Caller settings that differ from what a run sets (1 thread, deterministic, not warn-only).

    Put back after the test so that a failure here cannot leak into other tests.
    """
    saved = _torch_state()
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.set_num_threads(3)
    torch.use_deterministic_algorithms(request.param, warn_only=True)
    yield _torch_state()
    torch.set_num_threads(saved["threads"])
    torch.use_deterministic_algorithms(saved["deterministic"], warn_only=saved["warn_only"])


@pytest.fixture
def state_during_training(monkeypatch):
    """Records the torch state at every call of :func:`posemb.lab.training.train` by a run."""
    seen = []
    real = experiments.train

    def train(*args, **kwargs):
        seen.append(_torch_state())
        return real(*args, **kwargs)

    monkeypatch.setattr(experiments, "train", train)
    return seen


def test_run_experiment_leaves_the_callers_torch_state(caller_state, state_during_training):
    record = experiments.run_experiment(
        "classification", quick=True, schemes=("rope",), seeds=(0,), progress=False
    )
    assert _torch_state() == caller_state
    assert record["machine"]["num_threads"] == 1
    # one training per task (with and without the boundary token), each on one thread,
    # deterministic, whatever the caller had
    assert [(s["threads"], s["deterministic"], s["warn_only"]) for s in state_during_training] == [
        (1, True, False)
    ] * len(record["tasks"])


@pytest.mark.parametrize(
    "run",
    [
        lambda: experiments.run_classification(
            "rope", 0, train_cfg=TrainConfig(steps=3, warmup=1), num_eval=8
        ),
        lambda: experiments.run_translation(
            "rope", 0, train_cfg=TrainConfig(steps=3, warmup=1), num_eval=8
        ),
        lambda: experiments.run_qa(
            "rope", 0, train_cfg=TrainConfig(steps=3, warmup=1), num_eval_per_len=2
        ),
        lambda: experiments.run_generation(
            "alibi",
            0,
            train_cfg=TrainConfig(steps=3, warmup=1),
            multiples=(1,),
            eval_tokens=256,
            max_chars=20_000,
        ),
    ],
    ids=["classification", "translation", "qa", "generation"],
)
def test_run_functions_leave_the_callers_torch_state(run, caller_state, state_during_training):
    run()
    assert _torch_state() == caller_state
    assert [s["deterministic"] for s in state_during_training] == [True]


def test_state_is_restored_when_a_run_fails(caller_state, monkeypatch):
    def failing_train(*args, **kwargs):
        # By now the run has seeded itself, which turns determinism on globally.
        assert torch.are_deterministic_algorithms_enabled()
        raise RuntimeError("training failed")

    monkeypatch.setattr(experiments, "train", failing_train)
    with pytest.raises(RuntimeError, match="training failed"):
        experiments.run_qa("rope", 0, task="position")
    assert _torch_state() == caller_state
    with pytest.raises(RuntimeError, match="boom"), training.preserve_torch_state(threads=1):
        training.seed_everything(0)
        raise RuntimeError("boom")
    assert _torch_state() == caller_state


def test_run_experiment_refuses_bad_threads_and_repeated_seeds():
    with pytest.raises(ValueError, match="threads"):
        experiments.run_experiment("classification", threads=0)
    with pytest.raises(ValueError, match="distinct"):
        experiments.run_experiment("classification", seeds=(0, 0))


def test_boundary_token_is_prepended_and_adds_one_embedding_row():
    x = torch.tensor([[3, 4, 5], [6, 7, 8]])
    assert torch.equal(experiments._with_boundary(x, 16)[:, 0], torch.tensor([16, 16]))
    assert torch.equal(experiments._with_boundary(x, 16)[:, 1:], x)
    assert experiments._with_boundary(x, None) is x
    cfg = TrainConfig(steps=3, warmup=1)
    plain = experiments.run_classification("alibi", 0, train_cfg=cfg, num_eval=20)
    with_cls = experiments.run_classification("alibi", 0, train_cfg=cfg, num_eval=20, boundary=True)
    # one more row in the token table; the learned position table (if any) gets one more too
    assert with_cls["parameters"] - plain["parameters"] == ModelConfig(vocab_size=1).dim
    tr = experiments.run_translation("alibi", 0, train_cfg=cfg, num_eval=20, boundary=True)
    assert 0 <= tr["metrics"]["token_accuracy"] <= 1


def test_schema_accepts_exactly_the_registry_names():
    import posemb

    schema = json.loads(experiments.schema_path().read_text())
    assert tuple(schema["properties"]["schemes"]["items"]["enum"]) == posemb.SCHEME_NAMES
