"""Serving-area fixtures: the environment a server subprocess runs with (demo models, tiny sizes, own home)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# `unison ...` in a subprocess, without relying on the console script being on PATH
UNISON = [sys.executable, "-c", "import sys; from unison_agent.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def server_env(tmp_path_factory, tiny_root) -> dict[str, str]:
    """Demo mode at 64x64, the demo models in the session's tiny root (shared with the tiny-model fixtures, built
    once), one torch thread."""
    home = tmp_path_factory.mktemp("serve_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNISON_")}
    env.update(
        {
            "UNISON_HOME": str(home),
            "UNISON_DEMO": "1",
            "UNISON_DEMO_DIR": str(tiny_root),
            "UNISON_DEFAULT_WIDTH": "64",
            "UNISON_DEFAULT_HEIGHT": "64",
            "UNISON_MAX_NEW_TOKENS": "8",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def demo_models(server_env) -> Path:
    """Build the demo models once here, so servers and workers started by a test only load them."""
    from unison_agent.contract.settings import Settings
    from unison_agent.core.demo import demo_settings

    demo_settings(Settings.resolve({}, env=server_env))
    return Path(server_env["UNISON_DEMO_DIR"])
