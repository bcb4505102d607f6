"""A partner's date -> a UTC datetime every layer can hold, or set aside with the reason. Pure: `now` is given.

The policy (issue #12 point 1): a partner date is kept when it lies in [EARLIEST, now + FUTURE_TOLERANCE],
converted to timezone-aware UTC. Anything else is set aside — the item is dated by its first sighting, as an
undated item is — and the value as the partner wrote it is recorded with the reason (`DateSetAside`, stored
in `items.partner_dates` and shown by the item status API), so nothing is lost and operators can tell the
partner what their feed says:

- before 1970-01-02: not news but a placeholder for "no date" (Hugo's `0001-01-01`, a zero Unix time shown in
  any zone lands on 1969-12-31 or 1970-01-01). Treating such a date as the item's date would sink the item
  below every other in its channels, and the low end of datetime's range is where arithmetic (the story window,
  a UTC conversion of year 1 at +01:00) and other stacks (JavaScript readers, 32-bit time, strftime's
  unpadded `%Y`) break. Set aside rather than clamped: a clamped 1970 date is as false as 0001.
- more than a day ahead: clamped to now, as before (flag `future_date_clamped`); partners' clocks drift a
  few hours, but a year-9999 date would keep the item at the top of every channel for ever.
- a value no parser could read, or one outside what datetime can hold once converted to UTC: set aside.

An embargo is held to the other end: one before EARLIEST has passed (no embargo); one after LATEST_EMBARGO
stays an embargo, held until LATEST_EMBARGO, which leaves datetime and PostgreSQL room for any arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from syndication.kernel.domain import DateSetAside
from syndication.pipeline.text import clean_text

EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
LATEST_EMBARGO = datetime(9000, 1, 1, tzinfo=UTC)
RAW_LIMIT = 200  # characters of the partner's text kept: enough to recognise, not a place to store a body

BEFORE_EARLIEST = "before 1970-01-02 (a placeholder for no date)"
IN_FUTURE = "more than a day in the future"
UNREADABLE = "not a date"
UNREPRESENTABLE = "outside the dates we can hold"
HELD_TO_LATEST = "after 9000-01-01: held until then"


@dataclass(frozen=True, slots=True)
class PartnerDate:
    """A usable UTC datetime or None, and the note when the partner's value was set aside."""

    value: datetime | None
    set_aside: DateSetAside | None = None


def to_utc(value: datetime) -> datetime | None:
    """Timezone-aware UTC (a naive value is taken to be UTC); None when the conversion leaves datetime's
    range (`0001-01-01T00:00+01:00` is in year 0) or the value's tzinfo cannot say its offset."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """moment + delta, saturating at datetime's ends instead of raising OverflowError."""
    try:
        return moment + delta
    except OverflowError:
        edge = datetime.min if delta < timedelta(0) else datetime.max
        return edge.replace(tzinfo=moment.tzinfo)


def raw_text(value: datetime | None, raw: str | None) -> str:
    """What the partner wrote, cleaned and cut; the parsed value when the parser kept no text."""
    text = clean_text(raw)
    if not text and value is not None:
        text = value.isoformat()
    return text if len(text) <= RAW_LIMIT else text[: RAW_LIMIT - 1] + "…"


def partner_date(field: str, value: datetime | None, raw: str | None, now: datetime) -> PartnerDate:
    """The policy above for a published/updated date: the value kept, or None with the reason."""
    if value is None:
        if clean_text(raw):
            return PartnerDate(None, DateSetAside(field, raw_text(None, raw), UNREADABLE))
        return PartnerDate(None)
    utc = to_utc(value)
    if utc is None:
        reason = UNREPRESENTABLE
    elif utc < EARLIEST:
        reason = BEFORE_EARLIEST
    elif utc > now + FUTURE_TOLERANCE:
        reason = IN_FUTURE
    else:
        return PartnerDate(utc)
    return PartnerDate(None, DateSetAside(field, raw_text(value, raw), reason))


def embargo_date(value: datetime | None, raw: str | None = None) -> PartnerDate:
    """An embargo: kept when in range; passed (None) before EARLIEST; held to LATEST_EMBARGO after it.
    A time that cannot be converted is held too: a partner asking to hold an item is not overruled by
    our calendar's limits."""
    if value is None:
        if clean_text(raw):
            return PartnerDate(None, DateSetAside("embargo_until", raw_text(None, raw), UNREADABLE))
        return PartnerDate(None)
    utc = to_utc(value)
    if utc is None:
        low = value.replace(tzinfo=None) < EARLIEST.replace(tzinfo=None)
        note = DateSetAside("embargo_until", raw_text(value, raw), UNREPRESENTABLE)
        return PartnerDate(None if low else LATEST_EMBARGO, note)
    if utc < EARLIEST:
        return PartnerDate(None, DateSetAside("embargo_until", raw_text(value, raw), BEFORE_EARLIEST))
    if utc > LATEST_EMBARGO:
        return PartnerDate(LATEST_EMBARGO, DateSetAside("embargo_until", raw_text(value, raw), HELD_TO_LATEST))
    return PartnerDate(utc)
