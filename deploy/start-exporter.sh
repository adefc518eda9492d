#!/usr/bin/env bash
# Prometheus exporter for dxcoder's own metrics on DXCODER_EXPORTER_PORT (/metrics).
set -euo pipefail

exec dxcoder exporter "$@"
