"""dxcoder domain code: settings, database, code sets, resolver, ingest, metrics, CLI."""

__version__ = "0.1.0"
