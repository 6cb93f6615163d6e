"""How long each chapter takes to read, measured from its MyST twin.

Usage: python scripts/reading_stats.py [--check] [--sessions] [CHAPTER.ipynb ...]

For every chapter (default: every notebook in ``_toc.yml``) it prints:

* the words of prose on the main line (what a reader meets reading straight through)
  and folded (dropdowns, concept-question answers, exercise solutions);
* the lines of visible code: code cells not hidden (``hide-input``, ``hide-cell``,
  ``remove-*``) and not inside a solution, and code blocks in the Markdown;
* the mean sentence length of the main line's prose, in words;
* the estimated main-line reading time: prose at 200 words a minute plus 6 seconds a
  visible code line, beside the time the chapter states in its "Reading time" line.

What counts as a sentence (DESIGN.md, "reading"): text ending at ``.``, ``!`` or ``?``
followed by a capital letter, or at the end of a paragraph or list item. Tables,
headings, display math, directive options and code are not prose; inline math counts as
one word, a cross-reference as its link text.

``--check`` exits 1 when a chapter's estimate is over 35 minutes, its stated time is off
the estimate by more than 25%, or its mean sentence length is over 20 words; and, when it
measures the whole book, when the home page's "The book has N chapters" or the time of a
reading route (the bullets after ``(intro-routes)=``) is off by more than 25%.
``--sessions`` also sums the estimates over each syllabus session's reading.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_MINUTE = 200
SECONDS_PER_CODE_LINE = 6
MAX_MINUTES = 35
MAX_STATED_ERROR = 0.25
MAX_SENTENCE_WORDS = 20
HIDDEN_TAGS = {"hide-input", "hide-cell", "remove-input", "remove-cell"}

FENCE_RE = re.compile(r"^(`{3,}|:{3,})\s*(\{([\w:-]+)\})?\s*(.*)$")
SENTENCE_END_RE = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[*_]*[A-Z])")
WORD_RE = re.compile(r"[A-Za-z0-9\u00c0-\u024f]")
STATED_RE = re.compile(r"\*\*Reading time:\*\*\s*about\s+(\d+|a|an|one)\s+minute", re.I)


@dataclass
class Stats:
    chapter: str
    main_words: int = 0
    folded_words: int = 0
    code_lines: int = 0
    folded_code_lines: int = 0
    sentences: int = 0
    stated: float | None = None
    paragraphs: list[str] = field(default_factory=list, repr=False)

    @property
    def minutes(self) -> float:
        return self.main_words / WORDS_PER_MINUTE + self.code_lines * SECONDS_PER_CODE_LINE / 60

    @property
    def mean_sentence(self) -> float:
        return self.main_words / self.sentences if self.sentences else 0.0

    def problems(self) -> list[str]:
        out = []
        if self.minutes > MAX_MINUTES:
            out.append(f"main line {self.minutes:.0f} min > {MAX_MINUTES}")
        if self.stated is None:
            out.append("states no reading time")
        elif abs(self.stated - self.minutes) > MAX_STATED_ERROR * self.minutes:
            out.append(f"states {self.stated:.0f} min, estimate {self.minutes:.0f}")
        if self.mean_sentence > MAX_SENTENCE_WORDS:
            out.append(f"mean sentence {self.mean_sentence:.1f} words > {MAX_SENTENCE_WORDS}")
        return out


def plain(text: str) -> str:
    """Markdown inline markup reduced to what a reader reads."""
    text = re.sub(r"\$\$.*?\$\$", " ", text)
    text = re.sub(r"(?<!\\)\$[^$]+\$", " X ", text)  # inline math: one word
    text = re.sub(r"\{(?:term|doc|ref|numref|prf:ref)\}`([^`<]*?)\s*<[^`]*>`", r" \1 ", text)
    text = re.sub(r"\{(?:doc|ref|prf:ref)\}`[^`]*`", " the chapter ", text)
    text = re.sub(r"\{numref\}`[^`]*`", " Figure N ", text)
    text = re.sub(r"\{(?:term|abbr|sub-ref)\}`([^`]*)`", r" \1 ", text)
    text = re.sub(r"\{cite(?::\w+)?\}`[^`]*`", " ", text)
    text = re.sub(r"\{\w+\}`([^`]*)`", r" \1 ", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return text


def count_sentences(block: str) -> tuple[int, int]:
    """(words, sentences) of one paragraph or list item."""
    text = plain(block)
    words = sum(1 for w in text.split() if WORD_RE.search(w))
    if not words:
        return 0, 0
    return words, len(SENTENCE_END_RE.findall(text.strip())) + 1


def blocks_of(lines: list[str]) -> list[str]:
    """Paragraphs and list items of prose lines (tables, headings, labels, options dropped)."""
    blocks, current = [], []
    for line in lines:
        s = line.strip()
        starts_item = re.match(r"^(\s*)([-*+]|\d+\.)\s+", line)
        # blank lines, headings, table rows, directive options and labels like "(x)="
        skip = not s or s.startswith(("#", "|", ":")) or re.match(r"^\([\w-]+\)=$", s)
        if skip or starts_item:
            if current:
                blocks.append(" ".join(current))
                current = []
            if skip:
                continue
            line = line[starts_item.end():] if starts_item else line
        current.append(line.strip())
    if current:
        blocks.append(" ".join(current))
    return blocks


def analyse(twin: Path) -> Stats:
    """Reading statistics of one chapter's MyST twin."""
    lines = twin.read_text(encoding="utf-8").splitlines()
    if lines and lines[0] == "---":  # the jupytext header
        end = lines.index("---", 1)
        lines = lines[end + 1 :]
    stats = Stats(chapter=twin.stem)
    main_prose: list[str] = []
    folded_prose: list[str] = []
    in_solution = False
    # a stack of open fences: (marker, kind) where kind is prose, folded, code, math, skip
    stack: list[tuple[str, str]] = []
    code_tags: list[str] = []
    cell_lines = 0
    in_math = False
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        m = FENCE_RE.match(s)
        top = stack[-1] if stack else None
        if top and top[1] in ("code", "math", "skip", "cell"):
            if s == top[0]:
                if top[1] == "cell":
                    hidden = bool(HIDDEN_TAGS & set(code_tags))
                    n = cell_lines
                    if in_solution or hidden:
                        stats.folded_code_lines += n
                    else:
                        stats.code_lines += n
                stack.pop()
            elif top[1] == "cell":
                if s.startswith(":tags:") and not cell_lines:
                    code_tags = re.findall(r"[\w-]+", s.split(":", 2)[2])
                elif s.startswith(":") and not cell_lines:
                    pass  # another cell option
                elif s:
                    cell_lines += 1
            elif top[1] == "code" and s:
                if in_solution:
                    stats.folded_code_lines += 1
                else:
                    stats.code_lines += 1
            i += 1
            continue
        if m and (m.group(2) or (top and s == top[0])):
            marker, kind_name, rest = m.group(1), m.group(3), m.group(4)
            if top and s == top[0] and not kind_name:
                stack.pop()
                i += 1
                continue
            if kind_name == "code-cell":
                stack.append((marker, "cell"))
                code_tags, cell_lines = [], 0
                if i + 1 < len(lines) and lines[i + 1].strip() == "---":
                    # a YAML header: read it here and skip it
                    j = i + 2
                    header = []
                    while j < len(lines) and lines[j].strip() != "---":
                        header.append(lines[j])
                        j += 1
                    meta = yaml.safe_load("\n".join(header)) or {}
                    code_tags = list(meta.get("tags", []) or [])
                    i = j + 1
                    continue
                i += 1
                continue
            if kind_name == "solution-start":
                in_solution = True
                # its options follow; the fence closes at once
                stack.append((marker, "skip"))
                i += 1
                continue
            if kind_name == "solution-end":
                in_solution = False
                stack.append((marker, "skip"))
                i += 1
                continue
            if kind_name in ("math",):
                stack.append((marker, "math"))
            elif kind_name in ("raw", "code-block", "code", "mermaid", "bibliography", "toctree"):
                stack.append((marker, "code" if kind_name in ("code-block", "code") else "skip"))
            elif kind_name in ("figure", "image", "glossary", "table", "list-table", "csv-table"):
                stack.append((marker, "skip"))
            elif kind_name == "dropdown" or "dropdown" in rest:
                stack.append((marker, "folded"))
            else:
                # admonitions, exercises, theorems: prose; a dropdown class folds them
                folded = False
                j = i + 1
                while j < len(lines) and lines[j].strip().startswith(":"):
                    if re.match(r"^:class:.*\bdropdown\b", lines[j].strip()):
                        folded = True
                    j += 1
                stack.append((marker, "folded" if folded else "prose"))
            i += 1
            continue
        if m and not m.group(2) and m.group(1).startswith("`"):
            stack.append((m.group(1), "code"))  # a plain ``` block of code
            i += 1
            continue
        if s.startswith("$$"):
            if not (len(s) > 2 and s.endswith("$$") and s != "$$"):
                in_math = not in_math
            i += 1
            continue
        if in_math:
            i += 1
            continue
        folded = in_solution or any(kind == "folded" for _, kind in stack)
        (folded_prose if folded else main_prose).append(line)
        i += 1
    for block in blocks_of(main_prose):
        words, sentences = count_sentences(block)
        stats.main_words += words
        stats.sentences += sentences
        stats.paragraphs.append(block)
    for block in blocks_of(folded_prose):
        stats.folded_words += count_sentences(block)[0]
    stated = STATED_RE.search("\n".join(lines))
    if stated:
        n = stated.group(1)
        stats.stated = float(n) if n.isdigit() else 1.0
    return stats


