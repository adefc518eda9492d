#!/usr/bin/env bash
# Flower with basic auth (DXCODER_FLOWER_USER / _PASSWORD), bounded memory and state saved as it
# goes. Waits until a worker answers `celery inspect ping` (at most DXCODER_FLOWER_WAIT_FOR_WORKERS
# seconds), then starts anyway: an operator needs the dashboard most when workers are down.
set -euo pipefail

wait_s="${DXCODER_FLOWER_WAIT_FOR_WORKERS:-120}"
deadline=$((SECONDS + wait_s))
until celery -A tasks inspect ping --timeout 2 >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "start-flower: no worker answered ping in ${wait_s} s; starting Flower anyway" >&2
    break
  fi
  echo "start-flower: waiting for a worker to answer ping" >&2
  sleep 2
done

exec dxcoder flower "$@"
