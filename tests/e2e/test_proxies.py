"""X-Forwarded-For counts only from the proxies STAGEFLOW_TRUSTED_PROXIES names: a real
server, signed in to from 127.0.0.1 with forwarded addresses that change at every try."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import Server, start_server, stop_server

SIGN_IN = """mutation($name: String!) {
  signIn(input: {name: $name, password: "not-the-password"}) { __typename } }"""


def _sign_in(server: Server, name: str, forwarded: str) -> str:
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": SIGN_IN, "variables": {"name": name}},
        headers={"x-forwarded-for": forwarded},
        timeout=30,
    )
    return str(response.json()["data"]["signIn"]["__typename"])


@pytest.fixture
def behind_proxy(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = start_server(
        database_url,
        tmp_path / "server.log",
        demo=False,
        extra_env={"STAGEFLOW_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"},
    )
    yield running
    stop_server(running)


def test_forwarded_addresses_do_not_count_by_default(server: Server) -> None:
    """A password spray through a local proxy, or a client writing the header itself, is
    limited by the address the server sees."""
    answers = [_sign_in(server, f"name{n}", f"203.0.113.{n}") for n in range(21)]
    assert answers == ["Unauthenticated"] * 20 + ["RateLimited"]


def test_a_trusted_proxy_names_the_client(behind_proxy: Server) -> None:
    for n in range(20):
        # A client's own entry at the left is ignored; the trusted hops at the right skipped.
        forwarded = f"198.51.100.{n}, 203.0.113.1, 10.1.2.3"
        assert _sign_in(behind_proxy, f"name{n}", forwarded) == "Unauthenticated"
    assert _sign_in(behind_proxy, "other", "203.0.113.1") == "RateLimited"
    assert _sign_in(behind_proxy, "other", "203.0.113.2") == "Unauthenticated"
