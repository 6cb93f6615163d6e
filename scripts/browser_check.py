"""Open every page of the built site in headless Chromium and fail on what a reader would see.

Usage: python scripts/browser_check.py [SITE_DIR] [--screenshot PAGE]

The site is served from 127.0.0.1 by this script. Each page fails the check on:

* a page that does not load (HTTP status >= 400 or a navigation error);
* raw TeX left untypeset (a ``.math`` element MathJax did not render, or
  ``\\(``, ``\\[``, ``$$`` or a TeX command in the visible prose);
* an image that did not load;
* a console error or an uncaught exception;
* a request to any host other than the local server (such requests are
  blocked and reported, so the check itself never touches the network);
* an image in the page without alt text, or whose alt text is a file name;
* test machinery visible to readers (``NBVAL_...`` markers, nbval tag names);
* a code block (a cell's input, or code in the text) or a cell's output that scrolls
  sideways at 1280 px, folded ones included (notebook code lines are 88 columns or
  fewer: book/ruff.toml; the book's style wraps outputs at spaces);
* an output figure shrunk so far on a 1280 px screen that its smallest text is under
  9 px: its natural width over its displayed width above
  ``posemb.lab.plotting.max_figure_shrink()`` (1.85: 8 pt text at 150 dpi is 16.7 px).

Each page is then loaded again on a 390 px wide phone screen, where it fails on:

* a page wider than the screen (naming the elements that stick out);
* a display formula, code block or output cut off instead of scrolling in its box;
* a formula, code block or table that scrolls sideways without the cue that says so
  (a shadow at the edge, from ``book/_static/scroll_cues.js``);
* a display formula wider than the column (long formulas are split over lines);
* the theme's floating "Back to top" button shown over the text after scrolling;
* a figure shrunk to the screen that a tap does not open at its file's own size.

On a 390 px phone and an 800 px tablet screen, the visible menu button (☰) and
page-contents button of every themed page are tapped; each must open its panel
so that the chapter list (or the page's contents) can be read and tapped.

It also checks that the search page finds a word and shows page text around
it (not the launch buttons), and saves a screenshot of one chapter under
``_build/screenshots/``.

Chromium is Debian's (``apt-get install chromium``), driven through
Playwright's Python package with ``executable_path``; Playwright's own browser
download is never used. Without Chromium the check fails when ``CI`` is set and
is skipped, with a message saying how to enable it, otherwise.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Flags that keep Chromium from reaching out on its own (updates, sync, ...).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Pages that are Sphinx machinery rather than reading matter still get loaded;
# these folders hold assets, not pages.
REDIRECT_RE = re.compile(r'http-equiv="refresh"[^>]*url=([^"]+)"', re.IGNORECASE)
SKIP_FOLDERS = ("_static", "_sources", "_images", "_downloads", "_sphinx_design_static")
# reveal.js's own files, copied into the kit for the slides
SKIP_PATHS = ("kit/reveal.js/",)
SLIDES_RE = re.compile(r"^kit/session-\d+-slides\.html$")

# Runs in the page: collect the visible prose (not code, not outputs, not
# rendered math) and report TeX that should have been typeset.
RAW_TEX_JS = r"""
() => {
  const skip = "pre, code, script, style, mjx-container, .MathJax, .highlight, .output, "
             + "textarea, .cell_output, .search, #searchbox";
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tex = new RegExp(String.raw`\\\(|\\\)|\\\[|\\\]|\$\$|`
      + String.raw`\\(frac|sum|mathbf|mathrm|theta|left|right|begin|end|cdot|sqrt)\b`);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const text = node.textContent;
    if (tex.test(text)) found.push(text.trim().slice(0, 80));
  }
  const untypeset = [];
  for (const el of document.querySelectorAll(".math")) {
    if (!el.querySelector("mjx-container")) untypeset.push(el.textContent.trim().slice(0, 80));
  }
  return {found, untypeset};
}
"""

PHONE_WIDTH = 390
# Widths below the theme's 992 px breakpoint, where the sidebars are closed behind buttons.
NAV_WIDTHS = (PHONE_WIDTH, 800)
# Each button and what it must open: (class, button, panel, the panel's links that must show).
NAV_PANELS = (
    ("primary-toggle", "menu (☰)", "chapter list", "#pst-primary-sidebar-modal nav.bd-docs-nav a"),
    ("secondary-toggle", "page-contents", "page contents", "#pst-secondary-sidebar-modal nav a"),
)
# What the page's launch and download buttons read like when their text is run together.
BUTTONS_RE = re.compile(r"\.ipynb\s+\.(md|pdf)|Binder\s+Colab|Colab\s+Binder|Open issue")

# Runs in the page: alt text of every image in the main content, and test markers.
READER_JS = r"""
() => {
  const fileLike = /(\.(png|jpe?g|svg|gif|webp)$)|(^[0-9a-f]{16,})/i;
  const badAlt = [];
  for (const img of document.querySelectorAll("main img")) {
    const alt = (img.getAttribute("alt") || "").trim();
    if (!alt || fileLike.test(alt)) {
      badAlt.push(`${img.getAttribute("src")} (alt ${JSON.stringify(alt)})`);
    }
  }
  const markers = (document.body.innerText.match(/NBVAL_\w+|nbval-[\w-]+|raises-exception/g) || []);
  // book/_static/figure_zoom.js links every output figure to its full-size file (phones)
  const noZoom = [...document.querySelectorAll("main .cell_output img")]
      .filter(img => !img.closest("a")).map(img => img.getAttribute("src"));
  return {badAlt, markers: [...new Set(markers)], noZoom};
}
"""

# Runs in the page at phone width: what sticks out of the screen, and what is cut off.
PHONE_JS = r"""
(width) => {
  const wide = [];
  const pageWidth = document.documentElement.scrollWidth;
  // an element inside a box that scrolls or clips does not widen the page
  const contained = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  if (pageWidth > width + 1) {
    for (const el of document.querySelectorAll("body *")) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > width + 1 && !contained(el)
          && !el.closest(".bd-sidebar-secondary, .bd-sidebar-primary, .skip-link")) {
        // report the outermost element that sticks out, not all its children
        const parent = el.parentElement;
        if (parent && parent.getBoundingClientRect().right > width + 1) continue;
        const name = el.tagName.toLowerCase() + (el.className && typeof el.className === "string"
            ? "." + el.className.trim().split(/\s+/).join(".") : "");
        wide.push(`${name} (right edge ${Math.round(r.right)} px)`);
      }
    }
  }
  // content reaching `right` is cut off when the nearest box (el or an ancestor) that does
  // not let it spill is narrower and hides instead of scrolling
  const cutOff = (el, right) => {
    for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox === "visible") continue;
      if (a.getBoundingClientRect().right + 1 >= right) return false;
      return !["auto", "scroll"].includes(ox);
    }
    return false;
  };
  const clipped = [];
  const wideMath = [];
  for (const el of document.querySelectorAll('mjx-container[display="true"]')) {
    const math = el.querySelector("mjx-math") || el;
    if (cutOff(el, math.getBoundingClientRect().right)) {
      clipped.push(`formula: ${el.textContent.trim().slice(0, 60)}`);
    } else if (el.scrollWidth > el.clientWidth + 1) {
      // it scrolls, with a cue; a long formula is split over lines instead
      wideMath.push(el.textContent.trim().slice(0, 60));
    }
  }
  for (const el of document.querySelectorAll("main pre, main div.cell_output, main table")) {
    // scrollWidth is in the element's own pixels, the box in the screen's: a slide that
    // reveal.js scales down to the screen has the two differ by its scale
    const box = el.getBoundingClientRect();
    const scale = el.offsetWidth ? box.width / el.offsetWidth : 1;
    if (cutOff(el, box.left + el.scrollWidth * scale)) {
      clipped.push(`${el.tagName.toLowerCase()}: ${el.textContent.trim().slice(0, 60)}`);
    }
  }
  // a box that scrolls sideways must show that it does (book/_static/scroll_cues.js)
  const noCue = [];
  const scrollers = 'mjx-container[display="true"], main pre, main table, '
      + "main .pst-scrollable-table-container";
  for (const el of document.querySelectorAll(scrollers)) {
    const ox = getComputedStyle(el).overflowX;
    if (["auto", "scroll"].includes(ox) && el.clientWidth > 0 && el.scrollLeft === 0
        && el.scrollWidth > el.clientWidth + 1) {
      // the cue must be drawn, not only requested: the parent's shade over the right edge
      const host = el.parentElement;
      const shade = host && getComputedStyle(host, "::after");
      const drawn = host && host.classList.contains("scroll-cue-right")
          && shade.content !== "none" && shade.backgroundImage !== "none"
          && parseFloat(shade.width) > 0;
      if (!drawn) noCue.push(`${el.tagName.toLowerCase()}: ${el.textContent.trim().slice(0, 60)}`);
    }
  }
  const viewport = !!document.querySelector('meta[name="viewport"]');
  return {pageWidth, viewport, wide: wide.slice(0, 5), clipped: clipped.slice(0, 5),
          noCue: noCue.slice(0, 5), wideMath: wideMath.slice(0, 5)};
}
"""

# Runs in the page: scroll down, then a little up (when the theme shows its floating
# "Back to top" button), and say whether a floating button is then drawn over the text.
BACK_TO_TOP_JS = r"""
async () => {
  const wait = (ms) => new Promise(r => setTimeout(r, ms));
  if (document.documentElement.scrollHeight < 3 * window.innerHeight) return false;
  window.scrollTo(0, 2 * window.innerHeight);
  await wait(150);
  window.scrollTo(0, 1.5 * window.innerHeight);
  await wait(400);
  const button = document.getElementById("pst-back-to-top");
  let shown = false;
  if (button) {
    const r = button.getBoundingClientRect(), s = getComputedStyle(button);
    shown = r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"
        && r.bottom > 0 && r.top < window.innerHeight;
  }
  window.scrollTo(0, 0);
  await wait(100);
  return shown;
}
"""

# Runs in the page: which of the buttons of a class are visible, and whether the page has
# the theme's sidebar (pages without one, like the tests' bare pages, have no menu).
TOGGLES_JS = r"""
(cls) => {
  const shown = (el) => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden"
        && r.right > 0 && r.left < window.innerWidth && r.bottom > 0 && r.top < window.innerHeight;
  };
  const sidebar = cls === "primary-toggle" ? "#pst-primary-sidebar" : "#pst-secondary-sidebar";
  const side = document.querySelector(sidebar);
  return {
    themed: !!side,
    // a page whose secondary sidebar holds no link has no contents to open
    hasLinks: !!side && !!side.querySelector("nav a"),
    visible: [...document.querySelectorAll("." + cls)].map(shown),
  };
}
"""

# Runs in the page after a tap: is a link of the opened panel on screen and on top, so
# that a reader can see it and tap it (not merely present in the DOM)?
PANEL_SHOWN_JS = r"""
(selector) => {
  for (const a of document.querySelectorAll(selector)) {
    const r = a.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0 || r.bottom <= 0 || r.top >= window.innerHeight
        || r.right <= 0 || r.left >= window.innerWidth) continue;
    const x = Math.min(Math.max(r.left + 2, 0), window.innerWidth - 1);
    const y = Math.min(Math.max(r.top + r.height / 2, 0), window.innerHeight - 1);
    const top = document.elementFromPoint(x, y);
    if (top && (top === a || a.contains(top))) return true;
  }
  return false;
}
"""

# Runs in the page (after the images loaded): natural and displayed width of each figure.
FIGURE_SIZES_JS = r"""
() => [...document.querySelectorAll("main .cell_output img")].map(img => ({
  src: img.getAttribute("src"),
  natural: img.naturalWidth,
  shown: img.getBoundingClientRect().width,
}))
"""

# Runs in the page at 1280 px, with every dropdown and folded cell opened: code blocks
# (cells' inputs and Markdown's code) and cell outputs that scroll sideways, each with
# its longest line.
WIDE_CODE_JS = r"""
async () => {
  for (const d of document.querySelectorAll("main details")) d.open = true;
  // sphinx-togglebutton's dropdowns (solutions, admonitions): open as a reader would
  for (const b of document.querySelectorAll("main button.toggle-button")) {
    if (b.classList.contains("toggle-button-hidden")) b.click();
  }
  await new Promise(r => setTimeout(r, 400));
  const wide = [];
  const boxes = "main div.highlight pre, main .cell_output pre, main .output pre";
  for (const pre of new Set(document.querySelectorAll(boxes))) {
    if (pre.clientWidth > 0 && pre.scrollWidth > pre.clientWidth + 1) {
      const lines = pre.textContent.split("\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      const kind = pre.closest(".cell_output, .output") ? "output" : "code block";
      wide.push({kind, width: pre.scrollWidth, shown: pre.clientWidth, line: longest.trim()});
    }
  }
  return wide;
}
"""

BROKEN_IMAGES_JS = r"""
async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) { img.loading = "eager"; }
  await Promise.all(imgs.map(img => img.complete ? null :
      new Promise(r => { img.onload = r; img.onerror = r; setTimeout(r, 5000); })));
  return imgs.filter(img => !(img.complete && img.naturalWidth > 0))
             .map(img => img.getAttribute("src"));
}
"""

WAIT_FOR_MATHJAX_JS = r"""
async () => {
  // Sphinx marks formulas with .math; the kit's slides only load MathJax
  const loads = [...document.scripts].some(s => /mathjax/i.test(s.src || ""));
  if (!document.querySelector(".math") && !loads) return "no math";
  for (let i = 0; i < 100 && !(window.MathJax && window.MathJax.startup
                              && window.MathJax.startup.promise); i++) {
    await new Promise(r => setTimeout(r, 100));
  }
  if (!(window.MathJax && window.MathJax.startup)) return "MathJax did not load";
  await window.MathJax.startup.promise;
  return "typeset";
}
"""


@dataclass
class PageReport:
    url: str
    problems: list[str] = field(default_factory=list)


def find_chromium() -> str | None:
    """The path of a system Chromium, from $CHROMIUM or the usual names."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The browser drops connections it no longer needs (a page navigated away while
        # a large file was still streaming): a broken pipe then is not a page's problem.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``root`` on 127.0.0.1 at a free port; return the server and its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def redirect_target(path: Path) -> str | None:
    """The target of a meta-refresh redirect stub (Jupyter Book's index.html), else None."""
    match = REDIRECT_RE.search(path.read_text(encoding="utf-8", errors="replace")[:2000])
    return match.group(1) if match else None


