"""Credentials never travel in the URL of /graphql: a parameter other than a GET's query,
variables, operationName and extensions is refused with a GraphQL error and a code, on
GET, POST and the websocket alike; nothing runs. (A mutation over GET, a sign-in's password
in the URL, is refused too: tests/e2e/test_served_logs.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from sockets import Closed, Socket

LAST_SEQ = "{ lastEventSeq }"
SECRET = "sf_not-for-urls"


def _refused(response: Any, code: str) -> None:
    assert response.status_code == 400, response.text
    payload = response.json()
    assert "data" not in payload
    [error] = payload["errors"]
    assert error["extensions"]["code"] == code, error
    assert SECRET not in error["message"]


GET_PARAMETERS = {
    "token": {"query": LAST_SEQ, "token": SECRET},
    "access-token": {"query": LAST_SEQ, "access_token": SECRET},
    "password": {"query": LAST_SEQ, "password": SECRET},
    "anything": {"query": LAST_SEQ, "_": "1"},
}


@pytest.mark.parametrize("params", GET_PARAMETERS.values(), ids=GET_PARAMETERS.keys())
async def test_a_get_with_another_parameter_is_refused(gql: Any, params: dict[str, str]) -> None:
    headers = {"authorization": f"Bearer {await gql.token('demo')}"}
    response = await gql.http.get("/graphql", params=params, headers=headers)
    _refused(response, "URL_PARAMETER_NOT_ALLOWED")
    answered = await gql.http.get("/graphql", params={"query": LAST_SEQ}, headers=headers)
    assert isinstance(answered.json()["data"]["lastEventSeq"], int)


@pytest.mark.parametrize("query_string", [f"token={SECRET}", f"query={LAST_SEQ}", "x"])
async def test_a_post_with_a_query_string_is_refused(gql: Any, query_string: str) -> None:
    headers = {"authorization": f"Bearer {await gql.token('demo')}"}
    response = await gql.http.post(
        f"/graphql?{query_string}", json={"query": LAST_SEQ}, headers=headers
    )
    _refused(response, "URL_PARAMETER_NOT_ALLOWED")


async def test_a_websocket_with_a_token_in_its_url_is_refused(gql: Any) -> None:
    token = await gql.token("demo")
    socket = Socket(gql.app, token, query_string=f"token={token}".encode())
    with pytest.raises(Closed) as refused:
        async with socket:
            pass
    assert refused.value.code == 1008
    async with Socket(gql.app, token):  # the same socket, signed in as it should be
        pass
