"""Partners and their sources: config upsert, and the `partner add` operation."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Partner, Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import ConfigError, PartnerConfig, Settings, SourceConfig


def source_locator(cfg: SourceConfig) -> str:
    if cfg.kind == "folder":
        return str(Path(cfg.path or "").resolve())
    return cfg.locator


def validate_sources(settings: Settings) -> None:
    for i, p in enumerate(settings.partners):
        for j, s in enumerate(p.sources):
            if s.kind == "folder" and not Path(s.path or "").is_dir():
                raise ConfigError(f"partners[{i}].sources[{j}].path: folder {s.path!r} does not exist")


def sync_partners(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Upsert partners and sources from the config; the database keeps anything added since."""
    validate_sources(settings)
    key = None
    if any(s.password or s.token for p in settings.partners for s in p.sources):
        key = credentials_key(settings)
    with transaction(sessions) as session:
        if session.get_bind().dialect.name == "postgresql":
            # [scale-out] Several processes (two schedulers, web, ...) start at once: one syncs at a time,
            # the next then sees the rows (read-committed) instead of inserting them again.
            session.execute(text("SELECT pg_advisory_xact_lock(724012)"))
        # Every partner and source read once (two queries), not one query per partner and per source: a start
        # with the 112 real feeds' partners spent ~60 ms here. The partners sit in the session, where
        # upsert_partner's get finds them, as long as this list holds them (the session holds its objects weakly).
        _partners = session.scalars(select(Partner)).all()
        sources = {(s.partner_id, s.kind, s.locator): s for s in session.scalars(select(Source))}
        for cfg in settings.partners:
            upsert_partner(session, cfg, credentials_key=key, sources=sources)
        bound_intervals(session, settings.fetch.max_interval, utcnow())


def bound_intervals(session: Session, cap: int, now: datetime) -> list[int]:
    """Bring sources whose adaptive interval outgrew their bound back within it now, not after the long wait
    already scheduled (a bound lowered in the config, or a row from before bounds: up to 6 h).
    A source backing off after errors keeps its next poll: that wait is the backoff's, not the interval's."""
    from syndication.intake.decide import interval_bound  # lazy: start-up (the runtime imports this module)

    healed = []
    for src in session.scalars(select(Source).where(Source.current_interval.is_not(None))):
        bound = interval_bound(src.interval, src.max_interval, cap)
        if src.current_interval is None or src.current_interval <= bound:
            continue
        src.current_interval = bound
        healed.append(src.id)
        latest = (src.last_attempt_at or now) + timedelta(seconds=bound)
        if not src.consecutive_errors and src.next_poll_at > latest:
            src.next_poll_at = latest
    return healed


def credentials_key(settings: Settings) -> bytes:
    """The key sealing stored source credentials (see syndication.intake.credentials)."""
    from syndication.intake.credentials import CredentialsError, load_key  # lazy: cryptography costs start-up

    configured = settings.fetch.credentials_key
    try:
        return load_key(configured.get_secret_value() if configured else None, settings.data_dir)
    except CredentialsError as exc:
        raise ConfigError(str(exc)) from None


def upsert_partner(
    session: Session, cfg: PartnerConfig, *, credentials_key: bytes | None = None,
    sources: dict[tuple[str, str, str], Source] | None = None,
) -> Partner:
    """sources: every source row by (partner, kind, locator), read beforehand (sync_partners); else each source
    is looked up."""
    now = utcnow()
    row = session.get(Partner, cfg.id)
    values = {
        "name": cfg.name,
        "homepage": cfg.homepage,
        "credit": cfg.credit or cfg.name,
        "license_url": cfg.license_url,
        "usage_terms": cfg.usage_terms,
        "copyright": cfg.copyright,
        "language": cfg.language,
    }
    if row is None:
        row = Partner(id=cfg.id, created_at=now, updated_at=now, **values)
        session.add(row)
    elif any(getattr(row, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_at = now
    session.flush()
    for s in cfg.sources:
        upsert_source(session, cfg.id, s, credentials_key=credentials_key, known=sources)
    return row


def upsert_source(
    session: Session, partner_id: str, cfg: SourceConfig, *, credentials_key: bytes | None = None,
    known: dict[tuple[str, str, str], Source] | None = None,
) -> Source:
    locator = source_locator(cfg)
    identity = (partner_id, cfg.kind, locator)
    if known is not None:
        row = known.get(identity)
    else:
        row = session.scalar(
            select(Source).where(Source.partner_id == partner_id, Source.kind == cfg.kind, Source.locator == locator)
        )
    from syndication.intake.credentials import seal_credentials  # lazy: cryptography costs start-up

    creds = seal_credentials(
        credentials_key,
        username=cfg.username,
        password=cfg.password.get_secret_value() if cfg.password else None,
        token=cfg.token.get_secret_value() if cfg.token else None,
        password_env=cfg.password_env,
        token_env=cfg.token_env,
    )
    if row is None:
        row = Source(
            partner_id=partner_id, kind=cfg.kind, locator=locator, interval=cfg.interval, consume=cfg.consume,
            enabled=True, credentials=creds, next_poll_at=utcnow(), consecutive_errors=0, created_at=utcnow(),
            max_interval=cfg.max_interval,
        )
        session.add(row)
        if known is not None:
            known[identity] = row  # the same source listed twice is one row, as when each was looked up
    else:
        row.interval, row.consume, row.max_interval = cfg.interval, cfg.consume, cfg.max_interval
        if creds is not None:
            row.credentials = creds
    session.flush()
    return row
