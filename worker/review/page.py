"""`dxcoder review serve`: the review queue as a web page (Tornado, basic auth, 127.0.0.1).

The same queue as `review export` (one row per distinct entry, most lines first), each row a
form: the candidates as choices, a code box for any other code, Save. Saving is a one-row
sheet through the same checks and the same apply as `review import`; the reviewer is the user
who logged in. Forms carry Tornado's XSRF token: basic auth alone would let another site's
page post decisions with the browser's remembered credentials.
"""

from __future__ import annotations

import base64
import hmac
import logging
from typing import Any

import tornado.httpserver
import tornado.ioloop
import tornado.web
from sqlalchemy import select
from tornado.escape import url_escape, xhtml_escape

from worker import db
from worker.contract import NEEDS_REVIEW
from worker.errors import JobError
from worker.models import Job
from worker.pipeline.jobs import get_job
from worker.review import apply, queue, service
from worker.review.sheet import NO_MATCH_CHOICE, SheetRow
from worker.settings import get_settings

log = logging.getLogger("dxcoder.review")
JOBS_SHOWN = 50
ENTRIES_SHOWN = 500

_STYLE = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}
.msg{color:#555;font-size:.9em}.ok{background:#e6ffe6;padding:.5em}.err{background:#ffe6e6;padding:.5em}
label{display:block}"""


class _Page(tornado.web.RequestHandler):
    def prepare(self) -> None:
        settings = get_settings()
        header = self.request.headers.get("Authorization", "")
        user = password = ""
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = password = ""
        if not (hmac.compare_digest(user.encode(), settings.review_user.encode())
                and hmac.compare_digest(password.encode(), settings.review_password.encode())):
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Basic realm="dxcoder review"')
            self.finish("authentication required")
            return
        self.reviewer = user

    def page(self, title: str, body: str) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")  # claims data
        self.finish(f"<!doctype html><html><head><meta charset='utf-8'><title>"
                    f"{xhtml_escape(title)}</title><style>{_STYLE}</style></head><body>"
                    f"<h1>{xhtml_escape(title)}</h1>{body}</body></html>")


class JobsPage(_Page):
    def get(self) -> None:
        with db.session_scope() as session:
            jobs = list(session.execute(select(Job.id, Job.name, Job.total_lines)
                                        .order_by(Job.created_at.desc()).limit(JOBS_SHOWN)))
            waiting = queue.needs_review_counts(session, [j.id for j in jobs])
        rows = "".join(
            f"<tr><td><a href='/job/{url_escape(j.id)}'>{xhtml_escape(j.id)}</a></td>"
            f"<td>{xhtml_escape(j.name)}</td><td>{j.total_lines:,}</td>"
            f"<td class='waiting'>{waiting.get(j.id, 0):,}</td></tr>" for j in jobs)
        self.page("dxcoder review queue", "<table><tr><th>job</th><th>name</th><th>lines</th>"
                  f"<th>needs_review</th></tr>{rows}</table>")


class QueuePage(_Page):
    def get(self, job_id: str) -> None:
        with db.session_scope() as session:
            try:
                job = get_job(session, job_id)
            except JobError as exc:
                raise tornado.web.HTTPError(404, reason=str(exc)) from None
            entries = queue.read_queue(session, job.id)
            counts = _counts(session, job.id)
            job_id, name = job.id, job.name
        notice = self.get_argument("saved", "")
        error = self.get_argument("error", "")
        banner = (f"<p class='ok' id='saved'>{xhtml_escape(notice)}</p>" if notice else "") + \
            (f"<p class='err' id='error'>{xhtml_escape(error)}</p>" if error else "")
        rows = "".join(self._row(job_id, n, e) for n, e in enumerate(entries[:ENTRIES_SHOWN]))
        summary = ", ".join(f"<span class='count' data-status='{s}'>{s} {c:,}</span>"
                            for s, c in sorted(counts.items()))
        self.page(f"Review: {name}", f"<p><a href='/'>all jobs</a> · job {xhtml_escape(job_id)}"
                  f"</p><p id='counts'>{summary}</p>{banner}"
                  f"<p>{len(entries):,} entries waiting, "
                  f"{sum(len(e.lines) for e in entries):,} lines</p>"
                  "<table id='queue'><tr><th>entry</th><th>lines</th><th>message</th>"
                  f"<th>decision</th></tr>{rows}</table>")

    def _row(self, job_id: str, n: int, entry: queue.QueueEntry) -> str:
        choices = "".join(
            f"<label><input type='radio' name='choice' value='{xhtml_escape(c.code)}'"
            f"{' checked' if i == 0 else ''}> {xhtml_escape(c.label())}</label>"
            for i, c in enumerate(entry.candidates))
        choices += (f"<label><input type='radio' name='choice' value='{NO_MATCH_CHOICE}'> "
                    "no_match (nothing to code)</label>")
        return (f"<tr class='entry' data-entry='{xhtml_escape(entry.entry)}'>"
                f"<td>{xhtml_escape(entry.entry)}</td><td>{len(entry.lines):,}</td>"
                f"<td class='msg'>{xhtml_escape(entry.message)}</td><td>"
                f"<form method='post' action='/job/{url_escape(job_id)}/decide' id='form-{n}'>"
                f"{self.xsrf_form_html()}<input type='hidden' name='entry' "
                f"value='{xhtml_escape(entry.entry)}'>{choices}"
                "<label>or code: <input type='text' name='code' size='14'></label>"
                "<label>note: <input type='text' name='note' size='24'></label>"
                "<label><input type='checkbox' name='global' value='1'> keep as an approved "
                "mapping for later jobs</label>"
                "<button type='submit'>Save</button></form></td></tr>")


class DecidePage(_Page):
    def post(self, job_id: str) -> None:
        entry = self.get_argument("entry")
        decision = self.get_argument("code", "").strip() or self.get_argument("choice", "")
        scope = apply.GLOBAL if self.get_argument("global", "") else apply.JOB
        row = SheetRow(2, job_id, entry, decision, self.get_argument("note", "").strip())
        if not decision:
            return self._back(job_id, error="choose a candidate or type a code")
        outcome = service.import_rows("review page", [row], self.reviewer, scope, job_id=job_id)
        done = outcome.applied
        if done is None:
            problem = outcome.problems[0] if outcome.problems else "nothing to apply"
            return self._back(job_id, error=problem.replace("review page: row 2: ", ""))
        kept = {apply.APPROVED: "; kept as an approved mapping",
                apply.PENDING: "; the mapping waits for a second reviewer"}
        tail = kept[apply.APPROVED] if done.approved else kept[apply.PENDING] if done.pending \
            else ""
        self._back(done.job_id, saved=f"{entry}: {decision.split()[0]} on {done.lines:,} lines"
                   f"{tail}")

    def _back(self, job_id: str, **query: str) -> None:
        args = "&".join(f"{k}={url_escape(v)}" for k, v in query.items())
        self.redirect(f"/job/{url_escape(job_id)}?{args}", status=303)


def _counts(session: Any, job_id: str) -> dict[str, int]:
    from sqlalchemy import func

    from worker.models import Result as ResultRow

    counts = dict(session.execute(select(ResultRow.status, func.count())
                                  .where(ResultRow.job_id == job_id)
                                  .group_by(ResultRow.status)).all())
    counts.setdefault(NEEDS_REVIEW, 0)
    return {str(k): int(v) for k, v in counts.items()}


def application() -> tornado.web.Application:
    return tornado.web.Application([
        (r"/", JobsPage),
        (r"/job/([0-9A-Za-z]+)", QueuePage),
        (r"/job/([0-9A-Za-z]+)/decide", DecidePage),
    ], xsrf_cookies=True)


def serve(address: str, port: int) -> None:
    """Listen until interrupted (SIGINT/SIGTERM end it)."""
    import signal

    server = tornado.httpserver.HTTPServer(application())
    server.listen(port, address=address)
    loop = tornado.ioloop.IOLoop.current()

    def stop(*_: Any) -> None:
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("review.serving", extra={"address": address, "port": port})
    print(f"review page on http://{address}:{port}/", flush=True)
    loop.start()
    server.stop()
