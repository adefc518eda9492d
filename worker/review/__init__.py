"""The review queue (issue 19): a job's needs_review lines, once per distinct entry, decided by
a person and applied to every line of the entry; global decisions kept as approved overrides."""
