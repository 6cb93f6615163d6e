"""Print the whole book, in table-of-contents order, to one PDF: ``_build/html/book.pdf``.

Usage: python scripts/make_pdf.py [SITE_DIR] [--out PATH]

Each page of the built site (``make book`` first) is opened in headless Chromium (Debian's,
as in ``scripts/browser_check.py``), its formulas are typeset by the site's own MathJax,
and it is printed with the site's print styles after three changes made for paper:

* exercise solutions are left out (on the web they hide behind "Click to show"; a printed
  book either shows them all or none, and this one leaves them to the notebooks);
* code folded on the web ("Show code cell source") is left out, its output kept;
* any other folded block (``<details>``) is printed open.

The chapters are joined with ``pypdf`` into one file with a bookmark per chapter, and every
page gets a footer with its chapter's title and its page number in the whole book ("page 37
of 358"): Chromium's own footer would count pages per printed document, so the pages are
printed without one and the footers, printed by Chromium as a separate transparent PDF of
as many pages, are laid over them.

The script then reads the PDF back and fails (exit 1) unless every chapter's title is on its
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

# Runs in each page before printing: what changes for paper (see the module docstring).
FOR_PAPER_JS = r"""
() => {
  let images = 0;
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
  return images;
}
"""


def toc_documents(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Document paths (without suffix) in reading order: the root, then every part's chapters."""
    toc = yaml.safe_load(toc_path.read_text())
    docs = [toc["root"]]
    for part in toc.get("parts", []):
        docs += [chapter["file"] for chapter in part.get("chapters", [])]
    return docs


def print_pages(site: Path, docs: list[str], chromium: str, workdir: Path) -> list[dict]:
    """Print each document's page to its own PDF in ``workdir``; return what was printed."""
    from playwright.sync_api import sync_playwright

    server, base = bc.serve(site)
    printed = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=bc.CHROMIUM_ARGS
            )
            context = browser.new_context(viewport={"width": 1000, "height": 1400})
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
                images = page.evaluate(FOR_PAPER_JS)
                page.evaluate(bc.BROKEN_IMAGES_JS)  # waits until every image has loaded
                title = page.title().split(" \u2014 ")[0].strip()
                path = workdir / f"{i:02d}.pdf"
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


def footers(printed: list[dict], total: int) -> list[str]:
    """Each page's footer: its chapter's title and its page number in the whole book."""
    texts = []
    for item in printed:
        for _ in range(item["pages"]):
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
.footer {{ position: absolute; left: 14mm; right: 14mm; bottom: 6mm; text-align: center;
  font: 8px/1.2 sans-serif; color: #555; }}
</style></head><body>
{sheets}
</body></html>"""


def print_footers(texts: list[str], chromium: str, path: Path) -> None:
    """Print ``texts`` as a PDF with one A4 page per text, the text at the page's foot."""
    from playwright.sync_api import sync_playwright

    sheets = "\n".join(
        f'<div class="sheet"><div class="footer">{_html_escape(t)}</div></div>' for t in texts
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, headless=True, args=bc.CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_content(FOOTERS_HTML.format(sheets=sheets), wait_until="load")
        page.pdf(
            path=str(path),
            format="A4",
            print_background=False,
            margin={"top": "0", "bottom": "0", "left": "0", "right": "0"},
        )
        browser.close()


def join(printed: list[dict], out: Path, chromium: str, workdir: Path) -> None:
    """One PDF from the pages' PDFs, with a bookmark at each chapter's first page and a
    footer numbering the pages through the whole book."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for item in printed:
        start = len(writer.pages)
        for page in PdfReader(item["path"]).pages:
            writer.add_page(page)
        item["first_page"] = start
        item["pages"] = len(writer.pages) - start
        writer.add_outline_item(title=item["title"], page_number=start)
    texts = footers(printed, len(writer.pages))
    footer_pdf = workdir / "footers.pdf"
    print_footers(texts, chromium, footer_pdf)
    footer_pages = PdfReader(footer_pdf).pages
    if len(footer_pages) != len(writer.pages):
        raise RuntimeError(
            f"{len(footer_pages)} footer pages printed for {len(writer.pages)} book pages"
        )
    for page, footer in zip(writer.pages, footer_pages, strict=True):
        page.merge_page(footer)
        page.compress_content_streams()  # merging leaves the page's content uncompressed
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
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


def check(out: Path, printed: list[dict]) -> list[str]:
    """What is wrong with the joined PDF (empty when nothing is)."""
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
    for item in printed:
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


def link_pdf(site: Path) -> None:
    """Fill the home page's PDF marker with the sentence that links to ``site/book.pdf``."""
    page = site / HOME_PAGE
    html = page.read_text(encoding="utf-8")
    if PDF_SENTENCE in html:
        return
    if html.count(PDF_MARKER) != 1:
        raise ValueError(f"{page} must hold the marker {PDF_MARKER!r} exactly once")
    if not (site / "book.pdf").exists():
        raise FileNotFoundError(f"{site / 'book.pdf'} does not exist: nothing to link to")
    page.write_text(html.replace(PDF_MARKER, f'<span class="pdf-link">{PDF_SENTENCE}</span>'),
                    encoding="utf-8")


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
    if not problems and out == args.site / "book.pdf":
        link_pdf(args.site)
    print(
        f"make_pdf: wrote {out} ({len(docs)} documents, {pages} pages, "
        f"{out.stat().st_size / 1e6:.1f} MB){'' if not problems else ' WITH PROBLEMS'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
