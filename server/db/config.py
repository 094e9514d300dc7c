"""Tortoise configuration for a database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise.backends.base.config_generator import expand_db_url

MODELS = "server.db.models"
POSTGRES_ENGINE = "tortoise.backends.asyncpg"


def _connection(database_url: str) -> dict[str, Any]:
    """Tortoise's reading of the URL; PostgreSQL through the client that reads again after
    a dropped connection (server/db/client.py)."""
    expanded = expand_db_url(database_url)
    if expanded["engine"] == POSTGRES_ENGINE:
        expanded["engine"] = "server.db.client"
    return expanded


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            "models": {
                "models": [MODELS],
                "default_connection": "default",
                "migrations": "server.db.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def ensure_database_dir(database_url: str) -> None:
    """Create the folder of an SQLite file, so a fresh checkout starts as it is."""
    if not database_url.startswith("sqlite://"):
        return
    path = urlsplit(database_url).netloc + urlsplit(database_url).path
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
