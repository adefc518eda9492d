"""Data lifecycle: per-job partitions of the bulk tables, retention and purge of claims data."""
