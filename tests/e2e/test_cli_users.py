"""`stageflow user create` makes the first admin; `stageflow token create` prints a token."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
from serving import BIN, stageflow, start_server, stop_server

ME = "{ me { name role } users { name } }"


def test_the_first_admin_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "cli.log", demo=False)
    try:
        env = server.env
        out = stageflow(
            "user",
            "create",
            "boss",
            "--admin",
            "--password-stdin",
            env=env,
            input="boss-password-1\n",
        )
        assert out.strip() == "user boss created (admin)"
        # The password signs in; the token the command prints is a bearer token.
        signed_in = httpx.post(
            f"{server.url}/graphql",
            json={
                "query": """mutation { signIn(input: {name: "boss", password: "boss-password-1"}) {
                             __typename } }"""
            },
        )
        assert signed_in.json()["data"]["signIn"]["__typename"] == "SignedIn"
        token = stageflow("token", "create", "boss", env=env).strip()
        me = httpx.post(
            f"{server.url}/graphql",
            json={"query": ME},
            headers={"authorization": f"Bearer {token}"},
        ).json()["data"]
        assert me["me"] == {"name": "boss", "role": "ADMIN"}
        assert "boss" in [u["name"] for u in me["users"]]

        # A second user of that name, a short password or an unknown user: refused, clearly.
        for args, stdin, message in [
            (["user", "create", "boss", "--password-stdin"], "another-password\n", "exists"),
            (["user", "create", "kid", "--password-stdin"], "short\n", "password"),
            (["token", "create", "nobody"], None, "User nobody not found"),
        ]:
            done = subprocess.run(
                [str(BIN / "stageflow"), *args],
                env=env,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode != 0 and message in done.stderr, done.stderr
    finally:
        stop_server(server)


def test_the_demo_prints_its_credentials_once(database_url: str) -> None:
    env = {**os.environ, "STAGEFLOW_DATABASE_URL": database_url}
    first = stageflow("seed", "--demo", env=env)
    assert first.splitlines()[1] == (
        "demo sign-in: admin, designer, demo, ana, ben, each with the password 'stageflow-demo'"
    )
    assert "demo sign-in" not in stageflow("seed", "--demo", env=env)
