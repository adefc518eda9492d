#!/usr/bin/env bash
# Celery beat: run EXACTLY ONE per deployment (reconciler every minute, nightly recoding).
# Its schedule file lives in DXCODER_DATA_DIR. Extra arguments go to `celery beat`.
set -euo pipefail

exec dxcoder beat "$@"