def site_pages(root: Path) -> list[str]:
    """Every HTML page of the site, as paths relative to ``root``.

    A redirect stub is replaced by its target (which must exist), since the
    browser leaves the stub as soon as it loads.
    """
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_FOLDERS or "jupyter_execute" in rel.parts:
            continue
        if rel.as_posix().startswith(SKIP_PATHS):
            continue
        target = redirect_target(path)
        if target is not None:
            resolved = (path.parent / target).resolve()
            if not resolved.exists():
                raise FileNotFoundError(f"{rel} redirects to {target}, which does not exist")
            continue
        pages.append(rel.as_posix())
    return pages


def check_site(
    root: Path,
    chromium: str,
    pages: list[str] | None = None,
    screenshot: str | None = None,
    screenshot_to: Path | None = None,
    search_word: str | None = None,
) -> list[PageReport]:
    """Load ``pages`` (default: all) of the site in ``root``; return one report per page."""
    from playwright.sync_api import sync_playwright

    server, base = serve(root)
    local = urlsplit(base).netloc
    reports: list[PageReport] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            foreign: list[str] = []

            def route(r):
                parts = urlsplit(r.request.url)
                if parts.scheme in ("data", "blob", "about") or parts.netloc == local:
                    r.continue_()
                else:
                    foreign.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            phone = browser.new_context(
                viewport={"width": PHONE_WIDTH, "height": 844}, is_mobile=True, has_touch=True
            )
            phone.route("**/*", route)
            tablet = browser.new_context(
                viewport={"width": NAV_WIDTHS[1], "height": 1000}, is_mobile=True, has_touch=True
            )
            tablet.route("**/*", route)
            for rel in pages if pages is not None else site_pages(root):
                report = _check_page(context, f"{base}/{rel}", foreign)
                if screenshot and rel == screenshot and screenshot_to is not None:
                    screenshot_to.parent.mkdir(parents=True, exist_ok=True)
                    context.pages[-1].screenshot(path=str(screenshot_to), full_page=False)
                context.pages[-1].close()
                if not any(p.startswith("did not load") for p in report.problems):
                    report.problems += _check_phone(phone, f"{base}/{rel}")
                    report.problems += _check_navigation(tablet, f"{base}/{rel}", NAV_WIDTHS[1])
                reports.append(report)
            if search_word:
                reports.append(_check_search(context, base, search_word, foreign))
            if (root / EXPLORERS).exists() and (pages is None or EXPLORERS in pages):
                reports.append(_check_explorers(context, base))
            browser.close()
    finally:
        server.shutdown()
    return reports


