"""Check that every notebook's MyST Markdown twin is in sync with it.

Usage: python scripts/check_twins.py book/foundations/background.ipynb ...

Each ``book/<part>/<name>.ipynb`` is paired by jupytext (see ``jupytext.toml``)
with ``book/<part>/md_src/<name>.md``. The twin is in sync when it is exactly
what jupytext writes for the notebook's current cells. Exit status 1 lists
every twin that is missing or differs, with the first differing lines.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import jupytext
import nbformat

TWIN_FORMAT = "md:myst"
TWIN_FOLDER = "md_src"


def twin_path(notebook: Path) -> Path:
    """Where the MyST twin of ``notebook`` lives."""
    return notebook.parent / TWIN_FOLDER / (notebook.stem + ".md")


def twin_text(nb: nbformat.NotebookNode) -> str:
    """The twin's text jupytext writes for ``nb`` (outputs are not part of it)."""
    nb = nbformat.from_dict(nb)
    nb.metadata.setdefault("jupytext", {})["formats"] = f"ipynb,{TWIN_FOLDER}//{TWIN_FORMAT}"
    return jupytext.writes(nb, fmt=TWIN_FORMAT)


def write_twin(notebook: Path) -> Path:
    """Write ``notebook``'s twin from the notebook as stored (nbformat sorts metadata keys),
    so that it is byte for byte what :func:`problems` expects."""
    twin = twin_path(notebook)
    twin.parent.mkdir(parents=True, exist_ok=True)
    twin.write_text(twin_text(nbformat.read(notebook, as_version=4)), encoding="utf-8")
    return twin


def problems(notebook: Path) -> list[str]:
    """Why ``notebook``'s twin is out of sync; empty if it is in sync."""
    twin = twin_path(notebook)
    if not twin.exists():
        return [f"{notebook}: twin {twin} is missing (run 'make notebooks')"]
    expected = twin_text(nbformat.read(notebook, as_version=4))
    actual = twin.read_text(encoding="utf-8")
    if expected == actual:
        return []
    diff = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(),
        fromfile=f"{notebook} (as jupytext writes it)", tofile=str(twin), lineterm="", n=1,
    )
    shown = "\n".join(list(diff)[:20])
    return [f"{notebook}: twin {twin} is out of sync (run 'make notebooks'):\n{shown}"]


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: check_twins.py NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    found = [p for name in argv for p in problems(Path(name))]
    for text in found:
        print(text, file=sys.stderr)
    if found:
        return 1
    print(f"twins: {len(argv)} notebook twin(s) in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
