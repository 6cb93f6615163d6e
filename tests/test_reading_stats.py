"""scripts/reading_stats.py: what it counts as main-line prose, folded prose, code and
sentences, on a small MyST chapter whose numbers are known by hand."""

from __future__ import annotations

from conftest import load_script

reading_stats = load_script("reading_stats")

CHAPTER = """---
jupytext:
  formats: ipynb,md_src//md:myst
---

```{code-cell} ipython3
:tags: [remove-cell]

import hidden_setup
```

# A title is not a sentence

:::{admonition} In this chapter
:class: tip

**Reading time:** about 2 minutes, plus a minute to run the code.
:::

Two sentences here. The second has five words.

- A list item is one sentence
- Another item, with $x^2$ inline math. And a second sentence

| a table | is not prose |
|---|---|
| x | y |

$$
a + b = c
$$

```{code-cell} ipython3
x = 1
y = 2
```

```{code-cell} ipython3
:tags: [hide-input]

import plumbing
plumbing.run()
```

```{exercise} Concept
:label: t-cq-one

Why is this visible?
```

```{solution-start} t-cq-one
:class: dropdown
```

Folded answer words here.

```{code-cell} ipython3
solution_code = 1
```

```{solution-end}
```

:::{admonition} Statistical details
:class: dropdown

Six folded words in this dropdown.
:::
"""


def test_counts_of_a_small_chapter(tmp_path):
    twin = tmp_path / "md_src" / "t.md"
    twin.parent.mkdir()
    twin.write_text(CHAPTER, encoding="utf-8")
    st = reading_stats.analyse(twin)
    # main line: "Reading time: about 2 minutes, plus a minute to run the code." (12),
    # "Two sentences here." (3) "The second has five words." (5), "A list item is one
    # sentence" (6), "Another item, with X inline math." (6) "And a second sentence" (4),
    # "Why is this visible?" (4)
    assert st.main_words == 12 + 3 + 5 + 6 + 6 + 4 + 4
    assert st.sentences == 1 + 2 + 1 + 2 + 1
    assert st.folded_words == 4 + 6
    assert st.code_lines == 2  # the visible cell; not the setup, the hidden input, the solution
    assert st.folded_code_lines == 1 + 2 + 1
    assert st.stated == 2
    assert abs(st.minutes - (40 / 200 + 2 * 6 / 60)) < 1e-9


def test_limits(tmp_path):
    st = reading_stats.Stats("x", main_words=200 * 40, sentences=200 * 40 // 25, stated=20)
    problems = " ".join(st.problems())
    assert "main line 40 min > 35" in problems
    assert "states 20 min, estimate 40" in problems
    assert "mean sentence 25.0 words > 20" in problems
    ok = reading_stats.Stats("y", main_words=200 * 20, sentences=200 * 20 // 15, stated=22)
    assert ok.problems() == []


def test_every_chapter_of_the_book_is_measured():
    chapters = reading_stats.toc_chapters()
    assert len(chapters) >= 16
    for nb in chapters:
        st = reading_stats.analyse(reading_stats.twin_of(nb))
        assert st.main_words > 500 and st.sentences > 20 and st.stated is not None, nb


def test_syllabus_sessions_name_chapters_that_exist():
    names = {nb.stem for nb in reading_stats.toc_chapters()}
    sessions = reading_stats.session_readings()
    assert len(sessions) >= 6
    for head, chapters in sessions:
        assert chapters and set(chapters) <= names, (head, chapters)


def test_no_syllabus_session_assigns_more_than_about_90_minutes_of_reading():
    by_name = {nb.stem: reading_stats.analyse(reading_stats.twin_of(nb))
               for nb in reading_stats.toc_chapters()}
    for head, chapters in reading_stats.session_readings():
        minutes = sum(by_name[c].minutes for c in chapters)
        assert minutes <= 95, f"{head}: {minutes:.0f} min of reading"


INTRO = """# Home

The book has 3 chapters.

(intro-routes)=
## How to read it

- **All of it** (about 1 hours), straight through.
- **The short one** (about 25 minutes): {doc}`part/a` then {doc}`part/b`,
  and {doc}`b <part/b>` again.
- **No time given**: {doc}`part/c`.

## Next section

- **Not a route** (about 9 hours): {doc}`part/a`.
"""


def test_home_page_routes_and_their_times(tmp_path, monkeypatch):
    intro = tmp_path / "intro.md"
    intro.write_text(INTRO, encoding="utf-8")
    chapters = [tmp_path / f"{name}.ipynb" for name in "abc"]
    monkeypatch.setattr(reading_stats, "toc_chapters", lambda: chapters)
    routes = reading_stats.route_readings(intro)
    assert routes == [
        ("All of it", 60.0, ["a", "b", "c"]),
        ("The short one", 25.0, ["a", "b"]),  # a chapter linked twice counts once
        ("No time given", None, ["c"]),
    ]
    rows = [reading_stats.Stats(name, main_words=200 * 20) for name in "abc"]  # 20 min each
    problems = reading_stats.home_page_problems(rows, intro)
    # all of it: 60 stated, 60 measured; the short one: 25 stated, 40 measured
    assert problems == [
        "home page: route 'The short one' states 25 min, estimate 40",
        "home page: route 'No time given' states no time",
    ]
    rows.append(reading_stats.Stats("d", main_words=200 * 20))
    assert "home page: says 3 chapters, the book has 4" in reading_stats.home_page_problems(
        rows, intro
    )


def test_the_home_page_states_the_length_of_the_book_and_each_route():
    routes = reading_stats.route_readings()
    assert len(routes) >= 3
    rows = [reading_stats.analyse(reading_stats.twin_of(nb))
            for nb in reading_stats.toc_chapters()]
    assert reading_stats.home_page_problems(rows) == []
