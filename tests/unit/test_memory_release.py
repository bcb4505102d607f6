"""[hardening] 10: a long-running process hands the pages it freed back to the system (kernel.memory)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from syndication.kernel.memory import release_free_heap

REPO = Path(__file__).resolve().parents[2]

# Entries of a few KB, nine in ten evicted, one in ten kept between them: the shape a rendered-entry cache leaves
# in the heap. What was freed stays resident until it is released.
SCRIPT = textwrap.dedent("""
    import sys
    from syndication.kernel.memory import release_free_heap

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    entries = [bytes(5000) + i.to_bytes(4, "big") for i in range(20_000)]
    kept = entries[::10]
    del entries
    before = rss_mb()
    released = release_free_heap()
    print(released, before, rss_mb(), len(kept))
""")


def test_freed_pages_between_live_entries_are_handed_back() -> None:
    if not release_free_heap():
        pytest.skip("this C library has no malloc_trim (not glibc)")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}).stdout.split()
    released, before, after = out[0] == "True", float(out[1]), float(out[2])
    assert released
    # ~100 MB allocated, ~90 MB of it freed in 5 KB holes: without the release the process keeps nearly all of it.
    assert before - after > 50, (before, after)

