"""A real `stageflow` server in a subprocess, on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import BIN, Server, free_port, stageflow


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """Migrate, seed with demo records and serve, exactly as `make run` does."""
    port = free_port()
    env = {
        **os.environ,
        "STAGEFLOW_DATABASE_URL": database_url,
        "STAGEFLOW_HOST": "127.0.0.1",
        "STAGEFLOW_PORT": str(port),
    }
    stageflow("migrate", env=env)
    stageflow("seed", "--demo", env=env)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "stageflow"), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "server did not become ready: " + log.read_text()
        time.sleep(0.1)
    yield Server(url=url, process=process, log=log)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
