"""posemb.lab.model: every scheme in every model shape; causality; determinism; invariances."""

import pytest
import torch

from posemb.lab.model import (
    SCHEMES,
    DecoderLM,
    Encoder,
    EncoderDecoder,
    ModelConfig,
    count_parameters,
    make_scheme,
)
from posemb.lab.training import TrainConfig, seed_everything, train

V = 20


@pytest.fixture(autouse=True)
def _restore_determinism():
    """seed_everything turns deterministic algorithms on globally; undo it after each test."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def cfg(scheme, **kw):
    return ModelConfig(
        vocab_size=V, dim=32, num_heads=4, num_layers=2, scheme=scheme, max_len=16, **kw
    )


@pytest.mark.parametrize("scheme", SCHEMES)
def test_shapes(scheme):
    torch.manual_seed(0)
    x = torch.randint(0, V, (3, 10))
    assert Encoder(cfg(scheme))(x).shape == (3, 10, V)
    assert Encoder(cfg(scheme, num_classes=5), pool="last")(x).shape == (3, 5)
    assert DecoderLM(cfg(scheme))(x).shape == (3, 10, V)
    assert EncoderDecoder(cfg(scheme))(x, x[:, :7]).shape == (3, 7, V)
    assert DecoderLM(cfg(scheme)).loss(x).ndim == 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_decoder_is_causal(scheme):
    """Changing token t never changes an output at a position before t."""
    torch.manual_seed(0)
    model = DecoderLM(cfg(scheme)).eval()
    x = torch.randint(0, V, (2, 12))
    t = 7
    y = x.clone()
    y[:, t:] = (y[:, t:] + 1) % V
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :t], b[:, :t], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, t:], b[:, t:])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_encoder_decoder_decoder_is_causal(scheme):
    torch.manual_seed(0)
    model = EncoderDecoder(cfg(scheme)).eval()
    src = torch.randint(0, V, (2, 9))
    tgt = torch.randint(0, V, (2, 9))
    tgt2 = tgt.clone()
    tgt2[:, 5] = (tgt2[:, 5] + 3) % V
    with torch.no_grad():
        a, b = model(src, tgt), model(src, tgt2)
    torch.testing.assert_close(a[:, :5], b[:, :5], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, 5:], b[:, 5:])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_training_is_deterministic_under_a_seed(scheme):
    def run():
        seed_everything(3)
        model = DecoderLM(cfg(scheme))
        g = torch.Generator().manual_seed(5)
        hist = train(
            model,
            lambda step: (torch.randint(0, V, (4, 13), generator=g),),
            lambda m, batch: m.loss(batch[0]),
            TrainConfig(steps=4, warmup=2),
            progress=False,
            log_every=2,
        )
        return hist["loss"], [p.detach().clone() for p in model.parameters()]

    (l1, p1), (l2, p2) = run(), run()
    assert l1 == l2
    for a, b in zip(p1, p2, strict=True):
        assert torch.equal(a, b)


def test_nope_encoder_mean_pool_ignores_order():
    torch.manual_seed(0)
    model = Encoder(cfg("nope", num_classes=2)).eval()
    x = torch.randint(0, V, (4, 10))
    perm = torch.randperm(10)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x[:, perm]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheme", ["alibi", "kerple", "fire"])
def test_symmetric_bias_encoder_mean_pool_ignores_reversal(scheme):
    """A bias that depends on |i - j| only cannot tell a sequence from its mirror image."""
    torch.manual_seed(0)
    model = Encoder(cfg(scheme, num_classes=2)).eval()
    x = torch.randint(0, V, (4, 10))
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x.flip(1)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheme", ["sinusoidal", "learned", "rope", "t5"])
def test_directional_schemes_see_reversal(scheme):
    torch.manual_seed(0)
    model = Encoder(cfg(scheme, num_classes=2)).eval()
    if scheme == "t5":  # a fresh T5 table may be symmetric by chance; make it directional
        with torch.no_grad():
            model.stack.scheme.table.weight.normal_()
    x = torch.randint(0, V, (4, 10))
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(1)), atol=1e-4)


def test_learned_table_refuses_positions_past_its_end():
    model = DecoderLM(cfg("learned"))
    with pytest.raises(IndexError, match="num_positions=16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_shared_scheme_counted_once():
    model = Encoder(cfg("t5"))
    table = model.stack.scheme.table.weight
    assert sum(p is table for p in model.parameters()) == 1
    assert all(b.attn.scheme is model.stack.scheme for b in model.stack.blocks)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


def test_encoder_decoder_has_two_scheme_copies_t5_directions():
    model = EncoderDecoder(cfg("t5"))
    assert model.encoder.scheme.bidirectional and not model.decoder.scheme.bidirectional


def test_make_scheme_rejects_unknown_names():
    with pytest.raises(ValueError, match="scheme must be one of"):
        make_scheme("xpos2", dim=32, num_heads=4, max_len=8, causal=True)
    assert make_scheme("nope", dim=32, num_heads=4, max_len=8, causal=True) is None


def test_scheme_object_accepted():
    from posemb import ALiBi

    model = DecoderLM(cfg("nope"), scheme=ALiBi(4))
    assert isinstance(model.stack.scheme, ALiBi)
    assert model(torch.zeros(1, 5, dtype=torch.long)).shape == (1, 5, V)


def test_greedy_generate_shape():
    torch.manual_seed(0)
    model = EncoderDecoder(cfg("rope"))
    out = model.generate(torch.randint(1, V, (3, 6)), bos=0, length=6)
    assert out.shape == (3, 6) and out.dtype == torch.long
