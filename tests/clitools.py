"""Run the installed `dxcoder` command as a user would, against a given database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DXCODER = str(Path(sys.executable).with_name("dxcoder"))


def run_dxcoder(*args: str, database_url: str, data_dir: Path | str, timeout: float = 300,
                env: dict[str, str] | None = None, input: str | None = None
                ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
    environ.update({"DXCODER_DATABASE_URL": database_url, "DXCODER_DATA_DIR": str(data_dir)})
    environ.update(env or {})
    return subprocess.run([DXCODER, *args], capture_output=True, text=True, env=environ,
                          timeout=timeout, input=input, check=False)
