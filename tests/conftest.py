"""Test configuration: a modest hypothesis profile so the suite stays fast on 2 cores, and
:func:`load_script`, which the tests of the book's scripts import."""

import importlib.util
import sys
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """The module ``scripts/NAME.py`` (scripts/ is not a package), loaded once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

settings.register_profile("posemb", deadline=None, max_examples=25)
settings.load_profile("posemb")
