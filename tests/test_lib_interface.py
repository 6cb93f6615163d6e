"""The scheme interface: declared kinds, the registry, misuse that must fail loudly,
serving shapes (per-sequence positions, a KV cache, grouped-query attention) and
torch.compile without graph breaks.

Each misuse case found by the library review has its own test below; each either raises
an error naming the argument or is shown to give the right answer.
"""

import importlib
import inspect
import math
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

import posemb
from posemb import (
    ALiBi,
    CoPE,
    KVCache,
    MultiHeadAttention,
    PositionScheme,
    Rotary,
    RotaryEmbedding,
    ShawRelativeKeys,
    T5RelativeBias,
    XPos,
    apply_rope,
    apply_rope_reference,
    rope_cos_sin,
)

DIM, HEADS, HEAD_DIM = 32, 4, 8
ATTENTION_NAMES = [
    n for n in posemb.SCHEME_NAMES if n not in ("sinusoidal", "learned")
]  # the kinds attention takes


def build(name, causal=True, **options):
    torch.manual_seed(0)
    scheme = posemb.scheme(
        name, num_heads=HEADS, head_dim=HEAD_DIM, causal=causal, max_positions=64, **options
    )
    with torch.no_grad():  # give zero-initialised tables something to say
        for p in scheme.parameters():
            if not p.abs().sum():
                p.normal_()
    return scheme


# ----------------------------------------------------------------------------- interface


@pytest.mark.parametrize(
    "bad",
    ["rope", lambda q, k, qp, kp: None, nn.Linear(4, 4), object()],
    ids=["string", "lambda", "linear", "object"],
)
def test_attention_refuses_what_is_not_a_scheme(bad):
    with pytest.raises(TypeError, match=r"posemb.PositionScheme of kind .*posemb.scheme\("):
        MultiHeadAttention(DIM, HEADS, scheme=bad)


def test_string_error_says_how_to_build_it():
    with pytest.raises(TypeError, match=r"posemb.scheme\('rope', ...\)"):
        MultiHeadAttention(DIM, HEADS, scheme="rope")


def test_a_kind_without_its_entry_point_fails_at_class_definition():
    with pytest.raises(TypeError, match="declares kind 'bias' and must define position_bias"):

        class NoEntry(PositionScheme):
            kind = "bias"

            def bias(self, q, k, qp, kp):  # the old hook name is not the entry point
                return None

    with pytest.raises(TypeError, match="kind must be one of"):

        class Misspelt(PositionScheme):
            kind = "biases"


def test_entry_point_names_do_not_collide_with_torch():
    for name in importlib.import_module("posemb.attention").ENTRY_POINTS.values():
        assert not hasattr(nn.Linear(2, 2), name) and not hasattr(nn.Module(), name)
    # MultiHeadAttention's own bias=True argument is unrelated to any scheme
    assert MultiHeadAttention(DIM, HEADS, bias=False).scheme is None


def test_every_scheme_declares_its_kind_and_forward_is_its_entry_point():
    q = torch.randn(2, HEADS, 5, HEAD_DIM)
    pos = torch.arange(5)
    for name in posemb.SCHEME_NAMES:
        s = build(name)
        assert s.kind in posemb.SCHEME_KINDS
        if s.kind == "embed":
            torch.testing.assert_close(s(pos), s.embed_positions(pos), atol=0, rtol=0)
        elif s.kind == "rotate":
            for a, b in zip(s(q, q, pos, pos), s.rotate_qk(q, q, pos, pos), strict=True):
                torch.testing.assert_close(a, b, atol=0, rtol=0)
        elif s.kind == "bias":
            torch.testing.assert_close(s(pos, pos), s.position_bias(pos, pos), atol=0, rtol=0)
        elif s.kind == "content_bias":
            torch.testing.assert_close(
                s(q, q, pos, pos), s.content_bias(q, q, pos, pos), atol=0, rtol=0
            )
        else:
            assert s(q, q, pos, pos) == (q, q)  # NoPE leaves q and k alone


