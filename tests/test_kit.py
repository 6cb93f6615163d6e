"""scripts/make_kit.py: the instructor's kit (answer key, problem sets, slides) is built from
what the syllabus and the chapters say, and builds nothing that needs the network."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


make_kit = load_script("make_kit")


def test_every_session_sets_exercises_that_exist_and_names_its_demonstration():
    where = make_kit.exercise_docs()
    plan = make_kit.sessions()
    assert [s.number for s in plan] == list(range(1, len(plan) + 1)) and len(plan) >= 6
    for s in plan:
        assert s.reading and s.exercises and s.demos, s
        assert all(label in where for label in s.exercises), s
        assert all((ROOT / f"{doc}.ipynb").exists() for doc in s.reading), s


def test_session_slides_hold_a_title_a_demonstration_and_the_figures_with_alt_text():
    for s in make_kit.sessions():
        nb = make_kit.session_notebook(s)
        slides = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type")]
        assert slides[0].source.startswith(f"# Session {s.number}")
        demos = [c for c in nb.cells if c.cell_type == "code"]
        assert len(demos) == len(s.demos) and all(c.outputs for c in demos), s.number
        figures = [c for c in nb.cells if c.cell_type == "markdown" and "<img" in c.source]
        assert figures, s.number
        for c in figures:
            alt = re.search(r'alt="([^"]*)"', c.source).group(1)
            assert len(alt) > 20 and not alt.endswith(".png"), alt


def test_slides_load_nothing_from_another_host(tmp_path):
    out = tmp_path / "s.html"
    make_kit.write_slides(make_kit.sessions()[0], out)
    text = out.read_text(encoding="utf-8")
    assert 'src="reveal.js/dist/reveal.js"' in text
    assert "../_static/mathjax/tex-chtml.js" in text
    remote = re.findall(r"""(?:src|href)=["'](https?:)?//[^"']+""", text)
    remote += re.findall(r"@import\s+url\(\s*['\"]?https?:", text)
    assert remote == [], remote


def test_syllabus_links_are_filled_only_by_the_kit(tmp_path):
    site = tmp_path / "site"
    (site / "book").mkdir(parents=True)
    page = site / "book" / "syllabus.html"
    markers = make_kit.KEY_MARKER + "".join(make_kit.KIT_MARKER.format(n=n) for n in (1, 2))
    page.write_text(f"<p>{markers}</p>", encoding="utf-8")
    make_kit.link_kit(site, [1, 2])
    make_kit.link_kit(site, [1, 2])  # a second run on the filled page changes nothing
    text = page.read_text(encoding="utf-8")
    assert text.count('href="../kit/session-2-slides.html"') == 1
    assert 'href="../kit/session-2-slides.html"' in text and "answer-key.pdf" in text
    assert make_kit.KIT_MARKER.format(n=1) not in text
    with pytest.raises(ValueError, match="marker"):
        make_kit.link_kit(site, [3])
    source = (ROOT / "book" / "syllabus.md").read_text(encoding="utf-8")
    assert "kit/" not in source  # no link before the kit exists


def _need_chromium() -> str:
    chromium = make_kit.bc.find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("no Chromium: install Debian's chromium to run the kit's print tests")
    return chromium


PAGE = """<!doctype html><html><head><meta charset='utf-8'><title>Chapter \u2014 site</title>
</head><body><article class="bd-article"><h1>Chapter</h1><p>Main-line prose.</p>
<div class="exercise admonition" id="x-cq-a"><p>A concept question?</p></div>
<div class="solution admonition"><p class="admonition-title">Solution to
<a href="#x-cq-a">Exercise 1</a></p><p>The concept answer.</p></div>
<div class="exercise admonition" id="x-ex-b"><p>An exercise to do.</p></div>
<div class="solution admonition"><p class="admonition-title">Solution to
<a href="#x-ex-b">Exercise 2</a></p><p>The exercise answer.</p></div>
</article></body></html>"""


def test_answer_key_keeps_solutions_and_problem_set_only_its_exercises(tmp_path):
    from pypdf import PdfReader

    chromium = _need_chromium()
    site = tmp_path / "site"
    site.mkdir()
    (site / "chapter.html").write_text(PAGE, encoding="utf-8")
    texts = {}
    for mode, arg in (("key", {"mode": "key"}), ("set", {"mode": "set", "labels": ["x-ex-b"]})):
        out = tmp_path / f"{mode}.pdf"
        problems = make_kit.print_kit_pdf(site, ["chapter"], arg, out, chromium, tmp_path,
                                          "Kit", "a test")
        assert problems == [], problems
        texts[mode] = " ".join(p.extract_text() for p in PdfReader(out).pages)
    key, problem_set = texts["key"], texts["set"]
    assert "A concept question?" in key and "The concept answer." in key
    assert "An exercise to do." in key and "The exercise answer." in key
    assert "Main-line prose." not in key
    assert "An exercise to do." in problem_set
    assert "answer" not in problem_set and "concept question" not in problem_set
