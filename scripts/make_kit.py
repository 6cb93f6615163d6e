"""The instructor's kit, from the built site: an answer key, and per syllabus session a
problem set and slides.

Usage: python scripts/make_kit.py [SITE_DIR]

Writes into ``SITE/kit/`` (``make pdf`` runs it after the book's PDF):

* ``answer-key.pdf``: every chapter's concept questions and exercises, each followed by
  its solution, chapter by chapter, printed from the built pages as ``make_pdf`` prints
  the book (same footers, same checks for blank pages and lost text);
* ``session-N-problems.pdf``: the exercises that ``book/syllabus.md`` sets for session N
  (homework, for those who finish early, longer runs), without solutions;
* ``session-N-slides.html``: reveal.js slides written by nbconvert from the chapters' own
  cells: a title slide, the session's figures (the stored outputs of the figure cells of
  its reading, with their captions and alt text), its numbered equations, and the
  demonstration cells the syllabus names, with their stored outputs. reveal.js is the
  copy that the sphinx-revealjs package ships, copied to ``SITE/kit/reveal.js``; formulas
  are typeset by the site's own MathJax, so the slides work offline.

Then the syllabus page's marker under each session is filled with links to that session's
problem set and slides, and the answer key (before that, the page has no dead links).
The script fails (exit 1) on a session whose exercises or demonstration it cannot find.
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_check as bc  # noqa: E402
import make_pdf  # noqa: E402

ROOT = make_pdf.ROOT
SYLLABUS = ROOT / "book" / "syllabus.md"
KIT = "kit"
ANSWER_KEY = "answer-key.pdf"
KIT_MARKER = '<span class="kit-links" data-session="{n}"></span>'
KEY_MARKER = '<span class="kit-links" data-session="key"></span>'

# Runs in a chapter's page before it is printed: keep only its exercises. Called with
# {mode: "key"} (concept questions, then exercises, each with its solution) or
# {mode: "set", labels: [...]} (those exercises, in that order, without solutions).
EXERCISES_JS = r"""
({mode, labels, groups}) => {
  const article = document.querySelector("article.bd-article");
  const exercises = [...article.querySelectorAll("div.exercise")];
  const solutionOf = {};
  for (const sol of article.querySelectorAll("div.solution")) {
    const link = sol.querySelector(".admonition-title a[href^='#']");
    if (link) solutionOf[link.getAttribute("href").slice(1)] = sol;
  }
  const kept = document.createElement("section");
  const sections = mode === "key"
    ? [["Concept questions", (e) => e.id.includes("-cq-")],
       ["Exercises", (e) => !e.id.includes("-cq-")]]
    : [["", (e) => labels.includes(e.id)]];
  let count = 0;
  for (const [title, pick] of sections) {
    const chosen = exercises.filter(pick);
    if (mode === "set") chosen.sort((a, b) => labels.indexOf(a.id) - labels.indexOf(b.id));
    if (!chosen.length) continue;
    if (title) {
      const h = document.createElement("h2");
      h.textContent = title;
      kept.append(h);
    }
    let shownGroup = null;
    for (const ex of chosen) {
      // a problem set names the syllabus's groups: homework, for those who finish early
      if (mode === "set" && groups && groups[ex.id] !== shownGroup) {
        shownGroup = groups[ex.id];
        const h = document.createElement("h2");
        h.textContent = shownGroup;
        kept.append(h);
      }
      kept.append(ex);
      count += 1;
      const sol = solutionOf[ex.id];
      if (mode === "key" && sol) {
        // printed, not removed as the book's PDF removes solutions
        sol.classList.remove("solution", "dropdown");
        sol.classList.add("kit-solution");
        kept.append(sol);
      } else if (mode === "key") {
        const note = document.createElement("p");
        note.className = "kit-no-solution";
        note.innerHTML = "<em>The chapter prints no solution for this exercise: it asks for " +
          "a longer run or an open answer.</em>";
        kept.append(note);
      }
    }
  }
  // the theme prints the chapter's title outside the article; a page without that keeps
  // the article's own
  const title = article.querySelector("h1");
  if (title && !document.querySelector("#jb-print-docs-body > h1")) kept.prepend(title);
  article.replaceChildren(kept);
  // nothing below the last line: a solution box that ends at the foot of a page must not
  // push its bottom padding and border onto a page of their own
  for (let last = kept.lastElementChild; last; last = last.lastElementChild) {
    last.style.marginBottom = "0";
    last.style.paddingBottom = "0";
  }
  return count;
}
"""


@dataclass
class Session:
    number: int
    title: str
    reading: list[str]  # document paths, e.g. book/foundations/background
    exercises: list[str]  # exercise labels, in the syllabus's order
    demos: list[str] = field(default_factory=list)  # section titles of the demonstrations
    # each exercise's group in the syllabus ("Homework", "For students who finish early")
    groups: dict[str, str] = field(default_factory=dict)


def sessions(syllabus: Path = SYLLABUS) -> list[Session]:
    """The syllabus's sessions: reading, exercises set and demonstrations named."""
    text = syllabus.read_text(encoding="utf-8")
    pattern = re.compile(r"^### Session (\d+): ([^\n]*)\n(.*?)(?=^### |^## |\Z)", re.M | re.S)
    out = []
    for number, title, body in pattern.findall(text):
        reading = re.search(r"\*\*Reading:\*\*(.*?)\n\n", body, re.S)
        docs = re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", reading.group(1) if reading else "")
        labels, groups, group = [], {}, "Exercises"
        for line in body.splitlines():
            heading = re.fullmatch(r"\*{1,2}([^*]+):\*{1,2}", line.strip())
            if heading:
                group = heading.group(1).strip()
            for lab in re.findall(r"\{numref\}`([^`]+)`", line):
                if "-ex-" in lab and lab not in groups:
                    labels.append(lab)
                    groups[lab] = group
        demo = re.search(r"\*\*Live demonstration\.?\*\*(.*?)\*\*Discussion", body, re.S)
        demos = [" ".join(d.split()) for d in
                 re.findall(r'section\s+"([^"]+)"', demo.group(1) if demo else "")]
        out.append(Session(int(number), title.strip(), [f"book/{d}" for d in docs], labels,
                           demos, groups))
    return out


