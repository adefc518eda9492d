"""The review page in a real browser: log in, pick a candidate, save, see the lines resolved."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from tests.clitools import DXCODER, wait_until
from tests.ops.helpers import Service, http_get, listening_addresses
from tests.review.cdp import Browser
from tests.review.helpers import dx, run_job
from tests.servers import free_port
from worker import db
from worker import settings as settings_module
from worker.models import Result as ResultRow

AUTH = ("coder1", "n0t-the-default")


def test_a_reviewer_picks_a_candidate_in_the_browser_and_the_lines_resolve(
        any_db_url: str, tmp_path: Path) -> None:
    job = run_job(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DXCODER_")}
    env.update({"DXCODER_DATABASE_URL": settings_module.get_settings().database_url,
                "DXCODER_DATA_DIR": str(tmp_path), "DXCODER_REVIEW_USER": AUTH[0],
                "DXCODER_REVIEW_PASSWORD": AUTH[1], "DXCODER_REVIEW_PORT": str(port)})
    # Without credentials configured it refuses to start.
    refused = dx("review", "serve", tmp_path=tmp_path)
    assert refused.returncode == 1 and "DXCODER_REVIEW_USER" in refused.stderr
    service = Service([DXCODER, "review", "serve"], env, tmp_path / "review.log").start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(base + "/", AUTH)[0] == 200, what="review page up",
                 service=service)
        assert http_get(base + "/")[0] == 401
        assert http_get(base + f"/job/{job}", ("coder1", "wrong"))[0] == 401
        assert listening_addresses(port) == {"127.0.0.1"}
        code, listing = http_get(base + "/", AUTH)
        assert job in listing

        with Browser(tmp_path / "profile") as browser:
            browser.call("Page.enable")
            browser.call("Page.navigate", url=f"http://{AUTH[0]}:{AUTH[1]}@127.0.0.1:{port}"
                         f"/job/{job}")
            browser.wait_until("document.readyState === 'complete' && "
                               "!!document.querySelector('tr.entry')")
            entries = browser.evaluate(
                "[...document.querySelectorAll('tr.entry')].map(r => r.dataset.entry)")
            assert entries[0] == "possible pneumonia"
            before = browser.evaluate("document.getElementById('counts').innerText")
            assert "needs_review 7" in before, before
            # The femur row: pick its second candidate (the first is checked by default).
            femur = next(i for i, e in enumerate(entries) if "femur" in e)
            picked = browser.evaluate(
                f"(() => {{ const row = document.querySelectorAll('tr.entry')[{femur}];"
                "const radios = row.querySelectorAll('input[name=choice]');"
                "radios[1].click(); const value = radios[1].value;"
                "row.querySelector('button[type=submit]').click(); return value; })()")
            assert picked and picked.startswith("S72.")
            saved = browser.wait_until("document.getElementById('saved') && "
                                       "document.getElementById('saved').innerText")
            assert f"{picked} on 1 lines" in saved
            # Then the most frequent entry, with its first candidate as it stands.
            browser.evaluate("document.querySelector('tr.entry button[type=submit]').click()")
            saved = browser.wait_until(
                "document.getElementById('saved') && "
                "document.getElementById('saved').innerText.includes('pneumonia') && "
                "document.getElementById('saved').innerText")
            assert "J18.9 on 4 lines" in saved
            after = browser.evaluate("document.getElementById('counts').innerText")
            assert "needs_review 2" in after, after
            left = browser.evaluate(
                "[...document.querySelectorAll('tr.entry')].map(r => r.dataset.entry)")
            assert left == ["250"]
            # A code that is no code: refused on the page, nothing changes.
            browser.evaluate("(() => { const row = document.querySelector('tr.entry');"
                             "row.querySelector('input[name=code]').value = 'E11.99';"
                             "row.querySelector('button[type=submit]').click(); })()")
            error = browser.wait_until("document.getElementById('error') && "
                                       "document.getElementById('error').innerText")
            assert "unknown code E11.99" in error
    finally:
        service.stop()
    with db.session_scope() as session:
        lines = {r.line_no: r for r in session.scalars(select(ResultRow).where(
            ResultRow.job_id == job))}
        assert [(lines[n].status, lines[n].code, lines[n].method) for n in (2, 4, 6, 9)] == \
            [("resolved", "J18.9", "review")] * 4
        assert lines[10].code == picked and lines[10].method == "review"
        assert "reviewed by coder1" in lines[10].message
        assert lines[5].status == "needs_review"
    assert "pneumonia" not in service.log()  # ids and counts are logged, never entries