def toc_chapters() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    docs = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [ROOT / f"{d}.ipynb" for d in docs if (ROOT / f"{d}.ipynb").exists()]


def twin_of(notebook: Path) -> Path:
    return notebook.parent / "md_src" / f"{notebook.stem}.md"


def session_readings(syllabus: Path = ROOT / "book" / "syllabus.md") -> list[tuple[str, list[str]]]:
    """(session heading, the chapters its **Reading:** line names) for every session."""
    text = syllabus.read_text(encoding="utf-8")
    sessions = []
    pattern = re.compile(r"^### (Session [^\n]*)\n(.*?)(?=^### |^## |\Z)", re.M | re.S)
    for head, body in pattern.findall(text):
        reading = re.search(r"\*\*Reading:\*\*(.*?)(?:\n\n)", body, re.S)
        found = reading.group(1) if reading else ""
        docs = re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", found)
        sessions.append((head.strip(), [Path(d).stem for d in docs]))
    return sessions


ROUTE_RE = re.compile(r"^- \*\*(?P<name>[^*]+)\*\*(?P<body>.*?)(?=^- |^\S|\Z)", re.M | re.S)
ROUTE_TIME_RE = re.compile(r"\(about (?P<n>\d+(?:\.\d+)?) (?P<unit>hours?|minutes?)\b")
CHAPTERS_RE = re.compile(r"The book has (\d+) chapters")


