"""The names of the work: Celery queues and task names, in one place.

A contract: workers register the tasks under these names (workers/celery_app.py), dead letters store them
(dead_letters.task), `celery -A workers worker -Q ...` and docker-compose.yml name the queues. Renaming one
strands every message and dead letter already written under the old name.
"""

from __future__ import annotations

# No `process` queue ([hardening] 15.8): parsing, normalising and fingerprinting stay in the poll task. Fetch
# workers are prefork processes, so that CPU work already spreads over every core; a separate task would have
# to carry the fetched body (up to fetch.max_body_bytes) through Redis, whose noeviction policy turns a backlog
# of bodies into a broker that refuses every write. See docs/scaling-out.md, "Queues".
QUEUES = ("fetch", "publish", "notify")

TASK_POLL = "syndication.poll_source"
TASK_PUBLISH_DIRTY = "syndication.publish_dirty"
TASK_PUBLISH_ALL = "syndication.publish_all"
TASK_DELIVER_NOTICES = "syndication.deliver_notices"  # webhook notices, on the notify queue
TASK_DELIVER_PINGS = "syndication.deliver_pings"  # WebSub pings, on the notify queue
# [wire] subscribe to partners' WebSub hubs, renew leases, unsubscribe for deleted sources; on the notify queue
TASK_WEBSUB_SUBSCRIPTIONS = "syndication.deliver_subscriptions"
# Not a Celery task: the name a dead letter of one item of a stored batch is recorded under.
TASK_STORE_ITEM = "syndication.store_item"  # args: [source_id, item_key, guid]
