"""The layering of DESIGN §2 holds: import-linter's contracts in pyproject.toml, all kept.

The contracts: the runtime's layers (CLI, tools, server, sessions, dialogue and transports,
providers, protocol and ops) import only downwards; ``blendshape`` imports nothing from
``bridge``; the protocol is sans-I/O; the dialogue knows no sockets; the runtime never
imports the tools or the training code; and no two modules or packages import each other.

import-linter runs in its own process: it configures logging with ``dictConfig``, which
would silence every logger the other tests already created.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def test_every_import_contract_is_kept():
    pytest.importorskip("importlinter")
    run = subprocess.run([sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout
