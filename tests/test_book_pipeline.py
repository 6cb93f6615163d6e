"""The book's own checks must catch what they claim to catch.

Each test breaks something on purpose (a printed number, a twin, a page) in a
temporary copy and asserts that the corresponding check fails, and that the
untouched copy passes, so a check that silently passes everything is caught.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)


_load = load_script


check_twins = _load("check_twins")
browser_check = _load("browser_check")
setup_cells = _load("setup_cells")


def _copy_with_twin(notebook: Path, dest: Path) -> Path:
    target = dest / notebook.name
    shutil.copy(notebook, target)
    (dest / "md_src").mkdir()
    shutil.copy(check_twins.twin_path(notebook), dest / "md_src" / (notebook.stem + ".md"))
    return target


def test_book_has_notebooks():
    assert NOTEBOOKS, "no notebooks found under book/"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_twin_check_catches_an_edited_twin(notebook, tmp_path):
    copy = _copy_with_twin(notebook, tmp_path)
    assert check_twins.problems(copy) == []
    twin = check_twins.twin_path(copy)
    twin.write_text(twin.read_text(encoding="utf-8") + "\nA sentence added only to the twin.\n",
                    encoding="utf-8")
    found = check_twins.problems(copy)
    assert len(found) == 1 and "out of sync" in found[0]


def test_every_notebook_starts_with_the_setup_cell_from_the_config():
    assert NOTEBOOKS and all(setup_cells.problems(nb) == [] for nb in NOTEBOOKS)
    url, branch = setup_cells.repository()
    first = json.loads(NOTEBOOKS[0].read_text())["cells"][0]
    assert first["metadata"]["tags"] == ["remove-cell"]
    assert f'"{url}", "{branch}"' in "".join(first["source"])


def test_setup_cell_check_catches_a_moved_repository(monkeypatch):
    url, branch = setup_cells.repository()
    monkeypatch.setattr(setup_cells, "repository", lambda: (url + "-moved", branch))
    assert all(setup_cells.problems(nb) for nb in NOTEBOOKS)


def test_setup_cell_check_catches_a_missing_setup_cell(tmp_path):
    nb = json.loads(NOTEBOOKS[0].read_text())
    nb["cells"] = nb["cells"][1:]
    copy = tmp_path / NOTEBOOKS[0].name
    copy.write_text(json.dumps(nb))
    assert setup_cells.problems(copy)
    setup_cells.write(copy)  # inserts it again
    assert setup_cells.problems(copy) == []


def test_setup_cell_does_nothing_where_posemb_is_installed(tmp_path):
    source = setup_cells.setup_source(ROOT / "book/code/real_models.ipynb")
    done = subprocess.run([sys.executable, "-c", source + "\nprint(os.getcwd())"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == str(tmp_path), done.stderr


def test_twin_check_catches_a_missing_twin(tmp_path):
    copy = _copy_with_twin(NOTEBOOKS[0], tmp_path)
    check_twins.twin_path(copy).unlink()
    assert "missing" in check_twins.problems(copy)[0]


def _first_number_output(nb: dict) -> tuple[int, int, str]:
    """(cell index, output index, key) of the first stored text output with a digit in it."""
    for ci, cell in enumerate(nb["cells"]):
        for oi, out in enumerate(cell.get("outputs", [])):
            if out.get("output_type") == "stream":
                text = "".join(out["text"])
                if any(ch.isdigit() for ch in text):
                    return ci, oi, "text"
            data = out.get("data", {})
            if "text/plain" in data and any(ch.isdigit() for ch in "".join(data["text/plain"])):
                return ci, oi, "text/plain"
    raise AssertionError("the notebook prints no number")


def _run_nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-current-env", "--nbval-sanitize-with", str(ROOT / ".nbval_sanitize.cfg"),
         str(path)],
        cwd=path.parent, capture_output=True, text=True, timeout=600,
    )


def test_nbval_fails_when_a_printed_number_changes(tmp_path):
    """Strict nbval: the committed notebook passes, the same one with one digit changed fails."""
    notebook = ROOT / "book" / "foundations" / "background.ipynb"
    good = tmp_path / "good.ipynb"
    shutil.copy(notebook, good)
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    ci, oi, key = _first_number_output(nb)
    out = nb["cells"][ci]["outputs"][oi]
    lines = out["text"] if key == "text" else out["data"]["text/plain"]
    lines = [lines] if isinstance(lines, str) else lines
    text = "".join(lines)
    pos = next(i for i, ch in enumerate(text) if ch.isdigit())
    changed = text[:pos] + str((int(text[pos]) + 1) % 10) + text[pos + 1:]
    if key == "text":
        out["text"] = changed
    else:
        out["data"]["text/plain"] = changed
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps(nb), encoding="utf-8")
    # The notebook imports posemb and may read files relative to its folder.
    for path in (good, bad):
        assert path.exists()
    result_good = _run_nbval(good)
    assert result_good.returncode == 0, result_good.stdout[-2000:]
    result_bad = _run_nbval(bad)
    assert result_bad.returncode != 0
    assert "failed" in result_bad.stdout


# Every page of the built book has it; without it a phone lays the page out 980 px wide.
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def _need_chromium() -> str:
    chromium = browser_check.find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("no Chromium: install Debian's chromium to run the browser-check tests")
    return chromium


def _site(tmp_path: Path, body: str, head: str = VIEWPORT) -> Path:
    site = tmp_path / "site"
    site.mkdir(parents=True)
    (site / "index.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'>{head}<title>t</title></head>"
        f"<body>{body}</body></html>", encoding="utf-8")
    return site


def _problems(tmp_path: Path, body: str, head: str = VIEWPORT) -> list[str]:
    chromium = _need_chromium()
    reports = browser_check.check_site(_site(tmp_path, body, head), chromium, pages=["index.html"])
    assert len(reports) == 1
    return reports[0].problems


def test_browser_check_passes_a_clean_page(tmp_path):
    assert _problems(tmp_path, "<p>Plain prose, with <code>\\(code\\)</code>.</p>") == []


def test_browser_check_flags_raw_tex(tmp_path):
    found = _problems(tmp_path, "<p>An angle \\(\\theta\\) that nobody typeset.</p>")
    assert any("raw TeX" in p for p in found), found


def test_browser_check_flags_untypeset_math_element(tmp_path):
    found = _problems(tmp_path, '<span class="math notranslate">x^2</span>')
    assert any("MathJax did not load" in p for p in found), found
    assert any("untypeset" in p for p in found), found


def test_browser_check_flags_foreign_hosts_broken_images_and_console_errors(tmp_path):
    body = ('<script src="https://cdn.example.invalid/lib.js"></script>'
            '<img src="missing.png" alt="gone">'
            '<script>console.error("boom")</script>')
    found = _problems(tmp_path, body)
    assert any("another host" in p and "cdn.example.invalid" in p for p in found), found
    assert any("image did not load" in p for p in found), found
    assert any("console error: boom" in p for p in found), found


def test_browser_check_flags_missing_and_file_name_alt_text(tmp_path):
    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
             "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    body = (f'<main><img src="{pixel}" id="a">'
            f'<img src="{pixel}" alt="0f3c9a1b2d4e5f6a7b8c9d0e1f2a3b4c.png">'
            f'<img src="{pixel}" alt="Perplexity against length for eight schemes"></main>')
    found = [p for p in _problems(tmp_path, body) if "alt text" in p]
    assert len(found) == 2, found
    assert any('alt ""' in p for p in found) and any(".png" in p.split("alt")[-1] for p in found)


def test_browser_check_flags_visible_test_markers(tmp_path):
    found = _problems(tmp_path, "<main><pre># NBVAL_RAISES_EXCEPTION\n1 / 0</pre></main>")
    assert any("test marker" in p and "NBVAL_RAISES_EXCEPTION" in p for p in found), found


def test_browser_check_flags_a_page_wider_than_a_phone(tmp_path):
    found = _problems(tmp_path, '<main><div style="width: 600px">a wide box</div></main>')
    assert any(f"at {browser_check.PHONE_WIDTH} px the page is" in p for p in found), found
    ok = _problems(tmp_path / "ok", "<main><div style='max-width: 100%'>fits</div></main>")
    assert ok == []


def test_browser_check_flags_code_cut_off_instead_of_scrolling(tmp_path):
    long_line = "x = " + "1 + " * 200 + "1"
    clipped = (f'<main><div style="width: 300px; overflow: hidden">'
               f'<pre style="overflow: hidden; width: 300px">{long_line}</pre></div></main>')
    found = _problems(tmp_path, clipped)
    assert any("cut off instead of scrolling" in p and p.count("pre:") for p in found), found
    scrolls = (f'<main><div style="width: 300px"><pre style="overflow-x: auto; width: 300px">'
               f'{long_line}</pre></div></main>')
    assert not any("cut off" in p for p in _problems(tmp_path / "s", scrolls))


def test_browser_check_flags_a_page_without_a_viewport(tmp_path):
    found = _problems(tmp_path, "<main><p>prose</p></main>", head="")
    assert any("viewport" in p for p in found), found


make_pdf = _load("make_pdf")


def _print_site(tmp_path: Path, pages: dict[str, str]) -> tuple[Path, list[dict]]:
    """Print a site of ``pages`` (name -> body) the way ``make pdf`` prints the book."""
    chromium = _need_chromium()
    site = tmp_path / "site"
    site.mkdir()
    for name, body in pages.items():
        (site / f"{name}.html").write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{name.title()} \u2014 "
            f"site</title></head><body><article><h1>{name.title()}</h1>{body}</article>"
            "</body></html>", encoding="utf-8")
    out = tmp_path / "book.pdf"
    printed = make_pdf.print_pages(site, list(pages), chromium, tmp_path)
    make_pdf.join(printed, out, chromium, tmp_path)
    return out, printed


def test_pdf_pages_are_numbered_through_the_book(tmp_path):
    """Two documents of two pages each, after a title page and the contents: their footers
    say 3..6 of 6, not 1..2 twice, and the contents give each document's first page."""
    two_pages = '<div style="height: 300mm">tall</div><p>end</p>'
    out, printed = _print_site(tmp_path, {"first": two_pages, "second": two_pages})
    assert make_pdf.check(out, printed) == []
    from pypdf import PdfReader

    text = [page.extract_text() for page in PdfReader(out).pages]
    assert len(text) == 6
    assert "Version" in text[0] and "page" not in text[0]  # the title page has no footer
    assert "First 3" in text[1] and "Second 5" in text[1]
    assert "Contents \u00b7 page 2 of 6" in text[1]
    assert "Second \u00b7 page 5 of 6" in text[4] and "First \u00b7 page 4 of 6" in text[3]


