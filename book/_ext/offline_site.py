"""Small Sphinx fixes that keep the built site quiet and self-contained.

sphinx-thebe 0.3.1 under Sphinx 7 registers its inline configuration script
twice (once with filename None, once with ""), so every page declares
``const THEBE_JS_URL`` twice and the browser logs "Identifier 'THEBE_JS_URL'
has already been declared". Identical script entries are dropped here,
keeping the first.
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        # An inline script is registered once with filename None and once with "".
        filename = getattr(script, "filename", script) or ""
        key = (filename, tuple(sorted(getattr(script, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
