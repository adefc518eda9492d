"""Settings: defaults, parsing, validation messages, masking."""

from __future__ import annotations

import pytest

from worker.errors import ConfigError
from worker.settings import Settings, mask_url


def test_defaults_are_the_embedded_sqlite_and_reference_pool() -> None:
    s = Settings.from_env(environ={})
    assert s.is_embedded and s.effective_database_url.endswith(".dxcoder/dxcoder.sqlite3")
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_pre_ping, s.db_pool_recycle) == (
        20, 30, True, 3600)
    assert (s.breaker_db_fail_max, s.breaker_db_reset_timeout) == (3, 30)
    assert (s.breaker_redis_fail_max, s.breaker_redis_reset_timeout) == (5, 60)
    assert s.chunk_size == 2000
    assert s.effective_redis_url == s.broker_url
    assert s.log_max_bytes == 10 * 1024 * 1024 and s.log_backup_count == 5


def test_environment_values_are_typed() -> None:
    s = Settings.from_env(environ={"DXCODER_CHUNK_SIZE": "500", "DXCODER_DB_POOL_PRE_PING": "off",
                                   "DXCODER_DATA_DIR": "/srv/dx"})
    assert s.chunk_size == 500 and s.db_pool_pre_ping is False
    assert s.effective_database_url == "sqlite:////srv/dx/dxcoder.sqlite3"


@pytest.mark.parametrize(("env", "message"), [
    ({"DXCODER_CHUNK_SIZE": "lots"}, "DXCODER_CHUNK_SIZE must be a whole number"),
    ({"DXCODER_LOG_FORMAT": "xml"}, "DXCODER_LOG_FORMAT must be json or text"),
    ({"DXCODER_DB_POOL_PRE_PING": "maybe"}, "must be true or false"),
    ({"DXCODER_VISIBILITY_TIMEOUT": "60"}, "DXCODER_VISIBILITY_TIMEOUT must exceed"),
    ({"DXCODER_RECODE_CRONTAB": "daily"}, "five fields"),
])
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ=env)


def test_secrets_are_masked() -> None:
    assert mask_url("postgresql://dx:s3cret@db:5432/dx") == "postgresql://dx:***@db:5432/dx"
    assert mask_url("redis://:pw@redis:6379/0") == "redis://:***@redis:6379/0"
    assert mask_url("redis://redis:6379/0") == "redis://redis:6379/0"
    s = Settings.from_env(environ={"DXCODER_DATABASE_URL": "postgresql://dx:s3cret@db/dx"})
    shown = dict((name, value) for name, value, _ in s.describe())
    assert shown["DXCODER_DATABASE_URL"] == "postgresql+psycopg2://dx:***@db/dx"
    assert all("s3cret" not in value for value in shown.values())