Route = tuple[str, float | None, list[str]]


def route_readings(intro: Path = ROOT / "book" / "intro.md") -> list[Route]:
    """(route name, stated minutes, its chapters) for each route the home page describes.

    The routes are the bullets of the home page's "How to read it" section (after the
    ``(intro-routes)=`` label). A route's chapters are the ones its bullet links with
    ``{doc}``; a bullet that links the syllabus means the syllabus sessions' readings,
    and one that links no chapter means every chapter. Its stated time is the
    "(about N hours)" or "(about N minutes)" in the bullet.
    """
    text = intro.read_text(encoding="utf-8")
    start = text.find("(intro-routes)=")
    if start < 0:
        return []
    section = text[start:]
    end = section.find("\n## ", section.find("## ") + 1)
    section = section if end < 0 else section[:end]
    every = [nb.stem for nb in toc_chapters()]
    routes = []
    for m in ROUTE_RE.finditer(section):
        body = m.group("body")
        links = re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", body)
        docs = list(dict.fromkeys(Path(d).stem for d in links))  # each chapter once
        if "syllabus" in docs:
            chapters = [c for _, session in session_readings() for c in session]
        else:
            chapters = [d for d in docs if d in every] or every
        stated = ROUTE_TIME_RE.search(body)
        minutes = None
        if stated:
            hours = stated.group("unit").startswith("h")
            minutes = float(stated.group("n")) * (60 if hours else 1)
        routes.append((m.group("name").strip(), minutes, chapters))
    return routes


