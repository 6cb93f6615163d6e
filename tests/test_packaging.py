"""posemb as an installed package: the wheel carries what the chapters need.

A reader on Colab or Binder gets posemb from ``pip install``, not from this checkout.
These tests build the wheel, install it into a fresh virtual environment outside the
checkout, and run one algorithms chapter and one applications chapter there under
nbval, with the same comparison of every printed output as ``make nbval``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["book/algorithms/absolute.ipynb", "book/applications/extrapolation.ipynb"]


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """posemb's wheel, built from a copy of the sources (the checkout stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "posemb", src / "posemb", ignore=shutil.ignore_patterns("__pycache__", "quick")
    )
    dist = tmp_path_factory.mktemp("dist")
    # No build isolation: the pinned setuptools of this environment builds it, offline.
    run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(dist), str(src)],
        cwd=src,
    )
    (path,) = dist.glob("posemb-*.whl")
    return path


def test_wheel_carries_data_and_declares_dependencies(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(zf.read(meta_name).decode())
    committed = {p.name for p in (ROOT / "posemb" / "lab" / "data").glob("*.json")}
    assert {"schema.json", "generation.json", "classification.json"} <= committed
    assert {f"posemb/lab/data/{n}" for n in committed} <= names
    assert "posemb/lab/__init__.py" in names and "posemb/registry.py" in names
    assert not any("/quick/" in n for n in names), "quick runs must not ship"
    requires = " ".join(meta.get_all("Requires-Dist") or [])
    for dep in ("torch", "tqdm", "jsonschema", "matplotlib", "transformers", "gguf"):
        assert dep in requires, f"{dep} is not declared in pyproject.toml"


def _third_party_imports() -> tuple[set[str], set[str]]:
    """Top-level modules outside the standard library that posemb's sources import.

    Returns (module level, inside a function): a module-level import runs on
    ``import posemb``, so it must be a base dependency; an import inside a function
    (matplotlib in ``posemb.lab.plotting``) runs only when that optional feature is
    used, so an extra may declare it.
    """
    top, lazy = set(), set()
    for path in (ROOT / "posemb").rglob("*.py"):
        tree = ast.parse(path.read_text())
        inside = {
            id(n)
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            names = set()
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = {node.module.split(".")[0]}
            (lazy if id(node) in inside else top).update(names)
    drop = set(sys.stdlib_module_names) | {"posemb"}
    return top - drop, lazy - drop - top


def _declared(meta) -> tuple[set[str], set[str]]:
    """(base, base plus every extra) distribution names that the wheel declares."""
    every, base = set(), set()
    for r in meta.get_all("Requires-Dist") or []:
        name = re.split(r"[ <>=!~;\[]", r, maxsplit=1)[0].lower()
        every.add(name)
        if "extra ==" not in r:
            base.add(name)
    return base, every


def test_every_module_posemb_imports_is_a_declared_dependency(wheel):
    with zipfile.ZipFile(wheel) as zf:
        (meta_name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(zf.read(meta_name).decode())
    base, every = _declared(meta)
    providers = importlib.metadata.packages_distributions()
    top, lazy = _third_party_imports()
    assert "torch" in top and "tqdm" in top | lazy and "matplotlib" in lazy
    for module in top:
        dists = {d.lower() for d in providers.get(module, [module])}
        assert dists & base, f"posemb imports {module!r} on import, but it is no base dependency"
    for module in lazy:
        dists = {d.lower() for d in providers.get(module, [module])}
        assert dists & every, f"posemb imports {module!r}, but pyproject.toml does not declare it"


def test_import_posemb_needs_no_optional_dependency():
    code = (
        "import sys; import posemb, posemb.lab, posemb.lab.plotting, posemb.lab.experiments; "
        "bad = {'matplotlib', 'transformers', 'gguf'} & set(sys.modules); "
        "assert not bad, bad"
    )
    run([sys.executable, "-c", code], cwd=ROOT)


def test_binder_pins_agree_with_requirements():
    def pins(path):
        lines = (ROOT / path).read_text().splitlines()
        return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))

    binder, pinned = pins("binder/requirements.txt"), pins("requirements.txt")
    assert {"torch", "transformers", "matplotlib", "gguf"} <= set(binder)
    for name, version in binder.items():
        assert pinned.get(name) == version, f"binder pins {name}=={version}, requirements.txt not"


def test_notebooks_run_from_the_installed_wheel(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        cwd=tmp_path)
    # Share this environment's torch, nbval and the rest: a path appended after the new
    # environment's own site-packages. Its .pth files are not processed, so the
    # checkout's editable posemb stays invisible; the wheel's posemb comes first.
    new_site = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=tmp_path,
    ).stdout.strip()
    Path(new_site, "shared-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = run([str(python), "-c", "import posemb; print(posemb.__file__)"], cwd=tmp_path)
    assert where.stdout.strip().startswith(str(venv)), where.stdout

    books = tmp_path / "notebooks"
    books.mkdir()
    copies = []
    for nb in NOTEBOOKS:
        copies.append(books / Path(nb).name)
        shutil.copy(ROOT / nb, copies[-1])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1", PATH=f"{venv}/bin:{env['PATH']}")
    run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(books),
         "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / ".nbval_sanitize.cfg"), *map(str, copies)],
        cwd=books,
        env=env,
    )
