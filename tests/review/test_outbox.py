"""An inbox job's review: a new version of its outbox file, the one it replaces kept."""

from __future__ import annotations

import os
from pathlib import Path

from tests.inbox.conftest import listing, poll_until_settled
from tests.review.helpers import claims_file, dx, read_csv
from tests.review.test_import import _decide
from worker.inbox import Inbox


def test_reviewing_an_inbox_job_writes_a_new_outbox_version(any_db_url: str,
                                                             tmp_path: Path) -> None:
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    claims_file(inbox_dir / "monday.csv")
    poll_until_settled(Inbox(inbox_dir, send=None, settle_seconds=0, run_inline=True))
    outbox = inbox_dir / "outbox"
    assert listing(outbox) == ["monday.csv.results.csv"]
    first = (outbox / "monday.csv.results.csv").read_text()
    job = dx("jobs", tmp_path=tmp_path).stdout.split()[0]
    sheet = tmp_path / "queue.csv"
    assert dx("review", "export", job, "-o", str(sheet), tmp_path=tmp_path).returncode == 0
    _decide(sheet, {"possible pneumonia": "J18.9"})
    done = dx("review", "import", str(sheet), "--reviewer", "alice", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "outbox rewritten" in done.stdout
    assert listing(outbox) == ["monday.csv.results.csv", "monday.csv.results.v1.csv"]
    assert (outbox / "monday.csv.results.v1.csv").read_text() == first
    rows = read_csv((outbox / "monday.csv.results.csv").read_text())
    assert [r["code"] for r in rows if r["method"] == "review"] == ["J18.9"] * 4
    assert all(r["method"] != "review" for r in read_csv(first))
    # Claims data: private, whatever the umask.
    assert {os.stat(p).st_mode & 0o777 for p in outbox.iterdir()} == {0o600}
    # A second review keeps the second version too.
    _decide(sheet, {"possible pneumonia": "J18.8"})
    assert dx("review", "import", str(sheet), "--reviewer", "bob",
              tmp_path=tmp_path).returncode == 0
    assert listing(outbox) == ["monday.csv.results.csv", "monday.csv.results.v1.csv",
                               "monday.csv.results.v2.csv"]
    assert "J18.9" in (outbox / "monday.csv.results.v2.csv").read_text()
