"""Resolver fixtures: one loaded resolver per backend for read-only tests (indexes load once).

Each backend gets its own copy of the loaded template database, read through a session
factory of its own, so the shared template stays free for CREATE DATABASE .. TEMPLATE and
the tests that write (overrides) keep using the per-test databases of tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from tests.conftest import PG_SERVER, _drop
from worker.resolver import Resolver, reset_resolver


def _resolver_on(url: str, cache_dir: Path | None = None) -> tuple[Resolver, sa.Engine]:
    engine = sa.create_engine(url, poolclass=NullPool)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)

    @contextlib.contextmanager
    def scope() -> Iterator[Session]:
        session = sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    return Resolver(sessions=scope, cache_dir=cache_dir), engine


@pytest.fixture(scope="session")
def pg_resolver(pg_admin: sa.Engine, pg_template: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Resolver]:
    name = f"dxcoder_rs_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    resolver, engine = _resolver_on(f"{PG_SERVER}/{name}", tmp_path_factory.mktemp("pg-cache"))
    yield resolver
    engine.dispose()
    _drop(pg_admin, name)


@pytest.fixture(scope="session")
def sqlite_resolver(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Resolver]:
    target = tmp_path_factory.mktemp("resolver") / "dxcoder.sqlite3"
    shutil.copyfile(sqlite_template, target)
    resolver, engine = _resolver_on(f"sqlite:///{target}", target.parent / "cache")
    yield resolver
    engine.dispose()


@pytest.fixture
def sqlite_session_factory(sqlite_resolver: Resolver) -> object:
    """The session factory behind sqlite_resolver, for building more resolvers on its data."""
    return sqlite_resolver._sessions


@pytest.fixture(params=["postgresql", "sqlite"])
def resolver(request: pytest.FixtureRequest) -> Resolver:
    """A loaded resolver, once on PostgreSQL and once on SQLite (read-only use)."""
    return request.getfixturevalue("pg_resolver" if request.param == "postgresql"
                                   else "sqlite_resolver")


@pytest.fixture(autouse=True)
def _fresh_process_resolver() -> Iterator[None]:
    """Tests that use get_resolver() start from nothing and leave nothing behind."""
    reset_resolver()
    yield
    reset_resolver()
