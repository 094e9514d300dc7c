"""A real `stageflow` server in a subprocess, on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsing import chromium
from serving import Server, start_server, stop_server


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """Migrate, seed with demo records and serve, exactly as `make run` does."""
    running = start_server(database_url, tmp_path / "server.log")
    yield running
    stop_server(running)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless; one per test."""
    with chromium() as running:
        yield running