def _check_page(context, url: str, foreign: list[str]) -> PageReport:
    report = PageReport(url)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    foreign.clear()
    try:
        response = page.goto(url, wait_until="load", timeout=30_000)
    except Exception as exc:  # navigation errors are what this check reports
        report.problems.append(f"did not load: {exc}")
        return report
    if response is None or response.status >= 400:
        status = None if response is None else response.status
        report.problems.append(f"did not load: HTTP status {status}")
        return report
    mathjax = page.evaluate(WAIT_FOR_MATHJAX_JS)
    if mathjax == "MathJax did not load":
        report.problems.append("page has math but MathJax did not load")
    tex = page.evaluate(RAW_TEX_JS)
    for text in tex["untypeset"]:
        report.problems.append(f"math left untypeset: {text!r}")
    for text in tex["found"]:
        report.problems.append(f"raw TeX in the prose: {text!r}")
    for src in page.evaluate(BROKEN_IMAGES_JS):
        report.problems.append(f"image did not load: {src}")
    from posemb.lab.plotting import max_figure_shrink

    limit = max_figure_shrink()
    for fig in page.evaluate(FIGURE_SIZES_JS):
        # a figure in a closed dropdown is not displayed, and cannot be measured
        if fig["shown"] > 0 and fig["natural"] / fig["shown"] > limit:
            report.problems.append(
                f"figure shrunk {fig['natural'] / fig['shown']:.2f}x (limit {limit:.2f}, so its"
                f" smallest text is under 9 px at 1280 px): {fig['src']}; draw it narrower"
            )
    reader = page.evaluate(READER_JS)
    for img in reader["badAlt"]:
        report.problems.append(f"image without real alt text: {img}")
    for marker in reader["markers"]:
        report.problems.append(f"test marker visible to readers: {marker!r}")
    for src in reader["noZoom"]:
        report.problems.append(f"figure cannot be opened at full size (no link): {src}")
    # last, because it opens the page's dropdowns and folded cells
    for box in page.evaluate(WIDE_CODE_JS):
        hint = ("lines of 88 columns or fewer fit" if box["kind"] == "code block"
                else "the style wraps outputs at spaces: break the long word")
        report.problems.append(
            f"{box['kind']} scrolls sideways at 1280 px ({box['width']} px in {box['shown']}"
            f" px; {hint}): {box['line'][:80]!r}"
        )
    if SLIDES_RE.match(urlsplit(url).path.lstrip("/")):
        # the kit's slides: reveal.js started, with a title, a demonstration and figures
        state = page.evaluate(
            "() => window.Reveal && Reveal.isReady() ? Reveal.getTotalSlides() : -1"
        )
        if state < 3:
            report.problems.append(f"slides did not start (reveal.js state {state})")
    page.wait_for_load_state("networkidle", timeout=10_000)
    for text in errors:
        report.problems.append(f"console error: {text}")
    for foreign_url in sorted(set(foreign)):
        report.problems.append(f"request to another host (blocked): {foreign_url}")
    return report


