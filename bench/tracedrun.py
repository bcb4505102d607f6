"""`syndication run` under tracemalloc, dumping a snapshot each time the store passes a number of items
(`python -m bench soak --trace-at 1000,2000,4000`): diff two of them to see what each new item leaves behind.
Tracing starts when the store passes the first count (start-up at full speed; what is allocated before and
kept is not traced, which a diff between two later snapshots does not need).

    python -m bench.tracedrun OUT_DIR DB_PATH N0,N1,N2,... -- ARGS OF `syndication`

Snapshots go to OUT_DIR/items-<N>.snap for N1, N2, ...; `python -m bench.tracedrun --diff A.snap B.snap [TOP]`
prints the largest growths between two of them, by line and by traceback.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 8


def _count(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(con.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0
    finally:
        con.close()


def _watch(out: Path, db: Path, marks: list[int]) -> None:
    for n, mark in enumerate(marks):
        while _count(db) < mark:
            time.sleep(2)
        if n == 0:
            tracemalloc.start(FRAMES)
            continue
        snap = tracemalloc.take_snapshot()
        snap.dump(str(out / f"items-{mark}.snap"))
        print(f"tracedrun: snapshot at {mark} items ({tracemalloc.get_traced_memory()[0] / 1e6:.1f} MB traced)",
              file=sys.stderr, flush=True)


def diff(a: str, b: str, top: int = 25) -> None:
    old, new = tracemalloc.Snapshot.load(a), tracemalloc.Snapshot.load(b)
    filters = [tracemalloc.Filter(False, tracemalloc.__file__),
               tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    old, new = old.filter_traces(filters), new.filter_traces(filters)
    total = sum(s.size for s in new.statistics("filename")) - sum(s.size for s in old.statistics("filename"))
    print(f"traced growth: {total / 1e6:.2f} MB")
    print("--- by line")
    for stat in new.compare_to(old, "lineno")[:top]:
        print(stat)
    print("--- by traceback")
    for stat in new.compare_to(old, "traceback")[: top // 3]:
        print(f"{stat.size_diff / 1e6:+.2f} MB, {stat.count_diff:+d} blocks")
        for line in stat.traceback.format()[-2 * FRAMES:]:
            print("   ", line)


def main() -> None:
    if sys.argv[1] == "--diff":
        diff(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 25)
        return
    out, db, marks = Path(sys.argv[1]), Path(sys.argv[2]), sorted(int(m) for m in sys.argv[3].split(","))
    rest = sys.argv[sys.argv.index("--") + 1 :]
    out.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_watch, args=(out, db, marks), daemon=True).start()
    from syndication.cli.app import main as cli  # lazy: the watcher runs before the service's imports

    sys.argv = ["syndication", *rest]
    cli()


if __name__ == "__main__":
    main()