def test_pdf_check_wants_a_title_page_and_contents(tmp_path):
    out, printed = _print_site(tmp_path, {"only": "<p>one page</p>"})
    assert make_pdf.check(out, printed) == []
    without = [item for item in printed if item["doc"] != make_pdf.TITLE_PAGE]
    assert "no title page" in make_pdf.check(out, without)
    without = [item for item in printed if item["doc"] != make_pdf.CONTENTS_PAGE]
    assert "no table of contents" in make_pdf.check(out, without)
    wrong = [dict(item) for item in printed]
    wrong[-1]["title"] = "Another"  # the contents no longer list it
    assert any("the contents lack" in p for p in make_pdf.check(out, wrong))


def test_pdf_check_flags_a_blank_page(tmp_path):
    """A box that spans three pages prints its middle page with nothing but its border and
    background, as a scrolling code cell did before book.css let such cells break."""
    box = ('<p>before</p><div style="height: 700mm; border-left: 3px solid green; '
           'background: #f3f3f3; overflow: auto"></div><p>after</p>')
    out, printed = _print_site(tmp_path, {"boxes": box})
    found = make_pdf.check(out, printed)
    assert any("blank page(s)" in p for p in found), found


def test_pdf_check_flags_characters_printed_without_a_font(tmp_path):
    """A character no installed font has prints as an empty box, which the check flags (as it
    would the intro's Chinese on a machine without a CJK font)."""
    out, printed = _print_site(tmp_path, {"boxes": "<p>no font: \U0010fffd\U0010fffc</p>"})
    found = make_pdf.check(out, printed)
    assert any("no installed font" in p for p in found), found


