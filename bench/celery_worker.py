"""`python -m bench.celery_worker ARGS` = `celery ARGS`, with the bench's opt-in switches applied first
(BENCH_NO_FASTPATH=1), so the scaled workload measures the same code as the embedded one."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    if os.environ.get("BENCH_NO_FASTPATH") == "1":
        import syndication.intake.fastparse as fastparse

        fastparse.try_parse = lambda *a, **k: None  # type: ignore[assignment]
    from celery.__main__ import main

    sys.argv[0] = "celery"
    sys.exit(main())
