#!/usr/bin/env bash
# One-shot: migrate the schema, then load the packaged code sets (a no-op when already loaded).
# Run before workers start and after every upgrade.
set -euo pipefail

dxcoder db upgrade
exec dxcoder codeset load "$@"
