"""Generic pytest set-up: import paths, a PyscriptEnv factory, frozen time, throwaway app files.

Balancer-specific fixtures belong elsewhere (the lead adds them).
"""

import sys
import textwrap
from pathlib import Path

import pytest
from freezegun import freeze_time

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "pyscript" / "modules"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# Importing stubs installs the finder that loads pyscript/modules the pyscript way (restricted
# imports, pyscript-subset check), so tests importing those modules directly see the same thing.
import stubs  # noqa: E402


@pytest.fixture
def env_factory():
    """``env_factory(app_config=None, **kwargs)`` -> stubs.PyscriptEnv (same arguments)."""

    def make(app_config=None, **kwargs):
        return stubs.PyscriptEnv(app_config, **kwargs)

    return make


@pytest.fixture
def frozen():
    """freezegun at Monday 2025-01-06 00:00:00 UTC; use ``frozen.tick(s)`` / ``frozen.move_to(t)``."""
    with freeze_time("2025-01-06 00:00:00") as frozen_time:
        yield frozen_time


@pytest.fixture
def write_app(tmp_path):
    """``write_app(source, name="app.py")`` writes dedented source under tmp_path, returns the path."""

    def write(source, name="app.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    return write
