"""Two relayers marking the same new channel at once (two schedulers, or a scheduler and a worker, on
PostgreSQL): neither transaction fails, and both marks count."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select

from syndication.clock import utcnow
from syndication.db.models import Channel
from syndication.db.session import transaction
from syndication.publish.publisher import mark_dirty
from syndication.runtime import Runtime


def test_first_marks_of_a_channel_from_two_transactions(
    make_runtime: Callable[..., Runtime], database_url: str
) -> None:
    rt = make_runtime(database_url=database_url)
    first_marked = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction(rt.sessions) as s:
                mark_dirty(s, {"all", "partners/new"}, utcnow())
                s.flush()  # the rows are inserted, not yet committed
                first_marked.set()
                time.sleep(0.5)  # the other transaction reaches the same rows meanwhile
        except BaseException as exc:
            errors.append(exc)
            first_marked.set()

    def second() -> None:
        first_marked.wait(10)
        try:
            with transaction(rt.sessions) as s:
                mark_dirty(s, {"partners/new"}, utcnow())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with rt.sessions() as s:
        rows = {c.id: (c.dirty_seq, c.dirty_since is not None) for c in s.scalars(select(Channel))}
    assert rows == {"all": (1, True), "partners/new": (2, True)}