def twin(doc: str) -> Path:
    path = ROOT / f"{doc}.ipynb"
    return path.parent / "md_src" / f"{path.stem}.md"


def exercise_docs() -> dict[str, str]:
    """Every exercise label of the book -> the document that holds it."""
    where = {}
    for doc in make_pdf.toc_documents():
        if (ROOT / f"{doc}.ipynb").exists():
            for label in re.findall(r"^:label:\s*(\S+)", twin(doc).read_text(encoding="utf-8"),
                                    re.M):
                where[label] = doc
    return where


def chapters() -> list[str]:
    """The numbered chapters, in reading order (the parts before the back matter)."""
    return [d for caption, docs in make_pdf.toc_parts() if caption and caption != "Back matter"
            for d in docs]


def _front(heading: str, subtitle: str):
    def front(printed, chromium, workdir):
        path = workdir / f"front-{re.sub(r'[^a-z0-9]+', '-', heading.lower())}.pdf"
        make_pdf.print_html(make_pdf.title_html(make_pdf._config(), heading, subtitle),
                            chromium, path)
        return [{"doc": make_pdf.TITLE_PAGE, "title": "", "path": path, "images": 0}]
    return front


def print_kit_pdf(site: Path, docs: list[str], prepare_arg: dict, out: Path, chromium: str,
                  workdir: Path, heading: str, subtitle: str) -> list[str]:
    """Print ``docs`` reduced to their exercises into ``out``; return its problems."""
    name = out.stem + "-"
    printed = make_pdf.print_pages(site, docs, chromium, workdir,
                                   prepare=(EXERCISES_JS, prepare_arg), name=name)
    make_pdf.join(printed, out, chromium, workdir, front=_front(heading, subtitle))
    return [f"{out.name}: {p}" for p in make_pdf.check(out, printed, book=False)]


# --- slides ------------------------------------------------------------------------------

SLIDES_TEMPLATE = "posemb_slides"
# nbconvert's reveal template, changed so that nothing is fetched from another host: no
# jQuery, require.js or mermaid; reveal.js and its notes plugin by plain script tags from
# the kit's own copy; MathJax 3 from the site instead of MathJax 2 from a CDN.
SLIDES_TEMPLATE_J2 = r"""{%- extends 'reveal/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>
window.MathJax = {tex: {inlineMath: [["$", "$"], ["\\(", "\\)"]]}};
</script>
<script src="../_static/mathjax/tex-chtml.js"></script>
<style>
.reveal .slides section img { max-height: 560px; display: block; margin: 0 auto; }
.reveal .slides section p.caption { font-size: 0.75em; text-align: left; }
/* a slide taller than the screen (a long demonstration cell) scrolls instead of being cut */
.reveal .slides > section, .reveal .slides > section > section {
  max-height: 760px; overflow-y: auto; }
.reveal .slides section pre { font-size: 13px; line-height: 1.3; white-space: pre-wrap;
  width: auto; max-width: 100%; box-sizing: border-box; margin: 0; }
.reveal .slides section h1 { font-size: 1.5em; }
.reveal .slides section h2 { font-size: 1.1em; }
</style>
{%- endblock html_head_js_mathjax -%}
{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({controls: true, progress: true, history: true, slideNumber: "c/t",
                   plugins: [RevealNotes], width: 1100, height: 760});
</script>
{% endblock footer_js %}
"""


