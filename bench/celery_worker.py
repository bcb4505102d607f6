"""`python -m bench.celery_worker ARGS` = `celery ARGS`, with the bench's opt-in patches applied first
(BENCH_PROPOSED_STORIES=1), so the scaled workload measures the same code as the embedded one."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    if os.environ.get("BENCH_PROPOSED_STORIES") == "1":
        from bench import proposed_story_match

        proposed_story_match.install()
    from celery.__main__ import main

    sys.argv[0] = "celery"
    sys.exit(main())