def home_page_problems(rows: list[Stats], intro: Path = ROOT / "book" / "intro.md") -> list[str]:
    """What the home page says about the book's length that the chapters do not bear out."""
    by_name = {st.chapter: st for st in rows}
    problems = []
    count = CHAPTERS_RE.search(intro.read_text(encoding="utf-8"))
    if count is None:
        problems.append("home page: no 'The book has N chapters'")
    elif int(count.group(1)) != len(by_name):
        problems.append(f"home page: says {count.group(1)} chapters, the book has {len(by_name)}")
    routes = route_readings(intro)
    if not routes:
        problems.append("home page: no reading routes found after (intro-routes)=")
    for name, stated, chapters in routes:
        minutes = sum(by_name[c].minutes for c in chapters if c in by_name)
        if stated is None:
            problems.append(f"home page: route {name!r} states no time")
        elif abs(stated - minutes) > MAX_STATED_ERROR * minutes:
            problems.append(
                f"home page: route {name!r} states {stated:.0f} min, estimate {minutes:.0f}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 on a chapter over a limit")
    parser.add_argument("--sessions", action="store_true", help="sum each syllabus session")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or toc_chapters()
    rows = [analyse(twin_of(nb)) for nb in notebooks]
    print(f"{'chapter':22s} {'prose':>6s} {'folded':>6s} {'code':>5s} {'sent.':>5s} "
          f"{'min':>4s} {'stated':>6s}  problems")
    bad = 0
    for st in rows:
        problems = st.problems()
        bad += bool(problems)
        stated = f"{st.stated:.0f}" if st.stated is not None else "-"
        print(f"{st.chapter:22s} {st.main_words:6d} {st.folded_words:6d} {st.code_lines:5d} "
              f"{st.mean_sentence:5.1f} {st.minutes:4.0f} {stated:>6s}  {'; '.join(problems)}")
    total = sum(st.minutes for st in rows)
    print(f"{'all chapters':22s} {sum(s.main_words for s in rows):6d} "
          f"{sum(s.folded_words for s in rows):6d} {sum(s.code_lines for s in rows):5d} "
          f"{'':5s} {total:4.0f}")
    if args.sessions:
        by_name = {st.chapter: st for st in rows}
        print()
        for head, chapters in session_readings():
            minutes = sum(by_name[c].minutes for c in chapters if c in by_name)
            print(f"{head[:60]:60s} {minutes:4.0f} min  ({', '.join(chapters)})")
    whole_book = not args.notebooks
    if whole_book:
        by_name = {st.chapter: st for st in rows}
        print()
        for name, stated, chapters in route_readings():
            minutes = sum(by_name[c].minutes for c in chapters if c in by_name)
            said = f"{stated:.0f}" if stated is not None else "-"
            print(f"route {name[:40]:40s} {minutes:4.0f} min, states {said}")
    home = home_page_problems(rows) if whole_book else []
    for p in home:
        print(p)
    if args.check and (bad or home):
        print(f"reading_stats: {bad} chapter(s) over a limit; {len(home)} home-page problem(s)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
