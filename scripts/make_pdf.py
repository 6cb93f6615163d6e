"""Print the whole book, in table-of-contents order, to one PDF: ``_build/html/book.pdf``.

Usage: python scripts/make_pdf.py [SITE_DIR] [--out PATH]

Each page of the built site (``make book`` first) is opened in headless Chromium (Debian's,
as in ``scripts/browser_check.py``) at the printed column's width, its formulas are typeset
by the site's own MathJax, and it is printed with the site's print styles (book.css: nothing
scrolls, tables break between rows, a figure takes at most 150 mm and stays with its
caption, headings stay with what follows) after these changes made for paper:

* exercise solutions are left out (on the web they hide behind "Click to show"; a printed
  book either shows them all or none, and this one leaves them to the notebooks);
* code folded on the web ("Show code cell source") is left out, its output kept;
* any other folded block (``<details>``) is printed open;
* the theme's page of mini-contents under each chapter's title is left out (the book has
  one table of contents at the front) and the title carries its chapter number;
* a display formula wider than the column is scaled to fit it;
* a code cell, output or box taller than a third of a page may break across pages (shorter
  ones are kept whole), so none leaves more than that empty before it;
* the explorers print as figures at their default settings, without their controls, with
  the address of the interactive page.

A title page (title, what the book is, version, date, licence) and a table of contents of
the whole book with page numbers are printed before the chapters.

The chapters are joined with ``pypdf`` into one file with a bookmark per chapter, and every
page but the title page gets an 8 pt footer with its chapter's title and its page number in
the whole book ("page 37 of 358"): Chromium's own footer would count pages per printed
document, so the pages are printed without one and the footers, printed by Chromium as a
separate transparent PDF of as many pages, are laid over them.

The script then reads the PDF back and fails (exit 1) unless it opens with the title page
and the contents (every chapter with its first page), no page is blank (rendered with
pypdfium2: no text and almost nothing drawn), every chapter's title is on its
first page, every page carries its footer, no web-only control text ("Click to show", "Show
code cell") is printed, no character was printed without a font (Chromium prints an empty
box, which reads back as NUL: on a machine without a CJK font the intro's English-Chinese
glossary would), the Chinese in a page's source is in its pages, and the PDF holds at least
as many images as the pages showed. The file sits inside the site; once it is written and
passes, the home page's sentence that links to it is filled in (before that, the page has no
link, so a site built without the PDF has no dead one).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
import unicodedata
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_check as bc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WEB_ONLY = ("Click to show", "Show code cell", "Hide code cell")
# CJK ideographs (the Unified block and Extension A): the book's Chinese
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]{2,}")
NO_FONT_HINT = (
    "install a font that covers them (Debian/Ubuntu: 'apt-get install fonts-wqy-microhei' "
    "for Chinese) and print again"
)
FOOTER_SEPARATOR = " \u00b7 page "
FOOTER_PT = 8

# A4 less the margins of print_pages, in CSS pixels (96 per inch): the printed column.
PRINT_WIDTH_PX = round((210 - 28) / 25.4 * 96)
PRINT_HEIGHT_PX = round((297 - 16 - 18) / 25.4 * 96)

# Runs in each page before printing: what changes for paper (see the module docstring).
# Called with [numbered title, site URL of the page]. The page is laid out for print at the
# printed column's width, so the heights it measures are the printed ones.
FOR_PAPER_JS = r"""
([title, url, pageHeight]) => {
  let images = 0;
  // the theme prints a page of "Contents" under each chapter's title; the book has one
  // table of contents at its front instead
  for (const el of document.querySelectorAll("#jb-print-toc")) el.remove();
  const h1 = document.querySelector("#jb-print-docs-body > h1");
  if (h1) h1.textContent = title;
  // the explorers print as figures at their default settings, with where to use them
  for (const el of document.querySelectorAll(".posemb-explorer")) {
    const note = document.createElement("p");
    note.className = "explorer-print-note";
    note.textContent = "Interactive on the book's website: " + url;
    el.prepend(note);
  }
  for (const el of document.querySelectorAll("div.solution")) el.remove();
  for (const el of document.querySelectorAll("details.hide.above-input")) el.remove();
  for (const el of document.querySelectorAll("button.toggle-button")) el.remove();
  for (const el of document.querySelectorAll("details")) el.open = true;
  for (const el of document.querySelectorAll(".toggle-hidden")) {
    el.classList.remove("toggle-hidden");
  }
  for (const img of document.querySelectorAll("article img")) {
    img.loading = "eager";
    if (!img.closest(".d-print-none, .onlyscreen")) images++;  // figures, not buttons
  }
  // paper cannot scroll: a display formula wider than the column is scaled to fit it
  for (const el of document.querySelectorAll('mjx-container[display="true"]')) {
    const math = el.querySelector("mjx-math") || el;
    const wide = math.getBoundingClientRect().width;
    const room = el.getBoundingClientRect().width;
    if (wide > room + 1) el.style.zoom = String(Math.floor((room / wide) * 1000) / 1000);
  }
  // book.css keeps a code cell, an output or a box on one page; one taller than a third of
  // a page may break instead, or it would leave that much of a page empty before it (and a
  // cell taller than a page printed as an empty box on one page, its code on the next)
  const blocks = "div.cell_input, div.cell_output, div.output, div.admonition, "
      + 'div[class*="highlight"], pre';
  for (const el of document.querySelectorAll(blocks)) {
    if (el.getBoundingClientRect().height > pageHeight / 3) {
      el.style.breakInside = "auto";
      el.style.pageBreakInside = "auto";
    }
  }
  return images;
}
"""


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def site_url(config: dict | None = None) -> str:
    """Where the published site lives: GitHub Pages of ``_config.yml``'s repository.url
    (``https://github.com/OWNER/REPO`` -> ``https://OWNER.github.io/REPO/``)."""
    url = (config or _config())["repository"]["url"].rstrip("/")
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)", url)
    if not match:
        raise ValueError(f"repository.url {url!r} is not https://github.com/OWNER/REPO")
    owner, repo = match.groups()
    return f"https://{owner.lower()}.github.io/{repo}/"


