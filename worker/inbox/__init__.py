"""A watched drop-off directory: files dropped in it are submitted once, their results written to
outbox/, the sources archived or, when refused, moved to rejected/ with the reason beside them."""

from worker.inbox.poll import Inbox, PollReport, results_name, set_checkpoint

__all__ = ["Inbox", "PollReport", "results_name", "set_checkpoint"]
