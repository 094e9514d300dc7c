"""The webhook receiver the delivery bench measures at: a small Starlette app on uvicorn, in
a process of its own.

Each POST to /hook has its signature checked as the README tells receivers to (so that cost
is counted), is recorded (arrival on the monotonic clock, which Linux shares between
processes, and the wall clock; delivery id; event seq; whether the signature held; body
size) and answered 200. GET /arrivals?after=N answers the records from the N-th on, and
GET /sample the last body received.

Run: `BENCH_RECEIVER_SECRET=... .venv/bin/python -m bench.receiver --port 8100`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SECRET_ENV = "BENCH_RECEIVER_SECRET"
# Recorded fields of each arrival, in this order.
FIELDS = ("mono", "wall", "delivery", "seq", "signed", "size")


def verified(secret: bytes, header: str, body: bytes, *, tolerance: float = 300) -> bool:
    """`t=…,v1=…`: the HMAC-SHA256 of "t." + body under the secret, made recently."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        return False
    expected = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return abs(time.time() - int(stamp)) <= tolerance and hmac.compare_digest(expected, given)


def create_app(secret: str) -> Starlette:
    key = secret.encode()
    arrivals: list[list[Any]] = []
    sample: list[bytes] = [b"{}"]

    async def hook(request: Request) -> Response:
        body = await request.body()
        mono, wall = time.monotonic(), time.time()
        headers = request.headers
        signed = verified(key, headers.get("stageflow-signature", ""), body)
        seq = headers.get("stageflow-event-seq", "")
        arrivals.append(
            [
                mono,
                wall,
                headers.get("stageflow-delivery", ""),
                int(seq) if seq.isdigit() else -1,
                signed,
                len(body),
            ]
        )
        sample[0] = body
        return PlainTextResponse("ok")

    async def listed(request: Request) -> Response:
        after = int(request.query_params.get("after", "0"))
        return JSONResponse({"fields": FIELDS, "arrivals": arrivals[after:]})

    async def last(request: Request) -> Response:
        return Response(sample[0], media_type="application/json")

    return Starlette(
        routes=[
            Route("/hook", hook, methods=["POST"]),
            Route("/arrivals", listed),
            Route("/sample", last),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(os.environ[SECRET_ENV]),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
