"""Cost of the GraphQL layer when listing a board's worth of instances.

Lists 50 instances with their process bar through /graphql (ASGI, no network)
and, in the same run, reads the same page through the service layer alone;
prints both and their ratio. Run: `.venv/bin/python bench/list_instances.py`.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from server.app import create_app
from server.cli import migrate
from server.domain.access import BaseRole
from server.domain.progress import progress
from server.services import accounts, instances, queries, records
from server.services.seed import seed
from server.settings import Settings

QUERY = """{ instances(first: 50) { edges { node {
  id activeStage { name } stages { stage { name } state } missingSteps { field { key } }
  canAdvance nextStage { key } process { name } record { name values } } } } }"""


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    settings = Settings(database_url=f"sqlite://{folder}/bench.db")
    await migrate(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await seed(runtime)
        for i in range(50):
            created = await records.create_record(
                runtime,
                entity="opportunity",
                name=f"Deal {i}",
                owner="bench",
                values={},
                by="bench",
            )
            assert created.record is not None and created.record.id is not None
            await instances.start_instance(
                runtime, record_id=created.record.id, process_id=None, by="bench"
            )

        async def direct() -> None:
            page = await queries.list_instances(first=50)
            found = await queries.records_by_id(i.record_id for i in page.items)  # type: ignore[attr-defined]
            versions = await runtime.catalog.versions(
                (i.process_id, i.process_version)
                for i in page.items  # type: ignore[attr-defined]
            )
            for i in page.items:
                progress(i, versions[(i.process_id, i.process_version)], found[i.record_id].values)  # type: ignore[attr-defined]

        bench_user = await accounts.create_user(
            runtime, name="bench", password="bench-password", role=BaseRole.ADMIN, by="bench"
        )
        token = (await accounts.create_token(runtime, bench_user, label="bench")).secret
        transport = httpx.ASGITransport(app=app)
        auth = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=auth
        ) as http:

            async def graphql() -> None:
                response = await http.post("/graphql", json={"query": QUERY})
                assert len(response.json()["data"]["instances"]["edges"]) == 50

            timings = {}
            for name, run in (("service layer", direct), ("graphql", graphql)):
                await run()
                samples = []
                for _ in range(30):
                    start = time.perf_counter()
                    await run()
                    samples.append(time.perf_counter() - start)
                timings[name] = statistics.median(samples)
                print(f"{name:>14}: {timings[name] * 1000:7.2f} ms median of 30")
            print(f"{'ratio':>14}: {timings['graphql'] / timings['service layer']:7.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