def toc_parts(toc_path: Path = ROOT / "_toc.yml") -> list[tuple[str, list[str]]]:
    """(part caption, its documents) in reading order, the root first under ''."""
    toc = yaml.safe_load(toc_path.read_text())
    parts = [("", [toc["root"]])]
    for part in toc.get("parts", []):
        parts.append((part.get("caption", ""), [c["file"] for c in part.get("chapters", [])]))
    return parts


def toc_documents(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Document paths (without suffix) in reading order: the root, then every part's chapters."""
    toc = yaml.safe_load(toc_path.read_text())
    docs = [toc["root"]]
    for part in toc.get("parts", []):
        docs += [chapter["file"] for chapter in part.get("chapters", [])]
    return docs


def print_pages(
    site: Path,
    docs: list[str],
    chromium: str,
    workdir: Path,
    prepare: tuple[str, object] | None = None,
    name: str = "",
) -> list[dict]:
    """Print each document's page to its own PDF in ``workdir``; return what was printed.

    ``prepare`` is a script and its argument run in each page before the changes for paper
    (the instructor's kit keeps only a page's exercises this way); ``name`` prefixes the
    files in ``workdir``."""
    from playwright.sync_api import sync_playwright

    server, base = bc.serve(site)
    printed = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=bc.CHROMIUM_ARGS
            )
            context = browser.new_context(
                viewport={"width": PRINT_WIDTH_PX, "height": PRINT_HEIGHT_PX}
            )
            local = base.split("//", 1)[1]
            context.route(
                "**/*",
                lambda r: (
                    r.continue_()
                    if local in r.request.url
                    or r.request.url.startswith(("data:", "blob:", "about:"))
                    else r.abort()
                ),
            )
            for i, doc in enumerate(docs):
                page = context.new_page()
                response = page.goto(f"{base}/{doc}.html", wait_until="load", timeout=60_000)
                if response is None or response.status >= 400:
                    raise RuntimeError(f"{doc}.html did not load")
                page.evaluate(bc.WAIT_FOR_MATHJAX_JS)
                page.emulate_media(media="print")
                page.evaluate(bc.BROKEN_IMAGES_JS)  # waits until every image has loaded
                title = page.title().split(" \u2014 ")[0].strip()
                if prepare is not None:
                    page.evaluate(prepare[0], prepare[1])
                images = page.evaluate(
                    FOR_PAPER_JS, [title, f"{site_url()}{doc}.html", PRINT_HEIGHT_PX]
                )
                path = workdir / f"{name}{i:02d}.pdf"
                page.pdf(
                    path=str(path),
                    format="A4",
                    print_background=True,
                    margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"},
                    display_header_footer=False,  # footers are laid over in join()
                )
                printed.append({"doc": doc, "title": title, "path": path, "images": images})
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return printed


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


