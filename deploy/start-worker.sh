#!/usr/bin/env bash
# Celery worker (prefork) on the chunk queue. Extra arguments go to `celery worker`.
# DXCODER_WORKER_CONCURRENCY sets the processes (0 or unset = one per core); see deploy/README.md.
set -euo pipefail

args=()
if [ "${DXCODER_WORKER_CONCURRENCY:-0}" != 0 ]; then
  args+=(--concurrency "$DXCODER_WORKER_CONCURRENCY")
fi
# No gossip or mingle: each worker would otherwise take in every other worker's heartbeats and
# sync state at start, traffic that grows with the square of the worker count. Flower and
# `dxcoder health` use events and broadcast pings, which stay on.
exec dxcoder worker "${args[@]}" --without-gossip --without-mingle "$@"