def test_pdf_check_wants_the_intro_chinese_in_the_intro_pages(monkeypatch, tmp_path):
    runs = make_pdf.source_cjk("book/intro")
    assert runs, "the intro's English-Chinese glossary has no Chinese"
    out, printed = _print_site(tmp_path, {"intro": "<p>The glossary, without its Chinese.</p>"})
    monkeypatch.setattr(make_pdf, "source_cjk", lambda doc: runs)
    found = make_pdf.check(out, printed)
    assert any("none of its Chinese" in p for p in found), found


def _bib_labels():
    spec = importlib.util.spec_from_file_location("bib_labels", ROOT / "book/_ext/bib_labels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bibliography_labels_are_the_in_text_citations_and_unique():
    """The References page's labels read as the text cites ("Press et al., 2022"), works
    that would share one get 2023a/2023b (idempotently), and no two labels are equal."""
    from pybtex.database import parse_file

    bib_labels = _bib_labels()
    entries = parse_file(ROOT / "book" / "references.bib").entries
    first = bib_labels.disambiguate_years(entries)
    assert bib_labels.disambiguate_years(entries) == first
    style = bib_labels.AuthorYearLabelsStyle()
    labels = [e.label for e in style.format_entries(entries.values())]
    assert len(set(labels)) == len(labels), sorted(labels)
    assert "Press et al., 2022" in labels and "Vaswani et al., 2017" in labels
    assert labels == sorted(labels, key=lambda s: (s.rsplit(", ", 1)[0].casefold(),
                                                   s.rsplit(", ", 1)[1]))


def test_browser_check_flags_an_output_figure_that_cannot_be_enlarged(tmp_path):
    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
             "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    bare = f'<main><div class="cell_output"><img src="{pixel}" alt="a plot of x"></div></main>'
    assert any("full size" in p for p in _problems(tmp_path, bare))
    linked = (f'<main><div class="cell_output"><a href="{pixel}"><img src="{pixel}" '
              f'alt="a plot of x"></a></div></main>')
    assert not any("full size" in p for p in _problems(tmp_path / "l", linked))


def _themed_site(tmp_path: Path, fix: bool) -> Path:
    """A two-page site in the book's theme, built by Sphinx, with or without the toggle fix."""
    src = tmp_path / "src"
    (src / "_static").mkdir(parents=True)
    js = []
    if fix:
        shutil.copy(ROOT / "book" / "_static" / "sidebar_toggles.js", src / "_static")
        js = ["sidebar_toggles.js"]
    (src / "conf.py").write_text(
        "project = 'toggles'\n"
        "html_theme = 'sphinx_book_theme'\n"
        "html_static_path = ['_static']\n"
        f"html_js_files = {js!r}\n"
        "html_context = {'default_mode': 'auto'}\n",
        encoding="utf-8",
    )
    (src / "index.rst").write_text(
        "Home\n====\n\n.. toctree::\n\n   chapter\n\nFirst\n-----\n\nText.\n\n"
        "Second\n------\n\nText.\n",
        encoding="utf-8",
    )
    (src / "chapter.rst").write_text(
        "Chapter\n=======\n\nOne\n---\n\nText.\n\nTwo\n---\n\nText.\n", encoding="utf-8"
    )
    out = tmp_path / "html"
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_browser_check_taps_the_menus_and_fails_on_the_unfixed_theme(tmp_path):
    # pydata-sphinx-theme 0.17 binds its sidebar handlers to hidden duplicates of the
    # buttons a reader taps (its issue 2451): without book/_static/sidebar_toggles.js
    # neither the chapter list nor the page contents opens below 992 px.
    chromium = _need_chromium()
    broken = browser_check.check_site(
        _themed_site(tmp_path / "unfixed", fix=False), chromium, pages=["chapter.html"]
    )[0].problems
    for width in browser_check.NAV_WIDTHS:
        for what in ("menu (☰) button does not open the chapter list",
                     "page-contents button does not open the page contents"):
            assert f"at {width} px tapping the {what}" in broken, broken
    fixed = browser_check.check_site(
        _themed_site(tmp_path / "fixed", fix=True), chromium, pages=["chapter.html"]
    )[0].problems
    assert fixed == [], fixed


def test_browser_check_flags_a_figure_shrunk_below_readable_text(tmp_path):
    # 8 pt at 150 dpi is 16.7 px in the file: shown under 9 px when shrunk more than 1.85x
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from posemb.lab.plotting import max_figure_shrink

    assert 1.8 < max_figure_shrink() < 1.9
    found = {}
    for name, natural in (("wide", 1200), ("fits", 1000)):
        site = tmp_path / name / "site"
        site.mkdir(parents=True)
        fig = plt.figure(figsize=(natural / 150, 1), dpi=150)
        fig.savefig(site / "fig.png", dpi=150)
        plt.close(fig)
        (site / "index.html").write_text(
            f"<!doctype html><html><head><meta charset='utf-8'>{VIEWPORT}<title>t</title>"
            "</head><body><main><div class='cell_output'><a href='fig.png'><img src='fig.png'"
            " style='width:600px;max-width:100%' alt='a plot of x'></a></div></main>"
            "</body></html>", encoding="utf-8")
        reports = browser_check.check_site(site, _need_chromium(), pages=["index.html"])
        found[name] = [p for p in reports[0].problems if p.startswith("figure shrunk")]
    assert found["wide"] and "figure shrunk 2.00x" in found["wide"][0], found
    assert found["fits"] == [], found


def test_no_figure_text_is_smaller_than_the_size_rule_assumes():
    # max_figure_shrink() is derived from MIN_FONT_PT: no style size and no size a chapter
    # sets may be smaller, or the browser check's limit would let unreadable text through.
    import re

    from posemb.lab import plotting

    sizes = {k: v for k, v in plotting.BOOK_RC.items() if k.endswith(("size", "labelsize"))
             and "marker" not in k and isinstance(v, (int, float))}
    assert sizes and min(sizes.values()) >= plotting.MIN_FONT_PT, sizes
    pattern = re.compile(r"\b(?:fontsize|labelsize|size)\s*=\s*([0-9.]+)")
    small = []
    for nb in NOTEBOOKS:
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            for m in pattern.finditer("".join(cell["source"])):
                if float(m.group(1)) < plotting.MIN_FONT_PT:
                    small.append(f"{nb.name}: {m.group(0)}")
            # matplotlib's named sizes below "medium" scale the 11 pt default under 9.5 pt
            small += [f"{nb.name}: {m.group(0)}" for m in re.finditer(
                r"(?:fontsize|labelsize)\s*=\s*[\"'](?:xx-small|x-small|small)[\"']",
                "".join(cell["source"]))]
    assert small == [], small


def test_browser_check_wants_a_cue_on_what_scrolls_sideways(tmp_path):
    # 84 columns: fits a 1280 px screen, scrolls on a phone
    code = "<main><div class='highlight'><pre style='overflow-x:auto'>" + "x = 1; " * 12 + (
        "</pre></div></main>")
    bare = _problems(tmp_path / "bare", code)
    assert any("scrolls sideways with no visible cue" in p for p in bare), bare
    site = _site(tmp_path / "cued", code, VIEWPORT + "<script src='scroll_cues.js'></script>"
                 "<link rel='stylesheet' href='book.css'>")
    shutil.copy(ROOT / "book" / "_static" / "scroll_cues.js", site)
    shutil.copy(ROOT / "book" / "_static" / "book.css", site)
    cued = browser_check.check_site(site, _need_chromium(), pages=["index.html"])[0].problems
    assert cued == [], cued


def test_browser_check_flags_code_and_output_that_scroll_sideways_at_1280_px(tmp_path):
    def page(code: str, output: str) -> str:
        return (
            "<main><div class='cell'><details><summary>code</summary>"
            f"<div class='highlight'><pre style='overflow-x:auto'>{code}</pre></div>"
            "</details><div class='cell_output'><div class='output'>"
            f"<pre style='overflow-x:auto'>{output}</pre></div></div></div></main>"
        )

    head = VIEWPORT + "<link rel='stylesheet' href='book.css'>"
    wide = _site(tmp_path / "wide", page("y = 2; " * 40, "z" * 300), head)
    shutil.copy(ROOT / "book" / "_static" / "book.css", wide)
    found = browser_check.check_site(wide, _need_chromium(), pages=["index.html"])[0].problems
    # the folded code is opened and measured; the output is one word too long to wrap
    assert any("code block scrolls sideways at 1280 px" in p for p in found), found
    assert any("output scrolls sideways at 1280 px" in p for p in found), found
    # 88 columns of code, and a long output line that the book's style wraps at spaces
    fits = _site(tmp_path / "fits", page("y" * 88, "a long printed line " * 20), head)
    shutil.copy(ROOT / "book" / "_static" / "book.css", fits)
    found = browser_check.check_site(fits, _need_chromium(), pages=["index.html"])[0].problems
    assert not any("1280 px" in p for p in found), found


def test_browser_check_flags_a_back_to_top_button_over_the_text(tmp_path):
    tall = "<main>" + "<p>Some text of the page.</p>" * 400 + "</main>"
    button = ("<button id='pst-back-to-top' style='position:fixed;top:60px;left:40%'>"
              "Back to top</button>")
    found = _problems(tmp_path / "shown", tall + button)
    assert any("'Back to top' button covers the text" in p for p in found), found
    hidden = button.replace("style='", "style='display:none;")
    assert _problems(tmp_path / "hidden", tall + hidden) == []


def test_home_page_links_the_pdf_only_once_it_exists(tmp_path):
    site = tmp_path / "site"
    (site / "book").mkdir(parents=True)
    page = site / make_pdf.HOME_PAGE
    page.write_text(
        f"<p>Long.{make_pdf.PAGES_MARKER}</p><p>A syllabus.{make_pdf.PDF_MARKER}</p>",
        encoding="utf-8",
    )
    with pytest.raises(FileNotFoundError, match="book.pdf"):
        make_pdf.link_pdf(site)
    assert "book.pdf" not in page.read_text(encoding="utf-8")
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=200, height=200)
    writer.write(site / "book.pdf")
    make_pdf.link_pdf(site)
    make_pdf.link_pdf(site)  # a second run changes nothing
    html = page.read_text(encoding="utf-8")
    assert html.count('href="../book.pdf"') == 1 and make_pdf.PDF_MARKER not in html
    assert html.count("runs to 3 pages") == 1 and make_pdf.PAGES_MARKER not in html
    page.write_text(f"<p>only one marker{make_pdf.PDF_MARKER}</p>", encoding="utf-8")
    with pytest.raises(ValueError, match="pdf-pages"):
        make_pdf.link_pdf(site)


