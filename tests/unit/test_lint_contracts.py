"""Lint contracts that run with the tests (so the README's test command and CI fail on them): no dead code.

The import-layer contracts and the no-cycle check are in test_import_contracts.py.
"""

from __future__ import annotations

import ast
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


def unexplained_imports(source: str) -> list[int]:
    """Lines of the imports inside functions that give no `# lazy: <reason>` (#17): on the import, or on the
    comment line just above the run of imports it belongs to (consecutive import statements of one body)."""
    lines = source.splitlines()
    found: list[int] = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            for field in ("body", "orelse", "finalbody", "handlers"):
                body = getattr(node, field, None)
                if not isinstance(body, list):
                    continue
                run: list[ast.stmt] = []
                for stmt in [*body, None]:
                    if isinstance(stmt, ast.Import | ast.ImportFrom):
                        run.append(stmt)
                        continue
                    if run:
                        first, last = run[0].lineno, run[-1].end_lineno or run[-1].lineno
                        if not any("# lazy:" in line for line in lines[first - 2:last]):
                            found.extend(s.lineno for s in run)
                        run = []
    return sorted(set(found))


def test_the_lazy_import_checker_wants_a_reason() -> None:
    bare = "def f():\n    import json\n    return json\n"
    assert unexplained_imports(bare) == [2]
    inline = "def f():\n    import json  # lazy: start-up\n    return json\n"
    above = "def f():\n    # lazy: start-up\n    import json\n\n    import csv\n    return json, csv\n"
    assert unexplained_imports(inline) == unexplained_imports(above) == []


def test_every_function_level_import_says_why_it_is_lazy() -> None:
    """Function-local imports only where start-up cost or an optional dependency needs them, each with a
    one-line `# lazy:` reason (#17); anything else belongs at the top of its module."""
    missing = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "syndication").rglob("*.py"))
               for line in unexplained_imports(path.read_text(encoding="utf-8"))]
    assert not missing, "function-level imports without a '# lazy: <reason>' comment:\n" + "\n".join(missing)
