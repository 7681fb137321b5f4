"""Test-wide fixtures: an isolated user data directory and one temp root for tiny models (built once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory):
    """Every test run gets its own UNISON_HOME, so nothing touches the user's real data directory."""
    home = tmp_path_factory.mktemp("unison_home")
    old = os.environ.get("UNISON_HOME")
    os.environ["UNISON_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    yield home
    if old is None:
        os.environ.pop("UNISON_HOME", None)
    else:
        os.environ["UNISON_HOME"] = old


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where area fixtures build their tiny models once per test session."""
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def home(_isolated_home) -> Path:
    return _isolated_home
