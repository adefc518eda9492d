"""`celery flower` with /metrics and /healthcheck behind Flower's own authentication.

Flower exempts those two endpoints from --basic_auth (its docs, "Authentication": "The following
endpoints are exempt from authentication") and has no option to change that; its task names,
worker names and counts are no one else's business. `dxcoder flower` runs this module instead
of the `celery` program: it wraps the two handlers' GET in tornado's `authenticated`, as Flower
wraps every other view, then hands the command line to Celery's own entry point.
"""

from __future__ import annotations

import sys

import tornado.web
from celery.bin.celery import main
from flower.views import monitor


def protect_monitor_endpoints() -> None:
    """Make /metrics and /healthcheck answer 401 without the basic-auth credentials."""
    for handler in (monitor.Metrics, monitor.Healthcheck):
        if not getattr(handler.get, "_dxcoder_protected", False):
            handler.get = tornado.web.authenticated(handler.get)
            handler.get._dxcoder_protected = True


if __name__ == "__main__":
    protect_monitor_endpoints()
    sys.argv[0] = "celery"
    sys.exit(main())
