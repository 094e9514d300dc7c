"""The servers the bench measures: Stageflow, the bare peer and PostGraphile, each in its
own process on a free port, optionally pinned to one core with `taskset`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# npm packages the bench installs; git-ignored.
NODE_PREFIX = ROOT / "bench" / ".cache" / "postgraphile"
POSTGRAPHILE = NODE_PREFIX / "node_modules" / ".bin" / "postgraphile"
POSTGRAPHILE_PACKAGE = "postgraphile@4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpu: str | None) -> list[str]:
    """`command` run on the given cores (`taskset -c`), or as it is."""
    if cpu is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", cpu, *command]


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    cpu: str | None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(
    name: str,
    command: list[str],
    *,
    port: int,
    log: Path,
    cpu: str | None,
    env: dict[str, str] | None = None,
    ready: str = "/",
) -> Server:
    with log.open("wb") as out:
        process = subprocess.Popen(
            pinned(command, cpu),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log, cpu=cpu)
    deadline = time.monotonic() + 120
    while True:
        try:
            response = httpx.get(server.url + ready, timeout=2)
            if ready == "/" or response.status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def stageflow(
    database_url: str,
    log: Path,
    *,
    workers: int = 1,
    cpu: str | None,
    env: dict[str, str] | None = None,
) -> Server:
    """`stageflow serve` on a database made by bench.seed, with `env` set too."""
    port = free_port()
    env = {
        "STAGEFLOW_DATABASE_URL": database_url,
        "STAGEFLOW_HOST": "127.0.0.1",
        "STAGEFLOW_PORT": str(port),
        **(env or {}),
    }
    command = [str(BIN / "stageflow"), "serve", "--workers", str(workers)]
    return _start("stageflow", command, port=port, log=log, cpu=cpu, env=env, ready="/readyz")


def bare(database_url: str, log: Path, *, workers: int = 1, cpu: str | None) -> Server:
    """The bare Starlette app (bench/bare.py) under uvicorn, with its access log as Stageflow's."""
    port = free_port()
    command = [
        str(BIN / "uvicorn"),
        "--factory",
        "bench.bare:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = {"BENCH_BARE_DATABASE_URL": database_url}
    return _start("bare", command, port=port, log=log, cpu=cpu, env=env)


def install_postgraphile() -> Path:
    """PostGraphile 4 from the npm registry, into a git-ignored folder, once."""
    if not POSTGRAPHILE.exists():
        NODE_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(NODE_PREFIX),
                POSTGRAPHILE_PACKAGE,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return POSTGRAPHILE


def postgraphile(database_url: str, log: Path, *, cpu: str | None) -> Server:
    """PostGraphile over Stageflow's own tables (schema public)."""
    port = free_port()
    command = [
        str(install_postgraphile()),
        "--connection",
        database_url,
        "--schema",
        "public",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-graphiql",
    ]
    return _start("postgraphile", command, port=port, log=log, cpu=cpu, ready="/")
