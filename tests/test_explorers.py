"""The site's interactive explorers (book/_static/explorers.js) compute what posemb computes.

The script is loaded into headless Chromium (Debian's, as in the browser check) on a blank
page and its functions are called there; the results are compared with posemb's. Without
Chromium the tests are skipped, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

import posemb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import browser_check as bc  # noqa: E402

SCRIPT = (ROOT / "book" / "_static" / "explorers.js").read_text()


@pytest.fixture(scope="module")
def page():
    chromium = bc.find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium in CI: the explorers cannot be checked")
        pytest.skip("no Chromium found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=bc.CHROMIUM_ARGS)
        p = browser.new_page()
        p.set_content("<!doctype html><html><body></body></html>")
        p.add_script_tag(content=SCRIPT)
        yield p
        browser.close()


def js(page, expression: str, *args):
    """Call ``window.posembExplorers.<expression>`` with JSON arguments."""
    call = f"(args) => window.posembExplorers.{expression}(...args)"
    return page.evaluate(call, json.loads(json.dumps(list(args))))


ROPE_CASES = [
    (64, 10000.0, None, None, None),
    (128, 500000.0, {"rope_type": "linear", "factor": 4.0}, None, None),
    (64, 10000.0, {"rope_type": "ntk", "factor": 8.0}, None, None),
    (128, 1000000.0, {"rope_type": "dynamic", "factor": 4.0}, 16384, 4096),
    (128, 1000000.0, {"rope_type": "dynamic", "factor": 4.0}, 2048, 4096),
    (
        64,
        10000.0,
        {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096},
        None,
        None,
    ),
    (
        32,
        100000.0,
        {
            "rope_type": "yarn",
            "factor": 4.0,
            "original_max_position_embeddings": 2048,
            "beta_fast": 16.0,
            "beta_slow": 2.0,
        },
        None,
        None,
    ),
    (
        128,
        500000.0,
        {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        None,
        None,
    ),
]


@pytest.mark.parametrize("dim, base, scaling, seq_len, max_positions", ROPE_CASES)
def test_rope_frequencies_match_posemb(page, dim, base, scaling, seq_len, max_positions):
    got = js(page, "ropeFrequencies", dim, base, scaling, seq_len, max_positions)
    inv, factor = posemb.rope_frequencies(
        dim, base, scaling, seq_len=seq_len, max_positions=max_positions
    )
    assert torch.allclose(
        torch.tensor(got["invFreq"], dtype=torch.float64), inv, rtol=1e-12, atol=0
    )
    assert got["attentionFactor"] == pytest.approx(factor, rel=1e-12)


def test_unknown_scaling_is_refused(page):
    with pytest.raises(Exception, match="unknown rope_type"):
        js(page, "ropeFrequencies", 64, 10000.0, {"rope_type": "nonsense", "factor": 2.0})


def test_critical_pair_and_relative_logit(page):
    dim, base, L = 128, 10000.0, 4096
    inv = posemb.inverse_frequencies(dim, base)
    expected = int(torch.nonzero(2 * torch.pi / inv > L)[0])
    assert js(page, "criticalPair", dim, base, L) == expected
    offsets = [0, 1, 10, 100, 1000]
    got = js(page, "relativeLogit", inv.tolist(), 1.25, offsets)
    want = [(1.25**2) * torch.cos(r * inv).mean().item() for r in offsets]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_alibi_slopes_match_posemb_exactly(page):
    for heads in range(1, 33):
        assert js(page, "alibiSlopes", heads) == posemb.alibi_slopes(heads).tolist()


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (16, 64), (8, 20)])
def test_t5_buckets_match_posemb_exactly(page, bidirectional, num_buckets, max_distance):
    rel = torch.arange(-1000, 1001)
    want = posemb.t5_bucket(rel, bidirectional, num_buckets, max_distance).tolist()
    got = page.evaluate(
        "([b, n, m]) => Array.from({length: 2001}, (_, k) =>"
        " window.posembExplorers.t5Bucket(k - 1000, b, n, m))",
        [bidirectional, num_buckets, max_distance],
    )
    mismatches = [(r, g, w) for r, g, w in zip(rel.tolist(), got, want, strict=True) if g != w]
    assert not mismatches, mismatches[:5]


def test_kerple_log_bias_matches_posemb(page):
    distance = torch.arange(0, 200, dtype=torch.float64)[None, :]  # [1, k]
    r1, r2 = torch.tensor([0.7], dtype=torch.float64), torch.tensor([2.5], dtype=torch.float64)
    want = posemb.kerple_bias(distance, r1, r2, "log")[0, 0].tolist()
    got = [js(page, "kerpleBias", d, 0.7, 2.5) for d in range(200)]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
