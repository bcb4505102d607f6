"""The round-end publish of a real first import writes the same bytes whichever way its entries are got: rendered
for each document (no entry cache), or from a cache far smaller than the round, whose misses read entries back
from the files written earlier in the round (publish.files.EntryFiles). Every channel file is compared by digest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import procs, real
from bench.common import REPO
from bench.republish import compare
from tests.conftest import SHARED

ARCHIVE = SHARED / "corpora" / real.ARCHIVE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"real-feeds corpus absent ({ARCHIVE})"),
]


def republish(store: Path, config: Path, work: Path, *flags: str) -> dict[str, Any]:
    res = subprocess.run([sys.executable, "-m", "bench.republish", str(store), str(config), str(work), *flags],
                         capture_output=True, text=True, env=procs.clean_env(), cwd=REPO, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def test_entries_read_back_from_written_files_give_the_bytes_rendering_gives(tmp_path: Path) -> None:
    feeds = real.unpack(ARCHIVE, tmp_path / "realfeeds", 40)
    with procs.feed_server(tmp_path / "realfeeds", sniff=True) as base:
        run = real.ingest_once(tmp_path, "store", base, feeds, 0)
    assert run["stored"] > 800
    config = tmp_path / "store.toml"
    small = tmp_path / "small.toml"  # a sixth of the round: most second uses of an entry are read back
    small.write_text(config.read_text() + "\n[cache]\nentries_mb = 4\n")

    cached = republish(tmp_path / "store", small, tmp_path / "cached")
    reference = republish(tmp_path / "store", config, tmp_path / "reference", "--uncached")

    assert cached["entry_cache"]["reread"] > 1000, cached  # the read-back path was taken, not a vacuous pass
    assert reference["entry_cache"]["hits"] == reference["entry_cache"]["reread"] == 0
    diff = compare(tmp_path / "reference", tmp_path / "cached")
    assert diff["files"] > 200 and diff["same"] == diff["files"], diff
    assert cached["tree_sha256"] == reference["tree_sha256"]
