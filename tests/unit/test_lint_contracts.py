"""Lint contracts that run with the tests (so the README's test command and CI fail on them): no dead code.

The import-layer contracts and the no-cycle check are in test_import_contracts.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_dead_code() -> None:
    """vulture over the package, workers, tests and bench with [tool.vulture] of pyproject.toml: a function,
    class, constant or import nothing uses fails here; names only frameworks call are listed there."""
    vulture = shutil.which("vulture", path=str(Path(sys.executable).parent)) or shutil.which("vulture")
    assert vulture, "vulture is in the test extra: pip install -e '.[test]'"
    done = subprocess.run([vulture], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"dead code (remove it, or list a framework hook in [tool.vulture]):\n{done.stdout}"