def test_registry_builds_every_name_and_refuses_bad_ones():
    kinds = {n: build(n).kind for n in posemb.SCHEME_NAMES}
    assert kinds == {
        "nope": "none", "sinusoidal": "embed", "learned": "embed", "rope": "rotate",
        "xpos": "rotate", "t5": "bias", "shaw": "content_bias", "alibi": "bias",
        "kerple": "bias", "fire": "bias", "cope": "content_bias",
    }  # fmt: skip
    assert build("t5", causal=False).bidirectional and not build("t5").bidirectional
    assert posemb.scheme("rope", num_heads=2, head_dim=8, base=500.0).rope.base == 500.0
    with pytest.raises(ValueError, match="name must be one of"):
        posemb.scheme("RoPE", num_heads=2, head_dim=8)
    with pytest.raises(ValueError, match="max_positions"):
        posemb.scheme("learned", num_heads=2, head_dim=8)
    with pytest.raises(ValueError, match="causal=True"):
        posemb.scheme("cope", num_heads=2, head_dim=8)
    with pytest.raises(TypeError, match="causal"):
        posemb.scheme("rope", num_heads=2, head_dim=8, causal=1)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \[.slopes.\]"):
        posemb.scheme("alibi", num_heads=2, head_dim=8, slopes=None)


# Methods a user calls directly; each must be among the methods checked below.
USER_METHODS = {
    "forward", "cos_sin", "rotate_qk", "position_bias", "embed_positions", "content_bias",
    "claim", "append", "reset", "next_positions",
}  # fmt: skip


def documented_arguments(doc):
    """Names in the ``Args:`` sections of a Google-style docstring (as napoleon reads them)."""
    names = set()
    lines = inspect.cleandoc(doc or "").splitlines()
    for i, line in enumerate(lines):
        header = re.fullmatch(r"(\s*)(?:Args|Arguments|Parameters):\s*", line)
        if not header:
            continue
        indent, body = len(header.group(1)), []
        for entry in lines[i + 1 :]:
            if entry.strip() and len(entry) - len(entry.lstrip()) <= indent:
                break  # the section ends where the indentation returns to its header's
            body.append(entry)
        body = [b for b in body if b.strip()]
        field = min((len(b) - len(b.lstrip()) for b in body), default=0)
        for b in body:
            name = re.match(r"\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:", b.strip())
            if name and len(b) - len(b.lstrip()) == field:
                names.add(name.group(1))
    return names


def public_callables():
    """``(name, signature, docstring)`` for every function and class in ``posemb.__all__``
    (a class's docstring documents ``__init__``) and every public method of those classes."""
    for name in posemb.__all__:
        obj = getattr(posemb, name)
        if inspect.isfunction(obj):
            yield name, inspect.signature(obj), obj.__doc__
        elif inspect.isclass(obj):
            yield name, inspect.signature(obj), obj.__doc__  # __init__ without self
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and inspect.isfunction(member):
                    sig = inspect.signature(member)
                    params = list(sig.parameters.values())[1:]  # without self
                    yield f"{name}.{attr}", sig.replace(parameters=params), member.__doc__


def test_every_public_callable_documents_its_arguments():
    """Issue 23: every parameter (but self, *args, **kwargs) is named in an ``Args:`` section."""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    undocumented, methods = {}, set()
    for name, sig, doc in public_callables():
        methods.add(name.rpartition(".")[2])
        params = [p.name for p in sig.parameters.values() if p.kind not in variadic]
        missing = [p for p in params if p not in documented_arguments(doc)]
        if missing:
            undocumented[name] = missing
    assert USER_METHODS <= methods, USER_METHODS - methods
    assert not undocumented, f"parameters missing from Args: sections: {undocumented}"
    # the parser finds a section that is there, and not one that is not
    assert documented_arguments(posemb.rope_frequencies.__doc__) >= {"dim", "base", "scaling"}
    assert not documented_arguments("Summary.\n\n    Returns:\n        x: a tensor.\n")


def test_attention_checks_heads_and_head_dim_at_construction():
    with pytest.raises(ValueError, match="num_heads=3, but this attention has num_heads=4"):
        MultiHeadAttention(DIM, HEADS, scheme=ALiBi(3))
    with pytest.raises(ValueError, match="head_dim=4, but this attention has head_dim=8"):
        MultiHeadAttention(DIM, HEADS, scheme=XPos(4))  # XPos(4) used to run on d = 8
    with pytest.raises(ValueError, match="head_dim=16"):
        MultiHeadAttention(DIM, HEADS, scheme=ShawRelativeKeys(16))
    with pytest.raises(ValueError, match="head_dim=16"):
        MultiHeadAttention(DIM, HEADS, scheme=Rotary(16))


def test_cope_refuses_non_causal_attention():
    with pytest.raises(ValueError, match="only defined for causal attention"):
        MultiHeadAttention(DIM, HEADS, scheme=CoPE(HEAD_DIM), causal=False)


def test_bad_scheme_parameters():
    with pytest.raises(ValueError, match="init_std"):
        ShawRelativeKeys(HEAD_DIM, init_std=-1.0)
    with pytest.raises(ValueError, match="r2 must be > 0"):
        posemb.kerple_bias(torch.ones(3, 3), torch.ones(2), -torch.ones(2))
    with pytest.raises(ValueError, match="r1 must be > 0"):
        posemb.kerple_bias(torch.ones(3, 3), torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError, match="threshold must be > 0"):
        posemb.fire_distance(torch.arange(3), torch.arange(3), 1.0, -5.0)
    with pytest.raises(TypeError, match="center"):
        XPos(HEAD_DIM, center=0.5)


# ----------------------------------------------------------------------------- apply_rope


def test_apply_rope_refuses_integer_x():
    cos, sin = rope_cos_sin(torch.arange(4), 8)
    with pytest.raises(TypeError, match="x must be a real floating tensor"):
        apply_rope(torch.ones(1, 1, 4, 8, dtype=torch.int64), cos, sin)


def test_apply_rope_refuses_complex_cos_sin():
    cos, sin = rope_cos_sin(torch.arange(4), 8)
    with pytest.raises(TypeError, match="cos must be a real floating tensor"):
        apply_rope(torch.randn(1, 1, 4, 8), cos.to(torch.complex64), sin.to(torch.complex64))


def test_apply_rope_refuses_one_position_for_many():
    cos, sin = rope_cos_sin(torch.tensor(3), 8)  # [8]: one position
    with pytest.raises(ValueError, match=r"\[n, r\] = \[4, r\]"):
        apply_rope(torch.randn(1, 1, 4, 8), cos, sin)


def test_apply_rope_refuses_ambiguous_per_batch_cos():
    x = torch.randn(2, 2, 4, 8)  # b == h: a [b, n, r] cos would have been applied per head
    cos, sin = rope_cos_sin(torch.arange(8).view(2, 4), 8)  # [2, 4, 8]
    with pytest.raises(ValueError, match=r"cos\[:, None\] of shape \[b, 1, 4, 8\]"):
        apply_rope(x, cos, sin)
    out = apply_rope(x, cos[:, None], sin[:, None])  # the explicit form is per sequence
    for b in range(2):
        torch.testing.assert_close(out[b], apply_rope(x[b], cos[b], sin[b]), atol=0, rtol=0)


def test_interleaved_view_with_odd_storage_offset():
    big = torch.randn(64, 32, 130)
    x = big[..., 1:129].unflatten(0, (2, 32))  # [2, 32, 32, 128], storage offset 1
    cos, sin = rope_cos_sin(torch.arange(32), 128, layout="interleaved")
    want = apply_rope_reference(x.contiguous(), cos, sin, "interleaved")
    torch.testing.assert_close(apply_rope(x, cos, sin, "interleaved"), want)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_result_does_not_depend_on_batch_size_or_grad_mode(dtype):
    torch.manual_seed(0)
    x = torch.randn(64, 8, 64, 32).to(dtype)  # large enough for the fast path as a batch
    cos, sin = rope_cos_sin(torch.arange(64), 32, dtype=dtype)
    whole = apply_rope(x, cos, sin)
    one = apply_rope(x[:1], cos, sin)
    with_grad = apply_rope(x[:1].clone().requires_grad_(True), cos, sin).detach()
    assert torch.equal(whole[:1], one) and torch.equal(one, with_grad)
    # float32 arithmetic, one rounding: the same numbers as rotating a float32 copy
    want = apply_rope_reference(x[:1].float(), cos.float(), sin.float()).to(dtype)
    assert torch.equal(one, want)


