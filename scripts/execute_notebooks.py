"""Re-execute the book's notebooks in place and write each one's MyST twin.

Usage: python scripts/execute_notebooks.py [--from-twin] book/foundations/background.ipynb ...

With ``--from-twin`` the cells are first taken from the MyST twin
(``md_src/<name>.md``), which is the easier file to write by hand; otherwise the
notebook's own cells are executed and the twin is rewritten from them.

Outputs in the book come only from here: never edit a notebook's JSON by hand.
Cells are run top to bottom in a fresh kernel from the current environment, with
the notebook's folder as the working directory, exactly as nbval runs them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_twins import twin_path, write_twin  # noqa: E402


def execute(path: Path, from_twin: bool = False) -> None:
    if from_twin:
        nb = jupytext.read(twin_path(path))
        if path.exists():
            # jupytext gives every cell a new random id; keep the stored notebook's ids
            # where the cells still line up, so an edit of one cell is a one-cell diff.
            old = nbformat.read(path, as_version=4)
            for new_cell, old_cell in zip(nb.cells, old.cells, strict=False):
                if new_cell.cell_type == old_cell.cell_type and "id" in old_cell:
                    new_cell["id"] = old_cell["id"]
    else:
        nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=1200,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    # Strip per-run metadata so that re-running gives no spurious diff.
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    write_twin(path)


def main(argv: list[str]) -> int:
    from_twin = "--from-twin" in argv
    names = [a for a in argv if a != "--from-twin"]
    if not names:
        print("usage: execute_notebooks.py [--from-twin] NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for name in names:
        path = Path(name)
        if path.suffix != ".ipynb":
            print(f"notebook path must end in .ipynb, got {name!r}", file=sys.stderr)
            return 2
        start = time.perf_counter()
        execute(path, from_twin=from_twin)
        print(f"executed {path} in {time.perf_counter() - start:.1f} s; twin {twin_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
