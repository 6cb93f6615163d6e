"""posemb.lab.tasks: the generated tasks say what they claim."""

import pytest
import torch

from posemb.lab import tasks


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_order_classification_labels_and_markers():
    v = tasks.ClassificationVocab()
    x, y = tasks.order_classification(500, 12, g(), v)
    assert x.shape == (500, 12) and y.shape == (500,)
    assert ((x == v.A).sum(1) == 1).all() and ((x == v.B).sum(1) == 1).all()
    pos_a, pos_b = (x == v.A).long().argmax(1), (x == v.B).long().argmax(1)
    assert torch.equal(y, (pos_a < pos_b).long())
    assert 0.4 < y.float().mean() < 0.6
    # the mirror image has the same tokens and the other label: order alone decides
    assert torch.equal(x.sort(1).values, x.flip(1).sort(1).values)


def test_order_classification_is_seeded():
    a, b = tasks.order_classification(8, 6, g(1)), tasks.order_classification(8, 6, g(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_order_classification_rejects_short_sequences():
    with pytest.raises(ValueError, match="length must be an int >= 2"):
        tasks.order_classification(4, 1, g())


def test_reversal():
    src, tgt_in, tgt = tasks.reversal(16, 7, g())
    assert torch.equal(tgt, src.flip(1))
    assert (tgt_in[:, 0] == 0).all() and torch.equal(tgt_in[:, 1:], tgt[:, :-1])
    assert (src >= 1).all()


def test_qa_position():
    v = tasks.QAVocab(num_content=32, max_len=12)
    x, y = tasks.qa_position(64, 9, g(), v)
    assert x.shape == (64, 11)
    assert (x[:, 9] == v.SEP).all()
    k = x[:, 10] - v.POS0
    assert torch.equal(x[torch.arange(64), k], y)


def test_qa_content():
    v = tasks.QAVocab(num_content=32, max_len=12)
    x, y = tasks.qa_content(64, 10, g(), v)
    ctx, q = x[:, :10], x[:, 11]
    for row in range(64):
        assert len(set(ctx[row].tolist())) == 10  # distinct: one answer
        k = ctx[row].tolist().index(q[row].item())
        assert ctx[row, k + 1] == y[row]


def test_qa_rejects_bad_lengths():
    with pytest.raises(ValueError, match=r"length must be an int in \[2, 16\]"):
        tasks.qa_position(2, 17, g())


def test_char_corpus_is_offline_and_described():
    text, info = tasks.char_corpus(50_000)
    assert len(text) == info["chars"] == 50_000
    assert info["files"] and len(info["sha256"]) == 64
    ids = tasks.encode_text(text)
    assert ids.shape == (50_000,) and int(ids.max()) < tasks.VOCAB_SIZE


def test_lm_windows_are_non_overlapping():
    ids = torch.arange(101)
    w = tasks.lm_windows(ids, 10)
    assert w.shape == (10, 11)
    assert torch.equal(w[:, 1:].reshape(-1), torch.arange(1, 101))  # each target once
    assert tasks.lm_windows(ids, 10, num_tokens=40).shape == (4, 11)
