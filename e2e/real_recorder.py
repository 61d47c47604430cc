"""The real recorder in an e2e test (../shared/harness/README.md, "The real recorder in a test"):
a SQLite file per test, patched in before hass starts, with the statistics compiler on. A test
module takes these fixtures with `from real_recorder import *  # noqa: F401,F403`; only the
modules that import them run the recorder."""

import pytest

__all__ = ["recorder_db_url", "mock_recorder_before_hass", "enable_statistics", "enable_missing_statistics"]


@pytest.fixture
def recorder_db_url(tmp_path):
    return f"sqlite:///{tmp_path}/home-assistant_v2.db"


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder):
    """The recorder is patched in before hass starts, as Home Assistant's own recorder tests do."""


@pytest.fixture
def enable_statistics():
    return True


@pytest.fixture
def enable_missing_statistics():
    return True
