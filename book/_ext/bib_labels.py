"""Label the References page's entries as the text cites them: "Press et al., 2022".

The book cites author-year (``bibtex_reference_style: author_year``), but
sphinxcontrib-bibtex's default bibliography style, pybtex's ``alpha``, labels each entry
with an abbreviation such as "[PSL22]", which a reader cannot match with "Press et al.,
2022" in the text. This extension

* registers a pybtex formatting style, ``author_year_labels`` (chosen with
  ``bibtex_default_style: author_year_labels``): pybtex's ``alpha`` entries, labelled
  "Author et al., year" by sphinxcontrib-bibtex's own templates and person style, the
  ones that write the in-text citations, so that the two cannot drift apart, and sorted
  by what the label shows (so "Meta Llama, 2024" sorts under M, not after Z for its
  braces);
* tells apart works that would share a label (same first author, "et al." and year),
  in the text and in the list alike, the usual author-year way: "Touvron et al., 2023a"
  and "2023b", in the order of their titles. It does so by giving their entries the
  years "2023a" and "2023b" in the bibliography data that sphinxcontrib-bibtex has
  read from ``references.bib`` (after it has read them, on ``builder-inited``); the
  file is not changed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from types import SimpleNamespace

from pybtex.plugin import register_plugin
from pybtex.style.formatting.alpha import Style as AlphaStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle
from sphinxcontrib.bibtex.style.referencing import PersonStyle
from sphinxcontrib.bibtex.style.template import join, year

STYLE_NAME = "author_year_labels"

# the defaults of sphinxcontrib-bibtex's author_year reference style
# (``{cite}`` = ``{cite:p}``)
PERSON = PersonStyle()
AUTHOR_YEAR_SEP = ", "


def author_text(entry) -> str:
    """The author part of the entry's in-text citation: "Press et al.", "bloc97"."""
    data = {"entry": entry, "style": SimpleNamespace(person=PERSON)}
    names = PERSON.author_or_editor_or_title(full=False).format_data(data)
    return names.render_as("text")


def citation_text(entry) -> str:
    """The entry's in-text citation, without brackets: "Press et al., 2022"."""
    data = {"entry": entry, "style": SimpleNamespace(person=PERSON)}
    names = PERSON.author_or_editor_or_title(full=False)
    template = join(sep=AUTHOR_YEAR_SEP)[names, year]
    return template.format_data(data).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels as the text cites: "Press et al., 2022"."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield citation_text(entry)


class AuthorYearSortingStyle(BaseSortingStyle):
    """By the label's author part (case-insensitive), then year, then title."""

    def sorting_key(self, entry):
        return (
            author_text(entry).casefold(),
            entry.fields.get("year", ""),
            entry.fields.get("title", "").casefold(),
        )


class AuthorYearLabelsStyle(AlphaStyle):
    """pybtex's ``alpha`` entries with author-year labels, sorted by them."""

    default_label_style = AuthorYearLabelStyle
    default_sorting_style = AuthorYearSortingStyle


YEAR_RE = re.compile(r"^(\d{4})[a-z]?$")


def disambiguate_years(entries) -> dict[str, str]:
    """Give entries that would share a citation text the years "2023a", "2023b", ...

    ``entries`` maps keys to pybtex entries and is changed in place (idempotently: a
    year set here is recognised and reset); returns the years set, by key.
    """
    groups = defaultdict(list)
    for key, entry in entries.items():
        match = YEAR_RE.match(entry.fields.get("year", ""))
        if match:
            entry.fields["year"] = match.group(1)  # undo an earlier run
        groups[citation_text(entry)].append(key)
    changed = {}
    for keys in groups.values():
        if len(keys) < 2:
            continue
        keys.sort(key=lambda k: entries[k].fields.get("title", "").casefold())
        for letter, key in zip("abcdefghijklmnopqrstuvwxyz", keys, strict=False):
            entries[key].fields["year"] += letter
            changed[key] = entries[key].fields["year"]
    return changed


def _builder_inited(app) -> None:
    domain = app.env.get_domain("cite")
    disambiguate_years(domain.bibdata.data.entries)


def setup(app):
    register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabelStyle, force=True)
    sorting, formatting = "pybtex.style.sorting", "pybtex.style.formatting"
    register_plugin(sorting, STYLE_NAME, AuthorYearSortingStyle, force=True)
    register_plugin(formatting, STYLE_NAME, AuthorYearLabelsStyle, force=True)
    app.setup_extension("sphinxcontrib.bibtex")
    # after sphinxcontrib-bibtex's own handler (priority 500), which reads the .bib
    # files
    app.connect("builder-inited", _builder_inited, priority=600)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
