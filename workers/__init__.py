"""Celery app for the scaled-out mode: `celery -A workers worker -Q fetch,publish,notify`."""

from workers.celery_app import app

__all__ = ["app"]
