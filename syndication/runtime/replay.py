"""Replaying a dead letter: the failed work sent again through the runtime's dispatcher, the letter marked
replayed. Above the jobs (it re-runs them) and the dead letters' records (syndication.runtime.deadletters), which the
jobs write: so the records never import the jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from syndication.db.models import DeadLetter, Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_sources, holder_for
from syndication.runtime.tasks import TASK_POLL, TASK_PUBLISH_ALL, TASK_PUBLISH_DIRTY, TASK_STORE_ITEM


class ReplayError(Exception):
    """The dead letter cannot be replayed (unknown id, already replayed, unknown task, source gone)."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    id: int
    task: str
    action: str  # what was done, one line for operators


def replay(rt: Runtime, dead_letter_id: int, *, force: bool = False) -> ReplayResult:
    """Send the failed work again through the runtime's dispatcher and mark the letter replayed.

    - poll_source / store_item: the source is polled again now, its validators (ETag/Last-Modified)
      cleared so the whole document is fetched and processed (stores are idempotent upserts);
    - publish_dirty / publish_all: every channel is regenerated.
    Raises ReplayError with a one-line reason; `force` replays a letter already replayed.
    """
    if rt.dispatcher is None:
        raise ReplayError("no dispatcher: open the runtime with a dispatcher first")
    now = utcnow()
    with transaction(rt.sessions) as session:
        row = session.get(DeadLetter, dead_letter_id)
        if row is None:
            raise ReplayError(f"no dead letter {dead_letter_id}")
        if row.replayed_at is not None and not force:
            raise ReplayError(f"dead letter {dead_letter_id} was already replayed at {row.replayed_at.isoformat()}")
        task, args = row.task, list(row.args or [])
        source_id: int | None = None
        if task in (TASK_POLL, TASK_STORE_ITEM):
            if not args or not isinstance(args[0], int):
                raise ReplayError(f"dead letter {dead_letter_id}: {task} without a source id")
            source_id = args[0]
            src = session.get(Source, source_id)
            if src is None:
                raise ReplayError(f"dead letter {dead_letter_id}: source {source_id} no longer exists")
            src.etag = None
            src.last_modified = None
            src.next_poll_at = now
        elif task not in (TASK_PUBLISH_DIRTY, TASK_PUBLISH_ALL) and not _generic_replay(rt, task, args, check=True):
            raise ReplayError(f"dead letter {dead_letter_id}: don't know how to replay task {task!r}")
        session.execute(update(DeadLetter).where(DeadLetter.id == dead_letter_id).values(replayed_at=now))
    if source_id is not None:
        claimed = claim_sources(rt.sessions, [source_id], now, lease_seconds=rt.settings.schedule.lease_seconds,
                                holder=holder_for(rt.settings))
        if claimed:
            rt.dispatcher.poll(*claimed[0])
            action = f"source {source_id} polled again (full fetch)"
        else:
            action = f"source {source_id} is being polled now; due again with a full fetch"
    elif task in (TASK_PUBLISH_DIRTY, TASK_PUBLISH_ALL):
        rt.dispatcher.publish_all()
        action = "all channels regenerated"
    else:
        action = _generic_replay(rt, task, args, check=False)
    return ReplayResult(dead_letter_id, task, action)


def _generic_replay(rt: Runtime, task: str, args: list[Any], *, check: bool) -> str:
    """Other tasks (e.g. syndication.deliver_notices): scaled mode sends the same task with the same args
    again; embedded mode runs the job of the same name (jobs.<name>(rt, *args)) now. '' when impossible."""
    app = getattr(rt.dispatcher, "app", None)
    if app is not None and not rt.settings.embedded:
        if not check:
            app.send_task(task, args=args)
        return f"task {task} sent again"
    func = getattr(jobs, task.removeprefix("syndication."), None)
    if not task.startswith("syndication.") or not callable(func):
        return ""
    if not check:
        func(rt, *args)
    return f"job {task} run again"
