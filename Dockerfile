# The syndication service: one image for every role (web, scheduler, Celery workers, Flower).
#   docker compose up            (see docker-compose.yml and docs/scaling-out.md)
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY syndication ./syndication
COPY workers ./workers
COPY bench ./bench
COPY config ./config
# `scale` adds Flower; lxml, psycopg[binary] and nh3 ship manylinux wheels, so no compiler is needed.
RUN pip install ".[scale]" \
    && useradd --create-home --uid 10001 syndication \
    && mkdir -p /data \
    && chown syndication /data

USER syndication
ENV SYNDICATION_DATA_DIR=/data \
    SYNDICATION_CONFIG=/app/config/syndication.toml
VOLUME ["/data"]
EXPOSE 8000 5555
# Default role: the embedded service (SQLite in /data). docker-compose.yml overrides the command per role.
CMD ["syndication", "run", "--host", "0.0.0.0", "--port", "8000"]
