"""Number chapters across the book's parts, so that "Exercise 5.2" names one exercise.

Sphinx numbers each numbered toctree from 1, and Jupyter Book makes one toctree per part
of ``_toc.yml``; with several numbered parts every part would start again at chapter 1,
and "Fig. 1.2" would name a figure in each part. After Sphinx has assigned its numbers
(event ``env-get-updated``), this sets the chapter number of every document under the
root document's numbered toctrees to its place among all of them, then has Sphinx
recompute the figure, table, equation, theorem and exercise numbers, which are built
from the chapter numbers (``numfig_secnum_depth: 1``).
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes
from sphinx.environment.collectors.toctree import TocTreeCollector


def _numbered_toctrees(env) -> list[list[str]]:
    """The documents of each numbered toctree of the root document, in order."""
    doctree = env.get_doctree(env.config.root_doc)
    out = []
    for toctree in doctree.findall(addnodes.toctree):
        if toctree.get("numbered"):
            out.append([ref for _title, ref in toctree["entries"] if ref in env.tocs])
    return out


def _renumber(number, chapter: int):
    """``number`` with its first (chapter) component set to ``chapter``."""
    if not number:
        return number
    renumbered = [chapter, *number[1:]]
    return tuple(renumbered) if isinstance(number, tuple) else renumbered


def _number_across_parts(app, env) -> list[str]:
    if env.config.root_doc not in env.numbered_toctrees:
        return []
    offset = 0
    for docs in _numbered_toctrees(env):
        # chapter = its place in the whole book; setting (not adding) keeps this
        # idempotent
        for place, doc in enumerate(docs, start=offset + 1):
            secnums = env.toc_secnumbers.get(doc)
            if secnums is None:
                continue
            renumbered = {k: _renumber(v, place) for k, v in secnums.items()}
            env.toc_secnumbers[doc] = renumbered
            for ref in env.tocs[doc].findall(nodes.reference):
                if ref.get("secnumber"):
                    ref["secnumber"] = _renumber(ref["secnumber"], place)
            title = env.titles.get(doc)
            if title is not None and title.get("secnumber"):
                title["secnumber"] = _renumber(title["secnumber"], place)
        offset += len(docs)
    # figure-like numbers are derived from the section numbers: recompute them
    TocTreeCollector().assign_figure_numbers(env)
    return sorted(set(env.toc_secnumbers) | set(env.toc_fignumbers))


def setup(app):
    # after Sphinx's own TocTreeCollector (priority 500) has numbered each toctree
    app.connect("env-get-updated", _number_across_parts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
