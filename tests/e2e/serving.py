"""Running the `stageflow` command as `make run` does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    # A bearer token of the demo's admin, for the tests' own API calls.
    token: str
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def token_of(self, user: str) -> str:
        """A new API token of a demo user."""
        return stageflow("token", "create", user, env=self.env).strip()

    def token_for(self, user: str) -> str:
        """An API token of a demo user, made on first use."""
        if user not in self.tokens:
            self.tokens[user] = self.token_of(user)
        return self.tokens[user]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stageflow(*args: str, env: dict[str, str], input: str | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "stageflow"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=input,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def post(
    server: Server, query: str, variables: dict[str, object] | None = None, *, token: str
) -> dict[str, Any]:
    """POST a document with a bearer token; the whole answer, errors included."""
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.json()  # type: ignore[no-any-return]


def graphql_as(server: Server, user: str, query: str, **variables: object) -> dict[str, Any]:
    """POST a document as a demo user; insist on an answer without errors."""
    payload = post(server, query, variables, token=server.token_for(user))
    assert "errors" not in payload, payload
    return payload["data"]  # type: ignore[no-any-return]


def graphql(server: Server, query: str, **variables: object) -> dict[str, object]:
    """POST a document to the running server as its admin; insist on an answer without errors."""
    payload = post(server, query, variables, token=server.token)
    assert "errors" not in payload, payload
    return payload["data"]  # type: ignore[no-any-return]


def start_server(
    database_url: str,
    log: Path,
    *,
    workers: int = 1,
    demo: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Migrate, seed and serve on a free port; return once ready."""
    port = free_port()
    env = {
        **os.environ,
        "STAGEFLOW_DATABASE_URL": database_url,
        "STAGEFLOW_HOST": "127.0.0.1",
        "STAGEFLOW_PORT": str(port),
        **(extra_env or {}),
    }
    stageflow("migrate", env=env)
    # The demo's few records only: the browser tests know each lane's cards.
    stageflow("seed", *(["--demo", "--no-history"] if demo else []), env=env)
    try:
        token = stageflow("token", "create", "admin", env=env).strip()
    except AssertionError:  # no demo users on this database
        stageflow("user", "create", "admin", "--admin", "--password-stdin", env=env, input="x" * 12)
        token = stageflow("token", "create", "admin", env=env).strip()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "stageflow"), "serve", "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "server did not become ready: " + log.read_text()
        time.sleep(0.1)
    return Server(url=url, process=process, log=log, token=token, env=env)


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
