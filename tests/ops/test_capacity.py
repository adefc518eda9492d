"""The capacity guide's Redis figure still holds: memory per queued chunk message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.servers import ThrowawayRedis
from tests.workers import ROOT, dxcoder_env


def test_a_queued_chunk_costs_about_a_kilobyte_of_redis(tmp_path: Path,
                                                        throwaway_redis: ThrowawayRedis) -> None:
    # INFO memory of a server nothing else writes to.
    env = dxcoder_env("sqlite:///unused.sqlite3", tmp_path, throwaway_redis.url, "unused")
    done = subprocess.run([sys.executable, str(ROOT / "deploy" / "measure_queue_memory.py"),
                           "--messages", "2000"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["messages"] == 2000
    # deploy/README.md says ~1.0 KB per queued chunk; keep the guide honest.
    assert 700 <= measured["bytes_per_message"] <= 1500, measured