TITLE_PAGE = "_title"
CONTENTS_PAGE = "_contents"
CONTENTS_TITLE = "Contents"
SUBTITLE = (
    "A book on how transformers and large language models know the order of tokens, "
    "with posemb, a tested PyTorch library that every chapter runs"
)
LICENCE_LINE = (
    "Text under the Creative Commons Attribution 4.0 International licence; "
    "code under the MIT licence."
)
FRONT_CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
body { font-family: sans-serif; color: #222; }
.title { margin-top: 70mm; text-align: center; }
.title h1 { font-size: 26pt; font-weight: 600; line-height: 1.25; margin: 0 0 10mm; }
.title .sub { font-size: 13pt; line-height: 1.45; margin: 0 12mm 30mm; }
.title .meta { font-size: 11pt; line-height: 1.8; }
.contents h1 { font-size: 20pt; font-weight: 600; margin: 0 0 6mm; }
.contents h2 { font-size: 12pt; margin: 5mm 0 1.5mm; }
.contents .entry { display: flex; font-size: 10.5pt; line-height: 1.55; }
.contents .entry .name { flex: 1; }
.contents .entry .dots { flex: 0 0 auto; }
.contents .entry .num { width: 12mm; text-align: right; }
"""


def version_and_date() -> tuple[str, str]:
    """posemb's version (pyproject.toml) and the date of the commit the book is built from
    (today's date outside a git checkout)."""
    import datetime
    import subprocess
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    try:
        date = subprocess.run(
            ["git", "log", "-1", "--format=%cs"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        date = ""
    return version, date or datetime.date.today().isoformat()


def title_html(config: dict, heading: str | None = None, subtitle: str = SUBTITLE) -> str:
    """A title page: the book's title (or ``heading``), ``subtitle``, the authors, version,
    date, site and licence."""
    version, date = version_and_date()
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{FRONT_CSS}</style></head>"
        f"<body><div class='title'><h1>{_html_escape(heading or config['title'])}</h1>"
        f"<p class='sub'>{_html_escape(subtitle)}</p><p class='meta'>"
        f"{_html_escape(config['author'])}<br>Version {version}, {date}<br>"
        f"{_html_escape(site_url(config))}<br>{_html_escape(LICENCE_LINE)}</p></div>"
        "</body></html>"
    )


def contents_html(printed: list[dict], offset: int) -> str:
    """The whole book's table of contents: parts, chapters, and the page each starts on
    (``offset`` front pages before the first chapter page)."""
    by_doc = {item["doc"]: item for item in printed}
    parts = [(caption, [d for d in docs if d in by_doc]) for caption, docs in toc_parts()]
    listed = {d for _, docs in parts for d in docs}
    # documents outside _toc.yml (a test's pages) come first, without a part
    parts.insert(0, ("", [item["doc"] for item in printed if item["doc"] not in listed]))
    rows = [f"<h1>{CONTENTS_TITLE}</h1>"]
    for caption, docs in parts:
        if caption and docs:
            rows.append(f"<h2>{_html_escape(caption)}</h2>")
        for doc in docs:
            item = by_doc[doc]
            rows.append(
                f"<div class='entry'><span class='name'>{_html_escape(item['title'])}</span>"
                f"<span class='num'>{item['first_page'] + offset + 1}</span></div>"
            )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{FRONT_CSS}</style></head>"
        f"<body><div class='contents'>{''.join(rows)}</div></body></html>"
    )


def print_html(html: str, chromium: str, path: Path) -> int:
    """Print one HTML document to ``path`` (A4, the front matter's margins); its page count."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, headless=True, args=bc.CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_content(html, wait_until="load")
        page.pdf(path=str(path), format="A4", prefer_css_page_size=True)
        browser.close()
    return len(PdfReader(path).pages)


def print_front(printed: list[dict], chromium: str, workdir: Path) -> list[dict]:
    """Print the title page and the table of contents; return them as printed items.

    The contents' page numbers count the front pages, so the contents are printed until
    their own length stops changing (once, or twice if they run onto a second page)."""
    config = _config()
    start = 0
    for item in printed:
        item["first_page"] = start
        start += item["pages"]
    title_pdf = workdir / "front-title.pdf"
    title_pages = print_html(title_html(config), chromium, title_pdf)
    contents_pdf = workdir / "front-contents.pdf"
    contents_pages = 1
    for _ in range(3):
        got = print_html(contents_html(printed, title_pages + contents_pages), chromium,
                         contents_pdf)
        if got == contents_pages:
            break
        contents_pages = got
    else:
        raise RuntimeError("the table of contents does not settle on a page count")
    return [
        {"doc": TITLE_PAGE, "title": "", "path": title_pdf, "images": 0},
        {"doc": CONTENTS_PAGE, "title": CONTENTS_TITLE, "path": contents_pdf, "images": 0},
    ]


def footers(printed: list[dict], total: int) -> list[str]:
    """Each page's footer: its chapter's title and its page number in the whole book."""
    texts = []
    for item in printed:
        for _ in range(item["pages"]):
            if item["doc"] == TITLE_PAGE:
                texts.append("")  # a title page carries no footer
            else:
                texts.append(f"{item['title']}{FOOTER_SEPARATOR}{len(texts) + 1} of {total}")
    return texts


# One A4 sheet per footer, transparent but for the footer in the bottom margin (18 mm) that
# the book's pages leave free; the pages are a hair shorter than A4 so that rounding never
# spills one onto an extra sheet.
FOOTERS_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 0; }}
html, body {{ margin: 0; padding: 0; background: transparent; }}
.sheet {{ position: relative; height: 296.5mm; break-after: page; overflow: hidden; }}
.sheet:last-child {{ break-after: auto; }}
.footer {{ position: absolute; left: 14mm; right: 14mm; bottom: 7mm; text-align: center;
  font: {size}pt/1.2 sans-serif; color: #444; }}
</style></head><body>
{sheets}
</body></html>"""


def print_footers(texts: list[str], chromium: str, path: Path) -> None:
    """Print ``texts`` as a PDF with one A4 page per text, the text at the page's foot."""
    from playwright.sync_api import sync_playwright

    sheets = "\n".join(
        f'<div class="sheet"><div class="footer">{_html_escape(t)}</div></div>' if t
        else '<div class="sheet"></div>'
        for t in texts
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, headless=True, args=bc.CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_content(FOOTERS_HTML.format(sheets=sheets, size=FOOTER_PT), wait_until="load")
        page.pdf(
            path=str(path),
            format="A4",
            print_background=False,
            margin={"top": "0", "bottom": "0", "left": "0", "right": "0"},
        )
        browser.close()


def join(
    printed: list[dict], out: Path, chromium: str, workdir: Path, front=None
) -> None:
    """One PDF from the pages' PDFs, with a bookmark at each chapter's first page and a
    footer numbering the pages through the whole book."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for item in printed:
        item["pages"] = len(PdfReader(item["path"]).pages)
    printed[:0] = (front or print_front)(printed, chromium, workdir)
    for item in printed:
        start = len(writer.pages)
        for page in PdfReader(item["path"]).pages:
            writer.add_page(page)
        item["first_page"] = start
        item["pages"] = len(writer.pages) - start
        if item["doc"] != TITLE_PAGE:
            writer.add_outline_item(title=item["title"], page_number=start)
    texts = footers(printed, len(writer.pages))
    footer_pdf = workdir / f"{out.stem}-footers.pdf"
    print_footers(texts, chromium, footer_pdf)
    footer_pages = PdfReader(footer_pdf).pages
    if len(footer_pages) != len(writer.pages):
        raise RuntimeError(
            f"{len(footer_pages)} footer pages printed for {len(writer.pages)} book pages"
        )
    for page, footer in zip(writer.pages, footer_pages, strict=True):
        page.merge_page(footer)
        page.compress_content_streams()  # merging leaves the page's content uncompressed
    config = _config()
    writer.add_metadata({"/Title": config["title"], "/Author": config["author"]})
    buffer = io.BytesIO()
    writer.write(buffer)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())


def source_cjk(doc: str) -> list[str]:
    """The runs of Chinese characters in a document's source (``.md`` or ``.ipynb``)."""
    for suffix in (".md", ".ipynb"):
        path = ROOT / f"{doc}{suffix}"
        if path.exists():
            return CJK_RE.findall(path.read_text(encoding="utf-8"))
    return []


# A page is blank when it has no text and almost no drawn edges: under 1% of its pixels
# (rendered at 36 dpi, footer left out) differ from their neighbour by more than 40 of 255.
# Measured on the book: an empty code box printed alone (its border only) scores 0.006;
# the emptiest real page, a chapter's last lines, 0.016; a page of text about 0.1.
BLANK_EDGE_DENSITY = 0.01


def page_fill(pdf: Path) -> list[float]:
    """Per page: how far down its text area (A4 less the 16 mm and 18 mm margins) the
    lowest ink reaches, from 0 (empty) to 1 (full), on the page rendered at 36 dpi."""
    import numpy as np
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    out = []
    try:
        for i in range(len(doc)):
            a = doc[i].render(scale=0.5, grayscale=True).to_numpy()
            if a.ndim == 3:
                a = a[..., 0]
            h = a.shape[0]
            body = a[int(h * 16 / 297) : int(h * (297 - 18) / 297)]
            rows = np.nonzero((body < 200).any(axis=1))[0]
            out.append(float((rows.max() + 1) / body.shape[0]) if len(rows) else 0.0)
    finally:
        doc.close()
    return out


def short_pages(pdf: Path, printed: list[dict]) -> list[int]:
    """Pages (1-based) that end more than a third empty although their chapter goes on:
    what a figure or block too tall for the rest of a page leaves behind."""
    last = {item["first_page"] + item["pages"] - 1 for item in printed}
    return [i + 1 for i, fill in enumerate(page_fill(pdf)) if fill < 2 / 3 and i not in last]


def edge_density(pdf: Path) -> list[float]:
    """Per page: the fraction of pixel pairs (across and down) whose grey levels differ by
    more than 40, on the page rendered at 36 dpi without its bottom 8% (the footer)."""
    import numpy as np
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    out = []
    try:
        for i in range(len(doc)):
            a = doc[i].render(scale=0.5, grayscale=True).to_numpy().astype(np.int16)
            if a.ndim == 3:
                a = a[..., 0]
            body = a[: int(a.shape[0] * 0.92)]
            across = (np.abs(np.diff(body, axis=1)) > 40).mean()
            down = (np.abs(np.diff(body, axis=0)) > 40).mean()
            out.append(float(across + down))
    finally:
        doc.close()
    return out


def check(out: Path, printed: list[dict], book: bool = True) -> list[str]:
    """What is wrong with the joined PDF (empty when nothing is). ``book=False`` (the
    instructor's kit) wants a title page but no table of contents."""
    from pypdf import PdfReader

    reader = PdfReader(out)
    problems = []
    # NFKC undoes the typesetter's ligatures ("ﬁ" -> "fi")
    text = [
        re.sub(r"\s+", " ", unicodedata.normalize("NFKC", page.extract_text() or ""))
        for page in reader.pages
    ]
    # every page carries its own footer, numbered through the book; the rest of the checks
    # read the pages without it, so that a title is not found in its own footer
    expected_footers = footers(printed, len(text))
    unfooted = []
    for i, footer in enumerate(expected_footers):
        if not footer:
            continue  # the title page
        footer = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", footer))
        if footer in text[i]:
            text[i] = text[i].replace(footer, " ")
        else:
            unfooted.append(i + 1)
    if unfooted:
        problems.append(
            f"{len(unfooted)} page(s) lack their footer 'TITLE{FOOTER_SEPARATOR}N of "
            f"{len(text)}', e.g. page(s) {unfooted[:10]}"
        )
    no_font = [i + 1 for i, t in enumerate(text) if "\x00" in t]
    if no_font:
        problems.append(
            f"page(s) {no_font[:10]} print characters that no installed font has (empty "
            f"boxes); {NO_FONT_HINT}"
        )
    # the front matter: a title page, then the whole book's contents with page numbers
    by_doc = {item["doc"]: item for item in printed}
    config = _config()
    if TITLE_PAGE not in by_doc or by_doc[TITLE_PAGE]["first_page"] != 0:
        problems.append("no title page")
    elif book:
        title_words = re.sub(r"\s+", " ", config["title"])
        if title_words not in text[0] or "Version" not in text[0] or "licence" not in text[0]:
            problems.append("the title page lacks the title, the version or the licence")
    if not book:
        pass
    elif CONTENTS_PAGE not in by_doc:
        problems.append("no table of contents")
    else:
        item = by_doc[CONTENTS_PAGE]
        contents = " ".join(text[item["first_page"] : item["first_page"] + item["pages"]])
        for chapter in printed:
            if chapter["doc"] in (TITLE_PAGE, CONTENTS_PAGE):
                continue
            entry = f"{chapter['title']} {chapter['first_page'] + 1}"
            if re.sub(r"\s+", " ", entry) not in contents:
                problems.append(f"the contents lack {entry!r} (title and first page)")
    blank = [
        i + 1
        for i, density in enumerate(edge_density(out))
        if density < BLANK_EDGE_DENSITY and not text[i].strip()
    ]
    if blank:
        problems.append(f"blank page(s) {blank[:10]} (no text, almost nothing drawn)")
    for item in printed:
        if item["doc"] == TITLE_PAGE:
            continue
        # the chapter title (printed without its number) heads its first page
        first = text[item["first_page"]]
        words = re.sub(r"^[\d.]+\s+", "", item["title"]).split()[:4]
        if not all(w in first for w in words):
            problems.append(f"{item['doc']}: title {item['title']!r} not on its first page")
        # Chinese in the source (the intro's glossary) must come out as Chinese, not boxes
        runs = source_cjk(item["doc"])
        pages = text[item["first_page"] : item["first_page"] + item["pages"]]
        printed_text = re.sub(r"\s+", "", "".join(pages))
        if runs and not any(run in printed_text for run in runs):
            problems.append(
                f"{item['doc']}: none of its Chinese (e.g. {runs[0]!r}) is in its pages' "
                f"text; {NO_FONT_HINT}"
            )
    for phrase in WEB_ONLY:
        pages = [i + 1 for i, t in enumerate(text) if phrase in t]
        if pages:
            problems.append(f"web-only text {phrase!r} printed on page(s) {pages[:10]}")
    images = sum(len(page.images) for page in reader.pages)
    expected = sum(item["images"] for item in printed)
    if images < expected:
        problems.append(f"{images} images in the PDF, but the pages showed {expected}")
    return problems


# The home page names the PDF only once it exists: the built page holds an empty marker,
# which link_pdf fills after the PDF is written, so a site built by `make book` alone has
# no dead link to book.pdf.
PDF_MARKER = '<span class="pdf-link"></span>'
PDF_SENTENCE = (
    ' The whole book is also one <a href="../book.pdf">PDF</a> (solutions left out, so it'
    " can be handed out before the answers)."
)
HOME_PAGE = Path("book") / "intro.html"
# and, where it says how long the book is, its printed length
PAGES_MARKER = '<span class="pdf-pages"></span>'


def link_pdf(site: Path) -> None:
    """Fill the home page's markers: the sentence that links to ``site/book.pdf``, and the
    PDF's page count."""
    page = site / HOME_PAGE
    html = page.read_text(encoding="utf-8")
    if PDF_SENTENCE in html:
        return
    for marker in (PDF_MARKER, PAGES_MARKER):
        if html.count(marker) != 1:
            raise ValueError(f"{page} must hold the marker {marker!r} exactly once")
    if not (site / "book.pdf").exists():
        raise FileNotFoundError(f"{site / 'book.pdf'} does not exist: nothing to link to")
    from pypdf import PdfReader

    pages = len(PdfReader(site / "book.pdf").pages)
    html = html.replace(PDF_MARKER, f'<span class="pdf-link">{PDF_SENTENCE}</span>')
    html = html.replace(
        PAGES_MARKER, f'<span class="pdf-pages"> Printed, it runs to {pages} pages.</span>'
    )
    page.write_text(html, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default=ROOT / "_build" / "html", type=Path)
    parser.add_argument("--out", type=Path, help="default: SITE/book.pdf")
    args = parser.parse_args(argv)
    out = args.out or args.site / "book.pdf"
    if not (args.site / "index.html").exists():
        print(
            f"make_pdf: {args.site}/index.html not found; build the book first ('make book')",
            file=sys.stderr,
        )
        return 1
    chromium = bc.find_chromium()
    if chromium is None:
        print(
            "make_pdf: no Chromium found; install Debian's ('apt-get install chromium') or "
            "point $CHROMIUM at one",
            file=sys.stderr,
        )
        return 1
    from pypdf import PdfReader

    docs = toc_documents()
    with tempfile.TemporaryDirectory() as tmp:
        printed = print_pages(args.site, docs, chromium, Path(tmp))
        join(printed, out, chromium, Path(tmp))
    problems = check(out, printed)
    for p in problems:
        print(f"make_pdf: {p}", file=sys.stderr)
    pages = len(PdfReader(out).pages)
    # reported, not failed: where a page breaks depends on the fonts of the machine
    short = short_pages(out, printed)
    print(f"make_pdf: {len(short)} page(s) end more than a third empty mid-chapter"
          + (f": {short[:20]}" if short else ""))
    if not problems and out == args.site / "book.pdf":
        link_pdf(args.site)
    print(
        f"make_pdf: wrote {out} ({len(docs)} documents, {pages} pages, "
        f"{out.stat().st_size / 1e6:.1f} MB){'' if not problems else ' WITH PROBLEMS'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