def _check_phone(context, url: str) -> list[str]:
    """Problems of ``url`` on a phone-width screen: overflow of the page, clipped boxes."""
    page = context.new_page()
    problems = []
    try:
        page.goto(url, wait_until="load", timeout=30_000)
        page.evaluate(WAIT_FOR_MATHJAX_JS)
        found = page.evaluate(PHONE_JS, PHONE_WIDTH)
        found["backToTop"] = page.evaluate(BACK_TO_TOP_JS)
        problems += _tap_menus(page, PHONE_WIDTH)
        problems += _tap_figure(page, PHONE_WIDTH)
    finally:
        page.close()
    if not found["viewport"]:
        problems.append("no <meta name=\"viewport\">: a phone lays the page out 980 px wide")
    elif found["pageWidth"] > PHONE_WIDTH + 1:
        problems.append(
            f"at {PHONE_WIDTH} px the page is {found['pageWidth']} px wide: "
            + "; ".join(found["wide"] or ["(no single element found)"])
        )
    for what in found["clipped"]:
        problems.append(f"at {PHONE_WIDTH} px cut off instead of scrolling: {what!r}")
    for what in found["wideMath"]:
        problems.append(
            f"at {PHONE_WIDTH} px a display formula is wider than the column (split it over "
            f"lines with an aligned environment): {what!r}"
        )
    for what in found["noCue"]:
        problems.append(f"at {PHONE_WIDTH} px scrolls sideways with no visible cue: {what!r}")
    if found["backToTop"]:
        problems.append(f"at {PHONE_WIDTH} px a floating 'Back to top' button covers the text")
    return problems


