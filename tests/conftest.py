"""Shared fixtures: real PostgreSQL and SQLite databases with the packaged code sets loaded.

Loading the releases takes seconds, so it happens once per test session into a template;
each test that writes gets its own copy (CREATE DATABASE .. TEMPLATE on PostgreSQL, a file copy
on SQLite). PostgreSQL is required: `make test` starts it. A missing server fails the run
instead of skipping tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

from tests.servers import ThrowawayPostgres, ThrowawayRedis
from tests.workers import Worker, dxcoder_env
from worker import db, migrate
from worker import settings as settings_module
from worker.codesets import gems, loader, notes
from worker.settings import Settings

PG_SERVER = os.environ.get("DXCODER_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("DXCODER_TEST_REDIS", "redis://127.0.0.1:6379")


def use_database(url: str, data_dir: Path, **overrides: object) -> Settings:
    """Point this process's settings and engine at `url` (tests call this, never the env)."""
    db.dispose()
    settings = Settings.from_env(environ={}, database_url=url, data_dir=str(data_dir), **overrides)
    settings_module.configure(settings)
    from worker.resolver import reset_resolver

    reset_resolver()  # the in-process index belongs to the database it was read from
    return settings


def _admin() -> sa.Engine:
    return sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT",
                            connect_args={"connect_timeout": 5})


def _drop(engine: sa.Engine, name: str) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load_everything() -> None:
    migrate.upgrade()
    for source in loader.builtin_releases():
        with db.session_scope() as session:
            loader.load_release(session, source)
            notes.load_release_notes(session, source)
    with db.session_scope() as session:
        gems.load_packaged(session)
    with db.session_scope() as session:
        loader.load_synonyms(session)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    engine = _admin()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_SERVER} ({exc.orig}); "
                    "`make test` starts it (scripts/ensure-services.sh)", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_admin: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Name of a PostgreSQL database holding the schema and every packaged code set."""
    name = f"dxcoder_tpl_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    use_database(f"{PG_SERVER}/{name}", tmp_path_factory.mktemp("pg-template"))
    load_everything()
    db.dispose()
    yield name
    db.dispose()
    _drop(pg_admin, name)


@pytest.fixture
def pg_url(pg_admin: sa.Engine, pg_template: str, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the loaded PostgreSQL database, configured as this process's database."""
    name = f"dxcoder_t_{uuid.uuid4().hex[:10]}"
    db.dispose()
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = f"{PG_SERVER}/{name}"
    use_database(url, tmp_path)
    yield url
    db.dispose()
    _drop(pg_admin, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of an embedded SQLite database holding the schema and every packaged code set."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    path = directory / "dxcoder.sqlite3"
    use_database(f"sqlite:///{path}", directory)
    load_everything()
    db.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the loaded SQLite database, configured as this process's database."""
    target = tmp_path / "dxcoder.sqlite3"
    shutil.copyfile(sqlite_template, target)
    url = f"sqlite:///{target}"
    use_database(url, tmp_path)
    yield url
    db.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on PostgreSQL and once on embedded SQLite."""
    fixture = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def empty_pg_url(pg_admin: sa.Engine, tmp_path: Path) -> Iterator[str]:
    """An empty PostgreSQL database (no schema), configured as this process's database."""
    name = f"dxcoder_e_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = f"{PG_SERVER}/{name}"
    use_database(url, tmp_path)
    yield url
    db.dispose()
    _drop(pg_admin, name)


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'dxcoder.sqlite3'}"
    use_database(url, tmp_path)
    yield url
    db.dispose()


TEST_BROKER = os.environ.get("DXCODER_TEST_BROKER", "redis://127.0.0.1:6379/11")


@pytest.fixture
def queue_name() -> str:
    """A queue of the test's own, so workers of other tests never take its messages."""
    return f"dxcoder.test.{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pipeline(pg_url: str, tmp_path: Path, queue_name: str) -> Iterator[PipelineEnv]:
    """A loaded PostgreSQL database, a private queue, and a way to start real workers on them."""
    env = PipelineEnv(pg_url, tmp_path, queue_name)
    use_database(pg_url, tmp_path, broker_url=TEST_BROKER, queue=queue_name, chunk_size=50)
    yield env
    env.stop_all()
    from worker import breakers

    breakers.uninstall()


class PipelineEnv:
    def __init__(self, database_url: str, tmp_path: Path, queue: str) -> None:
        self.database_url, self.tmp_path, self.queue = database_url, tmp_path, queue
        self.workers: list[Worker] = []

    def env(self, **settings: object) -> dict[str, str]:
        settings.setdefault("chunk_size", 50)
        return dxcoder_env(self.database_url, self.tmp_path, TEST_BROKER, self.queue, **settings)

    def start_worker(self, concurrency: int = 2, **settings: object) -> Worker:
        log = self.tmp_path / f"worker-{len(self.workers)}.log"
        worker = Worker(self.env(**settings), log, concurrency).start()
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture(scope="module")
def throwaway_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server of the module's own, on a free port, for cases that stop, fill or
    restart the server (the shared one is never touched). It holds a loaded template database
    `dx_tpl`; database_on() gives each test a copy."""
    server = ThrowawayPostgres(max_connections=20).init()
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE dx_tpl")
    admin.dispose()
    use_database(server.url.rsplit("/", 1)[0] + "/dx_tpl", tmp_path_factory.mktemp("tpl"))
    load_everything()
    db.dispose()
    yield server
    db.dispose()
    server.destroy()


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A Redis server of the test's own, started on a free port, for cases that stop or
    restart it, or read what it holds (the shared one is never touched); destroyed after."""
    server = ThrowawayRedis().start()
    try:
        yield server
    finally:
        server.destroy()


def database_on(server: ThrowawayPostgres) -> str:
    """URL of a new database on `server`, a copy of its loaded template."""
    name = f"dx_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE dx_tpl")
    admin.dispose()
    return server.url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def writes_held(database_url: str, table: str) -> Iterator[None]:
    """Hold chunks in flight: while the block runs, workers claim and work on chunks but wait
    to write `table`, so nothing they do commits.

    A table lock from a second connection, as a long report or a migration might take. A fault
    injected inside the block meets a chunk mid-flight however fast the chunks are. The chunk
    tasks write `task_metric` last in the transaction that inserts their results, so a lock on
    it holds every chunk's results uncommitted; a lock on a bulk table would also hold a new
    job's partitions (worker.lifecycle.partitions), and so the submit itself.
    """
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            cur.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")  # reads pass, writes wait
        yield
    finally:
        conn.rollback()
        conn.close()
