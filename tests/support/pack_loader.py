"""For the benchmark scripts (run as plain scripts): import this checkout as the package `toongen`, with its
tests as `toongen.tests`, so the pack's relative imports work outside ComfyUI and pytest."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _load(name: str, folder: Path) -> None:
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def load_pack() -> None:
    if "toongen" not in sys.modules:
        _load("toongen", REPO)
        _load("toongen.tests", REPO / "tests")