def _tap_menus(page, width: int) -> list[str]:
    """Tap the page's visible menu and page-contents buttons; report a panel that stays shut.

    The page must be loaded at ``width`` (below the theme's breakpoint). A themed page
    must show a menu button; a page-contents button is needed only where the page has
    contents to list.
    """
    problems = []
    for cls, name, panel, links in NAV_PANELS:
        found = page.evaluate(TOGGLES_JS, cls)
        if not found["themed"]:
            continue
        visible = [i for i, shown in enumerate(found["visible"]) if shown]
        if not visible:
            if cls == "primary-toggle" or found["hasLinks"]:
                problems.append(f"at {width} px no {name} button (.{cls}) is visible")
            continue
        button = page.locator(f".{cls}").nth(visible[0])
        button.tap()
        try:
            page.wait_for_function(PANEL_SHOWN_JS, arg=links, timeout=3_000)
        except Exception:  # a timeout is the finding
            problems.append(f"at {width} px tapping the {name} button does not open the {panel}")
        page.keyboard.press("Escape")
        page.wait_for_timeout(100)
    return problems


# Runs in the page: the index of the first output figure shown smaller than its file.
SHRUNK_FIGURE_JS = r"""
() => [...document.querySelectorAll("main .cell_output img")].findIndex(img => {
  const shown = img.getBoundingClientRect().width;
  return shown > 0 && img.naturalWidth > shown * 1.1;
})
"""
VIEWER_JS = r"""
() => {
  const img = document.querySelector(".figure-viewer img");
  return img ? [img.getBoundingClientRect().width, img.naturalWidth] : null;
}
"""