def test_the_book_source_has_the_pdf_marker_and_no_hard_link():
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    assert intro.count(make_pdf.PDF_MARKER) == 1 and "book.pdf" not in intro
    assert intro.count(make_pdf.PAGES_MARKER) == 1


def test_browser_check_wants_the_kit_slides_to_start(tmp_path):
    site = tmp_path / "site"
    (site / "kit").mkdir(parents=True)
    page = ("<!doctype html><html><head><meta charset='utf-8'>" + VIEWPORT +
            "<title>s</title></head><body><main><p>slides</p></main></body></html>")
    (site / "kit" / "session-1-slides.html").write_text(page, encoding="utf-8")
    reports = browser_check.check_site(site, _need_chromium(), pages=["kit/session-1-slides.html"])
    assert any("slides did not start" in p for p in reports[0].problems), reports[0].problems


def test_browser_check_wants_long_formulas_split_on_a_phone(tmp_path):
    formula = ('<main><mjx-container jax="CHTML" display="true" style="display:block;'
               'overflow-x:auto"><mjx-math style="display:inline-block;width:{w}px">x'
               '</mjx-math></mjx-container></main>')
    wide = _problems(tmp_path / "wide", formula.format(w=800))
    assert any("display formula is wider than the column" in p for p in wide), wide
    narrow = _problems(tmp_path / "narrow", formula.format(w=200))
    assert not any("display formula" in p for p in narrow), narrow


