"""The Celery application, configured from celeryconfig (which maps dxcoder's settings)."""

from __future__ import annotations

from celery import Celery

app = Celery("dxcoder")
app.config_from_object("celeryconfig")