def _slide(cell: nbformat.NotebookNode, kind: str = "slide") -> nbformat.NotebookNode:
    cell.metadata["slideshow"] = {"slide_type": kind}
    return cell


def _figure_slides(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """A slide per figure of the chapter's main line: the stored image, its caption, its
    alt text (figure cells carry them in their ``mystnb`` metadata)."""
    slides = []
    for cell in nb.cells:
        fig = cell.metadata.get("mystnb", {})
        if cell.cell_type != "code" or "figure" not in fig:
            continue
        png = next((o["data"]["image/png"] for o in cell.get("outputs", [])
                    if "image/png" in o.get("data", {})), None)
        if png is None:
            continue
        caption = fig["figure"].get("caption", "")
        alt = fig.get("image", {}).get("alt", caption)
        body = (f'<img alt="{html.escape(alt, quote=True)}" '
                f'src="data:image/png;base64,{png.strip()}">\n\n'
                f'<p class="caption">{html.escape(caption)}</p>')
        slides.append(_slide(nbformat.v4.new_markdown_cell(body)))
    return slides


# a labelled display equation: $$ ... $$ (label), with no other $$ in between
EQUATION_RE = re.compile(r"^\$\$\n((?:(?!\$\$).)*?)\n\$\$\s*\(([\w-]+)\)\s*$", re.M | re.S)
EQUATIONS_PER_SLIDE = 3


def _equation_slide(nb: nbformat.NotebookNode, title: str) -> list[nbformat.NotebookNode]:
    """The chapter's numbered display equations, three to a slide."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found += [m.group(1).strip() for m in EQUATION_RE.finditer(cell.source)]
    slides = []
    for i in range(0, len(found), EQUATIONS_PER_SLIDE):
        chunk = found[i : i + EQUATIONS_PER_SLIDE]
        body = f"## Key equations: {title}\n\n" + "\n\n".join(f"$$\n{e}\n$$" for e in chunk)
        slides.append(_slide(nbformat.v4.new_markdown_cell(body)))
    return slides


HIDDEN_INPUT_TAGS = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


def _demo_cells(nb: nbformat.NotebookNode, section: str) -> list[nbformat.NotebookNode]:
    """The demonstration under the heading ``section``: its first visible code cell, with
    that cell's output, or else with the output of the next cell in the section that has
    one (a chapter shows the idea in a visible cell and often folds the cell that
    displays the result), as one slide."""
    inside = False
    shown = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heads = re.findall(r"^#{2,4}\s+(.*)$", cell.source, re.M)
            if heads:
                if shown is not None:
                    break
                inside = any(h.strip() == section for h in heads)
            continue
        if not inside:
            continue
        visible = not set(cell.metadata.get("tags", [])) & HIDDEN_INPUT_TAGS
        if shown is None and visible:
            shown = copy.deepcopy(cell)
        if shown is not None and cell.get("outputs"):
            shown.outputs = copy.deepcopy(cell.outputs)
            return [_slide(shown)]
    return []


def session_notebook(session: Session) -> nbformat.NotebookNode:
    """The session's slides as a notebook of the chapters' own cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["title"] = f"Session {session.number}: {session.title}"
    books = {doc: nbformat.read(ROOT / f"{doc}.ipynb", as_version=4) for doc in session.reading}
    titles = {doc: next(re.sub(r"^#\s+", "", line) for line in
                        "\n".join(c.source for c in b.cells if c.cell_type == "markdown")
                        .splitlines() if line.startswith("# "))
              for doc, b in books.items()}
    reading = "\n".join(f"- {t}" for t in titles.values())
    nb.cells.append(_slide(nbformat.v4.new_markdown_cell(
        f"# Session {session.number}\n\n## {session.title}\n\n**Reading**\n\n{reading}")))
    all_books = {doc: nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
                 for doc in make_pdf.toc_documents() if (ROOT / f"{doc}.ipynb").exists()}
    for section in session.demos:
        cells = []
        for doc in session.reading + [d for d in all_books if d not in session.reading]:
            cells = _demo_cells(all_books[doc], section)
            if cells:
                break
        if not cells:
            raise ValueError(f"session {session.number}: no code cell under '{section}'")
        nb.cells.append(_slide(nbformat.v4.new_markdown_cell(
            f"## Demonstration\n\n*{section}*: predict what it prints before it runs.")))
        nb.cells += cells
    for doc, book in books.items():
        nb.cells.append(_slide(nbformat.v4.new_markdown_cell(f"# {titles[doc]}")))
        nb.cells += _equation_slide(book, titles[doc])
        nb.cells += _figure_slides(book)
    return nb


def write_slides(session: Session, out: Path) -> int:
    """Write ``session``'s slides to ``out`` with nbconvert; return the number of slides."""
    from nbconvert import SlidesExporter

    nb = session_notebook(session)
    with tempfile.TemporaryDirectory() as tmp:
        template_dir = Path(tmp) / SLIDES_TEMPLATE
        template_dir.mkdir()
        (template_dir / "index.html.j2").write_text(SLIDES_TEMPLATE_J2, encoding="utf-8")
        (template_dir / "conf.json").write_text('{"base_template": "reveal"}', encoding="utf-8")
        exporter = SlidesExporter(
            template_name=SLIDES_TEMPLATE,
            extra_template_basedirs=[tmp],
            reveal_url_prefix="reveal.js",
            reveal_theme="white",  # its font ships with reveal.js; "simple" loads Google's
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
        body, _ = exporter.from_notebook_node(nb)
    out.write_text(body, encoding="utf-8")
    return sum(1 for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide")


def copy_reveal(kit: Path) -> None:
    """reveal.js from the sphinx-revealjs package into the kit (what the slides load)."""
    import sphinx_revealjs

    source = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    target = kit / "reveal.js"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source / "dist", target / "dist")
    shutil.copytree(source / "plugin" / "notes", target / "plugin" / "notes")


# --- links on the syllabus page ------------------------------------------------------------

def link_kit(site: Path, numbers: list[int]) -> None:
    """Fill the syllabus page's markers with links to what the kit wrote (again on a page
    that a previous run filled)."""
    page = site / "book" / "syllabus.html"
    text = page.read_text(encoding="utf-8")

    def fill(key: str, inner: str) -> None:
        nonlocal text
        pattern = re.compile(rf'<span class="kit-links" data-session="{key}">.*?</span>', re.S)
        if len(pattern.findall(text)) != 1:
            marker = KIT_MARKER.format(n=key) if key != "key" else KEY_MARKER
            raise ValueError(f"{page} must hold the marker {marker!r} exactly once")
        filled = f'<span class="kit-links" data-session="{key}">{inner}</span>'
        text = pattern.sub(lambda _: filled, text)

    for n in numbers:
        fill(str(n), f'<strong>Kit:</strong> '
                     f'<a href="../{KIT}/session-{n}-problems.pdf">problem set (PDF)</a>, '
                     f'<a href="../{KIT}/session-{n}-slides.html">slides</a>, '
                     f'<a href="../{KIT}/{ANSWER_KEY}">answer key (PDF)</a>.')
    fill("key", f'The <a href="../{KIT}/{ANSWER_KEY}">answer key</a> (every concept question '
                "and exercise with its solution, by chapter) and each session's problem set "
                "and slides.")
    page.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default=ROOT / "_build" / "html", type=Path)
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        print(f"make_kit: {args.site}/index.html not found; build the book first",
              file=sys.stderr)
        return 1
    chromium = bc.find_chromium()
    if chromium is None:
        print("make_kit: no Chromium found; install Debian's ('apt-get install chromium')",
              file=sys.stderr)
        return 1
    kit = args.site / KIT
    kit.mkdir(exist_ok=True)
    where = exercise_docs()
    problems = []
    plan = sessions()
    for s in plan:
        missing = [lab for lab in s.exercises if lab not in where]
        if missing or not s.exercises:
            problems.append(f"session {s.number}: exercises not found: {missing or 'none set'}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        problems += print_kit_pdf(
            args.site, chapters(), {"mode": "key"}, kit / ANSWER_KEY, chromium, workdir,
            "Answer key",
            "Every concept question and exercise of the book with its solution, by chapter",
            # (the few exercises without a printed solution say so in place)
        )
        for s in plan:
            docs = list(dict.fromkeys(where[lab] for lab in s.exercises if lab in where))
            problems += print_kit_pdf(
                args.site, docs, {"mode": "set", "labels": s.exercises, "groups": s.groups},
                kit / f"session-{s.number}-problems.pdf", chromium, workdir,
                f"Session {s.number} problem set", s.title,
            )
    copy_reveal(kit)
    for s in plan:
        try:
            count = write_slides(s, kit / f"session-{s.number}-slides.html")
        except ValueError as err:
            problems.append(str(err))
            continue
        print(f"make_kit: session {s.number}: {len(s.exercises)} exercises, {count} slides")
    for p in problems:
        print(f"make_kit: {p}", file=sys.stderr)
    if problems:
        return 1
    link_kit(args.site, [s.number for s in plan])
    print(f"make_kit: wrote {kit} (answer key, {len(plan)} problem sets, {len(plan)} slide decks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
