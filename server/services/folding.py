"""The weighted pipeline's recent changes folded into its sums (server/db/pipeline_sums.py),
on every worker."""

from __future__ import annotations

import asyncio
import logging

from server.db import pipeline_sums

NAME = "pipeline-fold"

log = logging.getLogger("stageflow.folding")


async def watch(*, interval: float) -> None:
    """Fold the pipeline's deltas every `interval` seconds, until cancelled."""
    while True:
        moved = await pipeline_sums.fold()
        if moved:
            log.debug("%d pipeline changes folded", moved)
        await asyncio.sleep(interval)
