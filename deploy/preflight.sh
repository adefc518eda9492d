#!/usr/bin/env bash
# Refuses to let the compose stack start with .env.example's placeholder passwords. Compose's
# ${VAR:?} refuses an empty one; this refuses `change-me`, before PostgreSQL is initialised with
# it (PostgreSQL keeps the password it was first started with) and before anything listens.
set -euo pipefail

placeholder="change-me"
unset_ones=()
for name in POSTGRES_PASSWORD REDIS_PASSWORD DXCODER_FLOWER_PASSWORD; do
  value="${!name:-}"
  if [ -z "$value" ] || [ "$value" = "$placeholder" ]; then
    unset_ones+=("$name")
  fi
done
if [ "${#unset_ones[@]}" -gt 0 ]; then
  echo "preflight: ${unset_ones[*]} still empty or .env.example's placeholder '${placeholder}';" \
       "set a password of your own for each in .env, then run docker compose up again" >&2
  exit 1
fi
exec echo "preflight: passwords set"
