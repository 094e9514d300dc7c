"""Running the `stageflow` command as `make run` does."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stageflow(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "stageflow"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def graphql(server: Server, query: str, **variables: object) -> dict[str, object]:
    """POST a document to the running server; insist on an answer without errors."""
    response = httpx.post(
        f"{server.url}/graphql", json={"query": query, "variables": variables}, timeout=30
    )
    payload = response.json()
    assert "errors" not in payload, payload
    return payload["data"]  # type: ignore[no-any-return]
