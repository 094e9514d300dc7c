"""Kept sums folded from their deltas (server/db/folds.py) on every worker: the weighted
pipeline's (server/db/pipeline_sums.py) and the insights' counts per month
(server/db/insight_months.py)."""

from __future__ import annotations

import asyncio
import logging

from server.db import insight_months, pipeline_sums

NAME = "folding"

log = logging.getLogger("stageflow.folding")


async def watch(*, interval: float) -> None:
    """Fold the deltas every `interval` seconds, until cancelled."""
    while True:
        moved = await pipeline_sums.fold() + await insight_months.fold()
        if moved:
            log.debug("%d changes folded", moved)
        await asyncio.sleep(interval)