def test_float32_result_does_not_depend_on_batch_size_or_grad_mode():
    torch.manual_seed(0)
    x = torch.randn(64, 8, 64, 32)
    for layout in ("half", "interleaved"):
        cos, sin = rope_cos_sin(torch.arange(64), 32, layout=layout)
        whole = apply_rope(x, cos, sin, layout)
        one = apply_rope(x[:1], cos, sin, layout)
        with_grad = apply_rope(x[:1].clone().requires_grad_(True), cos, sin, layout).detach()
        assert torch.equal(whole[:1], one) and torch.equal(one, with_grad), layout


# ----------------------------------------------------------------------------- positions


def test_nan_positions_are_refused_everywhere():
    nan = torch.tensor([0.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match="positions must be finite"):
        rope_cos_sin(nan, 8)
    with pytest.raises(ValueError, match="positions must be finite"):
        posemb.sinusoidal_embedding(nan, 8)
    with pytest.raises(ValueError, match="positions must be finite"):
        ALiBi(2).position_bias(nan, nan)
    with pytest.raises(ValueError, match="positions must be finite"):
        MultiHeadAttention(DIM, HEADS, scheme=build("rope"))(torch.randn(1, 3, DIM), positions=nan)
    with pytest.raises(ValueError, match="positions must be finite"):
        posemb.fire_distance(nan, nan, 1.0, 4.0)


def test_integer_dtypes_for_tables_are_refused():
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        posemb.sinusoidal_table(4, 8, dtype=torch.int64)  # used to return 0s and 1s
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        rope_cos_sin(torch.arange(4), 8, dtype=torch.int32)
    with pytest.raises(TypeError, match="dtype must be a floating torch dtype"):
        RotaryEmbedding(8).cos_sin(torch.arange(4), torch.int64)


@pytest.mark.parametrize("name", ["alibi", "t5", "kerple", "fire"])
def test_position_biases_take_per_sequence_positions(name):
    scheme = build(name)
    qp = torch.tensor([[0, 1, 2], [5, 6, 7]])
    kp = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    bias = scheme(qp, kp)
    assert bias.shape == (2, HEADS, 3, 4)
    for b in range(2):
        torch.testing.assert_close(bias[b], scheme(qp[b], kp[b]), atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"q_positions must have shape \[n\]"):
        scheme(qp[None], kp)


def test_attention_with_per_sequence_positions_equals_one_row_at_a_time():
    x = torch.randn(3, 6, DIM)
    positions = torch.tensor([[0, 1, 2, 3, 4, 5], [10, 11, 12, 13, 14, 15], [3, 4, 5, 6, 7, 8]])
    for name in ATTENTION_NAMES:
        mha = MultiHeadAttention(DIM, HEADS, scheme=build(name), causal=True)
        with torch.no_grad():
            together = mha(x, positions=positions)
            for b in range(3):
                alone = mha(x[b : b + 1], positions=positions[b])
                torch.testing.assert_close(together[b : b + 1], alone, atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- serving


@pytest.mark.parametrize("num_kv_heads", [4, 2, 1])
@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_decoding_with_a_cache_matches_full_recompute(name, num_kv_heads):
    """Prefill 5 tokens, then decode 4 one at a time: every output equals the full pass."""
    torch.manual_seed(1)
    mha = MultiHeadAttention(
        DIM, HEADS, scheme=build(name), causal=True, num_kv_heads=num_kv_heads
    ).eval()
    x = torch.randn(2, 9, DIM)
    with torch.no_grad():
        full = mha(x)
        cache = KVCache()
        steps = [mha(x[:, :5], cache=cache)]
        steps += [mha(x[:, t : t + 1], cache=cache) for t in range(5, 9)]
    assert cache.length == 9 and cache.k.shape == (2, num_kv_heads, 9, HEAD_DIM)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_grouped_query_attention_equals_repeated_key_value_heads():
    torch.manual_seed(0)
    gqa = MultiHeadAttention(DIM, HEADS, scheme=build("rope"), causal=True, num_kv_heads=2)
    full = MultiHeadAttention(DIM, HEADS, scheme=build("rope"), causal=True)
    d = HEAD_DIM
    wq, wk, wv = gqa.qkv.weight.split((DIM, 2 * d, 2 * d))
    bq, bk, bv = gqa.qkv.bias.split((DIM, 2 * d, 2 * d))

    def repeat(t):  # each key/value head serves two consecutive query heads
        return t.unflatten(0, (2, d)).repeat_interleave(2, dim=0).flatten(0, 1)

    with torch.no_grad():
        full.qkv.weight.copy_(torch.cat((wq, repeat(wk), repeat(wv))))
        full.qkv.bias.copy_(torch.cat((bq, repeat(bk), repeat(bv))))
        full.out.load_state_dict(gqa.out.state_dict())
        x = torch.randn(2, 7, DIM)
        torch.testing.assert_close(gqa(x), full(x), atol=1e-6, rtol=1e-5)
    assert gqa.qkv.weight.shape == (DIM + 4 * d, DIM)
    with pytest.raises(ValueError, match="num_kv_heads must divide num_heads=4"):
        MultiHeadAttention(DIM, HEADS, num_kv_heads=3)


def test_xpos_centre_is_fixed_and_far_positions_fail_loudly():
    xpos = XPos(HEAD_DIM, scale_base=512.0, center=1000)
    q = torch.randn(1, 1, 1, HEAD_DIM, dtype=torch.float64)
    pos = torch.tensor([1500])
    a = xpos(q, q, pos, pos)
    b = xpos(q, q, pos, pos)  # the same call again, after other calls: the same scales
    assert torch.equal(a[0], b[0])
    with pytest.raises(ValueError, match="too far from center=0"):
        XPos(HEAD_DIM)(q.float(), q.float(), torch.tensor([60000]), torch.tensor([60000]))
    far = torch.tensor([60000])
    qx, kx = XPos(HEAD_DIM, center=60000)(q.float(), q.float(), far, far)  # re-centred: fine
    assert torch.isfinite(qx).all() and torch.isfinite(kx).all()


# ----------------------------------------------------------------------------- compile


def graph_breaks(module, *args):
    torch._dynamo.reset()
    return torch._dynamo.explain(module)(*args).graph_break_count


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_attention_compiles_without_graph_breaks(name):
    mha = MultiHeadAttention(DIM, HEADS, scheme=build(name), causal=True)
    assert graph_breaks(mha, torch.randn(2, 7, DIM)) == 0


def test_models_compile_without_graph_breaks():
    from posemb.lab.model import SCHEMES, DecoderLM, Encoder, EncoderDecoder, ModelConfig

    tokens = torch.randint(0, 16, (2, 9))
    for name in SCHEMES:
        cfg = ModelConfig(vocab_size=16, scheme=name, max_len=32)
        assert graph_breaks(DecoderLM(cfg), tokens) == 0, name
        assert graph_breaks(Encoder(cfg), tokens) == 0, name
        assert graph_breaks(EncoderDecoder(cfg), tokens, tokens) == 0, name


def test_compiled_attention_equals_eager():
    mha = MultiHeadAttention(DIM, HEADS, scheme=build("rope"), causal=True).eval()
    x = torch.randn(2, 7, DIM)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(mha)(x), mha(x), atol=1e-5, rtol=1e-5)


def test_rotary_runs_on_the_meta_device_and_moves_with_to():
    rope = Rotary(HEAD_DIM).to("meta")
    assert rope.rope.inv_freq.device.type == "meta"
    q = torch.empty(2, HEADS, 5, HEAD_DIM, device="meta")
    out, _ = rope(q, q, torch.arange(5, device="meta"), torch.arange(5, device="meta"))
    assert out.shape == q.shape and out.device.type == "meta"


# ----------------------------------------------------------------------------- layout


def test_import_posemb_loads_only_the_schemes_and_changes_no_global_state():
    code = (
        "import sys, torch\n"
        "before = (torch.are_deterministic_algorithms_enabled(), torch.get_default_dtype(),"
        " torch.get_num_threads(), torch.initial_seed())\n"
        "import posemb\n"
        "after = (torch.are_deterministic_algorithms_enabled(), torch.get_default_dtype(),"
        " torch.get_num_threads(), torch.initial_seed())\n"
        "assert before == after, (before, after)\n"
        "lab = sorted(m for m in sys.modules if m.startswith('posemb.lab'))\n"
        "assert not lab, lab\n"
        "assert 'jsonschema' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


def test_library_calls_leave_global_state_alone():
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    for name in posemb.SCHEME_NAMES:
        build(name)
    mha = MultiHeadAttention(DIM, HEADS, scheme=build("fire"), causal=True)
    mha(torch.randn(1, 4, DIM))
    assert (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) == before
    assert math.isfinite(float(mha(torch.randn(1, 4, DIM)).sum()))


# ----------------------------------------------------------------------------- review fixes


@pytest.mark.parametrize("cast", ["half", "bfloat16", "float", "double"])
def test_casting_a_module_keeps_float64_frequencies(cast):
    """model.half() casts every floating buffer; RoPE's frequencies are recomputed instead."""
    ref = Rotary(16)
    rope = getattr(Rotary(16), cast)()
    assert rope.rope.inv_freq.dtype == torch.float64
    assert torch.equal(rope.rope.inv_freq, ref.rope.inv_freq)
    q = torch.randn(1, 1, 1, 16)
    pos = torch.tensor([4000])
    a = rope(q.double(), q.double(), pos, pos)[0]
    b = ref(q.double(), q.double(), pos, pos)[0]
    assert torch.equal(a, b)


def test_to_empty_then_load_gives_valid_frequencies():
    src = MultiHeadAttention(DIM, HEADS, scheme=Rotary(HEAD_DIM), causal=True)
    with torch.device("meta"):
        dst = MultiHeadAttention(DIM, HEADS, scheme=Rotary(HEAD_DIM), causal=True)
    dst.to_empty(device="cpu").load_state_dict(src.state_dict())
    assert torch.equal(dst.scheme.rope.inv_freq, src.scheme.rope.inv_freq)
    x = torch.randn(1, 5, DIM)
    torch.testing.assert_close(dst(x), src(x), atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32])
def test_narrow_integer_positions_do_not_wrap(dtype):
    pos = torch.tensor([0, 1, 2])
    want = ALiBi(4)(pos, pos)
    torch.testing.assert_close(ALiBi(4)(pos.to(dtype), pos.to(dtype)), want, atol=0, rtol=0)


def test_registry_passes_max_positions_to_rope_and_names_options():
    s = posemb.scheme(
        "rope", num_heads=4, head_dim=8, max_positions=64,
        scaling={"rope_type": "dynamic", "factor": 2.0},
    )  # fmt: skip
    assert s.rope.max_positions == 64 and not s.cache_safe
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['bsae'\].*'base'"):
        posemb.scheme("rope", num_heads=4, head_dim=8, bsae=500.0)


def test_a_cache_belongs_to_one_layer():
    a = MultiHeadAttention(DIM, HEADS, scheme=build("rope"), causal=True)
    b = MultiHeadAttention(DIM, HEADS, scheme=build("rope"), causal=True)
    cache = KVCache()
    a(torch.randn(1, 3, DIM), cache=cache)
    with pytest.raises(ValueError, match="give every layer its own"):
        b(torch.randn(1, 3, DIM), cache=cache)


def test_default_decode_positions_continue_each_sequence():
    mha = MultiHeadAttention(DIM, HEADS, scheme=build("rope"), causal=True).eval()
    x = torch.randn(2, 5, DIM)
    positions = torch.tensor([[0, 1, 2, 3, 4], [10, 11, 12, 13, 14]])
    with torch.no_grad():
        full = mha(x, positions=positions)
        cache = KVCache()
        mha(x[:, :4], positions=positions[:, :4], cache=cache)
        step = mha(x[:, 4:], cache=cache)  # no positions: 4 and 14
    assert cache.positions[:, -1].tolist() == [4, 14]
    torch.testing.assert_close(step, full[:, 4:], atol=1e-6, rtol=1e-5)


def test_length_dependent_rope_refuses_a_cache_unless_the_length_is_fixed():
    dynamic = {"rope_type": "dynamic", "factor": 2.0}
    mha = MultiHeadAttention(
        DIM, HEADS, scheme=Rotary(HEAD_DIM, scaling=dynamic, max_positions=4), causal=True
    )
    with pytest.raises(ValueError, match="fix seq_len"):
        mha(torch.randn(1, 3, DIM), cache=KVCache())
    fixed = MultiHeadAttention(
        DIM, HEADS, scheme=Rotary(HEAD_DIM, scaling=dynamic, max_positions=4, seq_len=16),
        causal=True,
    ).eval()  # fmt: skip
    x = torch.randn(1, 10, DIM)
    with torch.no_grad():
        cache = KVCache()
        steps = torch.cat([fixed(x[:, i : i + 1], cache=cache) for i in range(10)], dim=1)
        torch.testing.assert_close(steps, fixed(x), atol=1e-5, rtol=1e-5)


def test_attention_refuses_boolean_bias_and_non_bool_flags():
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(TypeError, match="bias must be a floating tensor"):
        posemb.attention(q, q, q, bias=torch.ones(2, 3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="causal must be True or False"):
        posemb.attention(q, q, q, causal="no")
    with pytest.raises(TypeError, match="need_weights must be True or False"):
        MultiHeadAttention(DIM, HEADS)(torch.randn(1, 3, DIM), need_weights="yes")
    with pytest.raises(TypeError, match="bidirectional must be True or False"):
        T5RelativeBias(4, bidirectional="no")
    with pytest.raises(TypeError, match="bidirectional must be True or False"):
        posemb.t5_bucket(torch.arange(3), bidirectional="False")


def test_attention_checks_what_a_custom_rotation_returns():
    class Truncating(PositionScheme):
        kind = "rotate"

        def rotate_qk(self, q, k, q_positions, k_positions):
            return q[..., :4], k[..., :4]

    with pytest.raises(ValueError, match="must return q and k of the shapes it was given"):
        MultiHeadAttention(DIM, HEADS, scheme=Truncating())(torch.randn(1, 3, DIM))


def test_a_nope_subclass_with_another_kind_uses_its_entry_point():
    class Shift(posemb.NoPE):
        kind = "rotate"

        def rotate_qk(self, q, k, q_positions, k_positions):
            return q + 1, k

    q = torch.zeros(1, 1, 2, 4)
    assert torch.equal(Shift()(q, q, torch.arange(2), torch.arange(2))[0], q + 1)


def test_meta_device_shape_tracing_for_xpos_and_learned_tables():
    with torch.device("meta"):
        mha = MultiHeadAttention(DIM, HEADS, scheme=XPos(HEAD_DIM), causal=True)
        out = mha(torch.empty(2, 5, DIM))
        table = posemb.LearnedPositionalEmbedding(8, DIM)(torch.arange(5))
    assert out.shape == (2, 5, DIM) and table.shape == (5, DIM)


def test_offset_and_positions_together_are_refused():
    q = torch.randn(1, 1, 3, 8)
    with pytest.raises(ValueError, match="either offset or positions"):
        RotaryEmbedding(8)(q, q, offset=5, positions=torch.arange(3))
    with pytest.raises(ValueError, match="head_dim must be even"):
        Rotary(7)


def test_shaw_index_takes_per_sequence_positions():
    shaw = ShawRelativeKeys(HEAD_DIM, max_distance=2)
    qp = torch.tensor([[0, 1, 2], [5, 6, 7]])
    idx = shaw.index(qp, qp)
    assert idx.shape == (2, 3, 3) and torch.equal(idx[1], shaw.index(qp[1], qp[1]))


def test_moving_a_module_keeps_edited_frequencies():
    """Chapters edit inv_freq in place to try other frequencies; .to() must not undo it."""
    rope = Rotary(16)
    with torch.no_grad():
        rope.rope.inv_freq.mul_(0.5)
    edited = rope.rope.inv_freq.clone()
    rope.to("cpu").float().eval()
    assert torch.equal(rope.rope.inv_freq, edited)


def test_apply_rope_backends_agree():
    from posemb import _rope_kernels

    x = torch.randn(2, 4, 64, 32)  # above the blocked kernel's threshold
    for layout in ("half", "interleaved"):
        cos, sin = rope_cos_sin(torch.arange(64), 32, layout=layout)
        eager = apply_rope(x, cos, sin, layout)
        assert torch.equal(eager, apply_rope_reference(x, cos, sin, layout))
        if _rope_kernels.compiled_available():
            fused = apply_rope(x, cos, sin, layout, backend="compiled")
            torch.testing.assert_close(fused, eager, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="backend must be one of"):
        apply_rope(x, cos, sin, backend="fast")
    with pytest.raises(ValueError, match="backend must be one of"):
        Rotary(16, backend="cuda")