def test_browser_check_taps_a_shrunk_figure_open_at_full_size(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = {}
    for name, script in (("bare", False), ("viewer", True)):
        site = tmp_path / name / "site"
        site.mkdir(parents=True)
        fig = plt.figure(figsize=(8, 2), dpi=150)
        fig.savefig(site / "fig.png", dpi=150)
        plt.close(fig)
        head = VIEWPORT
        if script:
            head += "<script src='figure_zoom.js'></script><link rel='stylesheet' href='book.css'>"
            shutil.copy(ROOT / "book" / "_static" / "figure_zoom.js", site)
            shutil.copy(ROOT / "book" / "_static" / "book.css", site)
        img = ("<main><div class='cell_output'><a href='fig.png'><img src='fig.png' "
               "style='width:100%' alt='a plot of x'></a></div></main>")
        if script:  # the script wraps the image in its link itself
            img = ("<main><div class='cell_output'><img src='fig.png' style='width:100%' "
                   "alt='a plot of x'></div></main>")
        (site / "index.html").write_text(
            f"<!doctype html><html><head><meta charset='utf-8'>{head}<title>t</title></head>"
            f"<body>{img}</body></html>", encoding="utf-8")
        reports = browser_check.check_site(site, _need_chromium(), pages=["index.html"])
        found[name] = [p for p in reports[0].problems if "figure" in p]
    assert any("does not open it at full size" in p for p in found["bare"]), found
    assert found["viewer"] == [], found
