"""The README's pictures of the Insights page: `.venv/bin/python docs/insights_pictures.py`.

A fresh SQLite database gets the demo with its months of history (`stageflow seed
--demo`), a real server shows Opportunity Sales' insights to Chromium, and the page is
saved as docs/screenshots/insights.png (1280 px wide) and insights-390.png (a phone).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from browsing import chromium, open_page  # noqa: E402
from serving import graphql, stageflow, start_server, stop_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{folder}/insights.db"
        env = {**os.environ, "STAGEFLOW_DATABASE_URL": url}
        stageflow("migrate", env=env)
        # With its history; the server's own seeding then finds records and adds none.
        stageflow("seed", "--demo", env=env)
        server = start_server(url, Path(folder) / "server.log")
        try:
            found = graphql(server, '{ processes(entity: "opportunity") { id key } }')
            [process] = [p["id"] for p in found["processes"] if p["key"] == "opportunity-sales"]  # type: ignore[attr-defined, index]
            OUT.mkdir(parents=True, exist_ok=True)
            with chromium() as browser:
                for width, name in ((1280, "insights"), (390, "insights-390")):
                    page, errors = open_page(
                        browser, f"{server.url}/#/insights/{process}", user="ana"
                    )
                    page.set_viewport_size({"width": width, "height": 860})
                    page.wait_for_selector("[data-section='throughput'] svg")
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                    assert errors == [], errors
                    print(OUT / f"{name}.png")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
