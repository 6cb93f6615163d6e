"""The long-context experiment: passkey windows, the methods' RoPE, errors, a quick run."""

from __future__ import annotations

import json

import pytest
import torch

import posemb
from posemb.lab import experiments, tasks
from posemb.lab.training import make_generator

IDS = tasks.encode_text("def f(x):\n    return x + 1\n" * 200)


def _text(row: torch.Tensor) -> str:
    return bytes(row.tolist()).decode("ascii")


def test_passkey_windows_put_the_key_at_depth_and_ask_for_it_at_the_end():
    rows, keys = tasks.passkey_windows(IDS, 40, 6, make_generator(0), depth=3)
    assert rows.shape == (6, 41) and keys.shape == (6, tasks.PASSKEY_DIGITS)
    for row, key in zip(rows, keys, strict=True):
        text, digits = _text(row), _text(key)
        assert digits.isdigit() and len(digits) == 4
        assert text[3:9] == f"${digits}$"  # the key at depth 3
        assert text.endswith(f"${digits}")  # the question and the answer at the end
        assert text.count("$") == 3  # the filler has none here


def test_passkey_windows_random_depths_stay_inside_and_vary():
    rows, keys = tasks.passkey_windows(IDS, 32, 200, make_generator(1))
    depths = {_text(r).index("$") for r in rows}
    assert min(depths) == 0 and max(depths) == 33 - 6 - 5 and len(depths) > 10
    again, _ = tasks.passkey_windows(IDS, 32, 200, make_generator(1))
    assert torch.equal(rows, again)  # the generator decides everything


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"length": 9}, "length must be at least 10"),
        ({"length": 32, "depth": 23}, r"depth must be an int in \[0, 22\]"),
        ({"length": 32, "depth": True}, "depth must be an int"),
        ({"length": 0}, "length must be a positive int"),
        ({"length": 32, "count": 0}, "count must be a positive int"),
    ],
)
def test_passkey_windows_refuse_bad_arguments(kwargs, match):
    kw = {"count": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        tasks.passkey_windows(IDS, kw.pop("length"), kw.pop("count"), make_generator(0), **kw)


def test_passkey_accuracy_scores_a_model_that_copies_perfectly_and_one_that_does_not():
    rows, keys = tasks.passkey_windows(IDS, 32, 8, make_generator(2))

    class Oracle(torch.nn.Module):
        def forward(self, x):  # logits that put the next true id first
            nxt = torch.cat([x[:, 1:], torch.zeros_like(x[:, :1])], dim=1)
            nxt[:, -1] = rows[: x.shape[0], -1]
            return torch.nn.functional.one_hot(nxt, tasks.VOCAB_SIZE).float()

    class Zero(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(*x.shape, tasks.VOCAB_SIZE)  # argmax 0: never a digit

    assert experiments.passkey_accuracy(Oracle(), rows, keys, batch_size=8) == (1.0, 1.0)
    assert experiments.passkey_accuracy(Zero(), rows, keys) == (0.0, 0.0)


def test_method_none_is_the_trained_model_and_zero_shot_methods_change_only_past_it():
    from posemb.lab.model import DecoderLM, ModelConfig

    torch.manual_seed(0)
    base = DecoderLM(ModelConfig(vocab_size=128, scheme="rope", max_len=32)).eval()
    x = IDS[:128][None]
    for method in ("none", "ntk", "dynamic", "yarn"):
        inside = experiments._with_rope(base, experiments._rope_for(method, 16, 32, 32, 4.0))
        assert torch.equal(inside(x[:, :32]), base(x[:, :32])), method
    for method in ("ntk", "dynamic", "yarn"):
        past = experiments._with_rope(base, experiments._rope_for(method, 16, 128, 32, 4.0))
        assert not torch.allclose(past(x), base(x)), method
    pi = experiments._rope_for("ft_pi", 16, 128, 32, 4.0)
    assert isinstance(pi, posemb.Rotary)
    freqs, _ = posemb.rope_frequencies(16, scaling={"rope_type": "linear", "factor": 4.0})
    plain, _ = posemb.rope_frequencies(16)
    assert torch.allclose(freqs, plain / 4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scheme": "alibi"}, "scheme must be 'rope'"),
        ({"method": "magic"}, "method must be one of"),
        ({"passkey_rate": 1.5}, r"passkey_rate must be in \[0, 1\]"),
        ({"finetune_factor": 1}, "finetune_factor must be an int >= 2"),
        ({"finetune_factor": 2.5}, "finetune_factor must be an int >= 2"),
    ],
)
def test_run_longcontext_refuses_bad_arguments(kwargs, match):
    kw = {"scheme": "rope", **kwargs}
    with pytest.raises(ValueError, match=match):
        experiments.run_longcontext(kw.pop("scheme"), 0, **kw)


def test_quick_longcontext_run_writes_a_valid_record(tmp_path):
    path = tmp_path / "lc.json"
    assert experiments.main(["longcontext", "--quick", "--no-progress", "--out", str(path)]) == 0
    record = json.loads(path.read_text())
    experiments.validate(record)
    assert record["tasks"] == list(experiments.LONGCONTEXT_METHODS)
    assert record["schemes"] == ["rope"]
    by = {r["task"]: r["metrics"] for r in record["results"]}
    # inside the training length the zero-shot methods are the unchanged model
    for m in ("ntk", "dynamic", "yarn"):
        assert by[m]["ppl@32"] == by["none"]["ppl@32"]
    # fine-tuning changes the weights, so every fine-tuned model differs at 1x
    assert len({by[m]["ppl@32"] for m in ("none", "ft_none", "ft_pi", "ft_yarn")}) == 4
    curves = {r["task"]: r.get("curve") for r in record["results"]}
    assert "ppl@32" in curves["none"] and all(curves[m] is None for m in ("ntk", "dynamic", "yarn"))
    assert all("passkey@128" in curves[m] for m in ("ft_none", "ft_pi", "ft_yarn"))
    for m in by.values():
        assert 0.0 <= m["passkey@128"] <= m["passkey_digits@128"] <= 1.0
        assert "ppl_far@128" in m and "ppl_far@32" not in m


def test_longcontext_refuses_other_schemes_from_the_command_line():
    with pytest.raises(ValueError, match="scheme must be 'rope'"):
        experiments.run_experiment("longcontext", quick=True, schemes=("alibi",), progress=False)


def test_committed_longcontext_run_is_the_full_one():
    record = experiments.load("longcontext")
    experiments.validate(record)
    assert not record["quick"] and len(record["seeds"]) >= 5
    assert record["tasks"] == list(experiments.LONGCONTEXT_METHODS)
    assert record["config"]["train_cfg"]["steps"] >= experiments.FULL_STEPS
    assert {(r["task"], r["seed"]) for r in record["results"]} == {
        (t, s) for t in record["tasks"] for s in record["seeds"]
    }
    by = {(r["task"], r["seed"]): r for r in record["results"]}
    for seed in record["seeds"]:  # one base model per seed, shared by the zero-shot methods
        base = by["none", seed]["metrics"]["ppl@32"]
        assert all(by[m, seed]["metrics"]["ppl@32"] == base for m in ("ntk", "dynamic", "yarn"))
        assert len(by["none", seed]["curve"]["steps"]) >= 10