def _tap_figure(page, width: int) -> list[str]:
    """Tap the first figure shrunk to the screen: it must open at its file's own size, and
    Escape must close it (book/_static/figure_zoom.js)."""
    index = page.evaluate(SHRUNK_FIGURE_JS)
    if index < 0:
        return []
    page.locator("main .cell_output img").nth(index).tap()
    try:
        page.wait_for_function(VIEWER_JS, timeout=3_000)
    except Exception:  # a timeout is the finding
        return [f"at {width} px tapping a shrunk figure does not open it at full size"]
    shown, natural = page.evaluate(VIEWER_JS)
    problems = []
    if shown < natural * 0.99:
        problems.append(f"at {width} px the figure viewer shows {shown:.0f} of {natural} px")
    page.keyboard.press("Escape")
    if page.evaluate(VIEWER_JS) is not None:
        problems.append(f"at {width} px Escape does not close the figure viewer")
    return problems


def _check_navigation(context, url: str, width: int) -> list[str]:
    """Problems of ``url``'s menu buttons on a screen ``width`` px wide."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="load", timeout=30_000)
        return _tap_menus(page, width)
    finally:
        page.close()


EXPLORERS = "book/explorers.html"


def _check_explorers(context, base: str) -> PageReport:
    """Drive the explorers page: its readouts agree with posemb, and the figures react."""
    import posemb

    url = f"{base}/{EXPLORERS}"
    report = PageReport(url + " (interactive)")
    page = context.new_page()
    page.goto(url, wait_until="load", timeout=30_000)
    rope = page.locator('[data-explorer="rope"]')
    bias = page.locator('[data-explorer="bias"]')

    def snapshot(root, plot):
        return root.locator(f'[data-plot="{plot}"]').evaluate("c => c.toDataURL()")

    def readout(root, name):
        return root.locator(f'[data-readout="{name}"]').inner_text()

    # RoPE: YaRN, factor 4, d 64, base 10000, context 4096 (the page's defaults) -> posemb
    _, factor = posemb.rope_frequencies(
        64, 10000.0, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}
    )
    if readout(rope, "attention-factor") != f"{factor:.4f}":
        report.problems.append(
            f"RoPE explorer: attention factor {readout(rope, 'attention-factor')}"
            f" != posemb's {factor:.4f}"
        )
    inv = posemb.inverse_frequencies(64, 10000.0)
    critical = int((2 * 3.141592653589793 / inv > 4096).nonzero()[0])
    if readout(rope, "critical") != str(critical):
        report.problems.append(
            f"RoPE explorer: critical pair {readout(rope, 'critical')} != {critical}"
        )
    before = snapshot(rope, "wavelength")
    rope.locator('[data-control="factor"]').fill("16")
    if snapshot(rope, "wavelength") == before:
        report.problems.append("RoPE explorer: moving the factor slider did not change the figure")
    _, factor16 = posemb.rope_frequencies(
        64, 10000.0, {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096}
    )
    if readout(rope, "attention-factor") != f"{factor16:.4f}":
        report.problems.append("RoPE explorer: the attention factor did not follow the slider")
    # biases: ALiBi slope of head 3 of 8, then a change of head moves the heat map
    bias.locator('[data-control="head"]').fill("3")
    slope = posemb.alibi_slopes(8)[3].item()
    shown = readout(bias, "detail")
    if (
        not shown.startswith("slope of head 3: ")
        or abs(float(shown.split(": ")[1]) / slope - 1) > 1e-5
    ):
        report.problems.append(f"bias explorer: {shown!r}, posemb's slope {slope:.6g}")
    before = snapshot(bias, "bias")
    bias.locator('[data-control="head"]').fill("6")
    if snapshot(bias, "bias") == before:
        report.problems.append("bias explorer: moving the head slider did not change the heat map")
    # controls that mean nothing for a choice are out of the way: the factor without scaling,
    # the head sliders for T5's buckets (one map for every head)
    rope.locator('[data-control="method"]').select_option("none")
    if not rope.locator('[data-control="factor"]').is_disabled():
        report.problems.append("RoPE explorer: the factor slider is active with scaling 'none'")
    bias.locator('[data-control="kind"]').select_option("t5")
    for name in ("head", "heads"):
        if bias.locator(f'[data-control="{name}"]').is_visible():
            report.problems.append(f"bias explorer: the {name} slider shows for T5 buckets")
    page.close()
    return report


def _check_search(context, base: str, word: str, foreign: list[str]) -> PageReport:
    url = f"{base}/search.html?q={word}"
    report = PageReport(url)
    page = context.new_page()
    foreign.clear()
    page.goto(url, wait_until="load", timeout=30_000)
    try:
        page.wait_for_selector("ul.search li", timeout=15_000)
    except Exception:
        report.problems.append(f"search for {word!r} returned no result")
    else:
        # snippets are page text around the word, not the launch buttons (Binder, Colab...)
        try:
            page.wait_for_selector("ul.search li p.context", timeout=15_000)
        except Exception:
            report.problems.append(f"search for {word!r} shows no text snippets")
        snippets = page.eval_on_selector_all(
            "ul.search li p.context", "ps => ps.map(p => p.textContent)"
        )
        for text in snippets:
            if BUTTONS_RE.search(text):
                report.problems.append(f"search snippet shows buttons, not text: {text[:80]!r}")
        if not any(s.strip(" .") for s in snippets):
            report.problems.append(f"search for {word!r}: every snippet is empty")
    for foreign_url in sorted(set(foreign)):
        report.problems.append(f"request to another host (blocked): {foreign_url}")
    page.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default="_build/html", type=Path)
    parser.add_argument(
        "--screenshot",
        default="book/foundations/background.html",
        help="page to save a screenshot of (relative to the site)",
    )
    parser.add_argument("--search-word", default="rotary")
    args = parser.parse_args(argv)

    if not (args.site / "index.html").exists():
        print(
            f"browser check: {args.site}/index.html not found; build the book first ('make book')",
            file=sys.stderr,
        )
        return 1
    chromium = find_chromium()
    if chromium is None:
        how = (
            "install Debian's Chromium ('sudo apt-get install chromium') "
            "or point $CHROMIUM at a Chromium binary"
        )
        if os.environ.get("CI"):
            print(f"browser check FAILED: no Chromium found in CI; {how}", file=sys.stderr)
            return 1
        print(f"browser check SKIPPED: no Chromium found. To enable it, {how}.")
        return 0

    shot = Path("_build/screenshots") / (Path(args.screenshot).stem + ".png")
    reports = check_site(
        args.site,
        chromium,
        screenshot=args.screenshot,
        screenshot_to=shot,
        search_word=args.search_word,
    )
    bad = [r for r in reports if r.problems]
    for r in bad:
        print(f"FAIL {r.url}", file=sys.stderr)
        for p in r.problems:
            print(f"  - {p}", file=sys.stderr)
    print(
        f"browser check: {len(reports)} page(s) checked in {chromium}, {len(bad)} with problems; "
        f"screenshot {shot if shot.exists() else '(none)'}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
