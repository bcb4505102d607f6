"""syndication: take news from partner agencies and republish it, properly credited, to subscribers."""

import sys

__version__ = "0.1.0"

# `import httpx` also imports its command-line client (httpx/__init__.py: `from ._main import main`, which loads
# click, rich and pygments: ~40 ms of every process that fetches), and falls back to a stub `httpx.main` when that
# import fails. We never run httpx's CLI, so it is marked absent before anything of ours imports httpx (upstream:
# encode/httpx#3547). setdefault: a process that already imported it keeps it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
