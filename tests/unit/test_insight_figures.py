"""Insight figures put together from the database's sums: forward moves, outcome order,
weeks, and a pipeline exact to the cent with its months bounded."""

import datetime as dt
from decimal import Decimal

from server.domain import insights
from server.domain.definition import load_process


def _process(catalogue, **extra):
    return load_process(
        {
            "key": "deals",
            "name": "Deals",
            "entity": "opportunity",
            "amount_field": "estimated_revenue",
            "outcomes": [{"key": "won", "label": "Won"}, {"key": "lost", "label": "Lost"}],
            "stages": [
                {"key": "a", "name": "A", "category": "QUALIFY", "next": "c", "probability": 10,
                 "branches": [{"to": "b", "when": {"field": "discount_percent", "op": "gt", "value": 5}}]},
                {"key": "b", "name": "B", "category": "DEVELOP", "next": "c", "probability": 33},
                {"key": "c", "name": "C", "category": "CLOSE", "probability": 90},
            ],
            **extra,
        },
        catalogue,
    )  # fmt: skip


def test_forward_pairs_follow_branches_and_defaults(catalogue):
    pairs = insights.forward_pairs([_process(catalogue)])
    assert pairs == {("a", "b"), ("a", "c"), ("b", "c")}
    assert ("b", "a") not in pairs and ("c", "c") not in pairs


def test_outcomes_keep_the_declared_order_and_count_abandons_apart(catalogue):
    found = insights.outcomes(
        _process(catalogue),
        [
            ("FINISHED", "lost", "Price", 3),
            ("FINISHED", "lost", "Timing", 3),
            ("FINISHED", "won", None, 2),
            ("FINISHED", "gone", None, 1),  # an outcome only an older version had
            ("FINISHED", None, None, 2),
            ("ABANDONED", None, None, 4),
        ],
    )
    assert (found.finished, found.abandoned, found.ended) == (11, 4, 15)
    assert [(o.outcome, o.label, o.count) for o in found.outcomes] == [
        ("won", "Won", 2),
        ("lost", "Lost", 6),
        ("gone", "gone", 1),
        (None, "No outcome", 2),
    ]
    assert found.outcomes[1].rate == 6 / 11
    assert [(r.reason, r.count) for r in found.reasons] == [("Price", 3), ("Timing", 3)]


def test_reasons_are_the_most_given_first_and_bounded(catalogue):
    rows = [("FINISHED", "lost", f"reason {i:02}", 100 - i) for i in range(50)]
    reasons = insights.outcomes(_process(catalogue), rows).reasons
    assert len(reasons) == insights.MAX_REASONS
    assert [r.reason for r in reasons[:2]] == ["reason 00", "reason 01"]


def test_weeks_have_no_gap_and_start_on_monday():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # a Thursday
    end = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)
    weeks = insights.weeks(start, end, {("started", "2026-01-12"): 4})
    assert [(w.start.isoformat(), w.started) for w in weeks] == [
        ("2025-12-29", 0),
        ("2026-01-05", 0),
        ("2026-01-12", 4),
        ("2026-01-19", 0),
    ]


def test_the_default_weeks_are_the_twelve_up_to_this_one():
    now = dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.UTC)  # a Sunday
    start, end = insights.week_range(None, None, now=now)
    assert (start.date().isoformat(), end.date().isoformat()) == ("2026-09-14", "2026-12-07")
    assert insights.count_weeks(start, end) == 12


def test_the_pipeline_is_weighted_exactly_and_rounded_once(catalogue):
    rows = [
        # stage, close month, instances, with an amount, hundredths
        ("a", "2026-01", 3, 3, 1),  # 0.01 x 10 % three ways: 0.001
        ("b", "2026-01", 1, 1, 100),  # 1.00 x 33 %: 0.33
        ("b", None, 1, 0, 0),
        ("c", "2026-02", 2, 2, 12345),  # 123.45 x 90 %: 111.105
    ]
    pipeline = insights.pipeline(_process(catalogue), rows)
    assert (pipeline.total.count, pipeline.total.amount) == (7, Decimal("124.46"))
    # 0.001 + 0.33 + 111.105 = 111.436: rounded once, not per row.
    assert pipeline.total.weighted == Decimal("111.44")
    assert [(s.stage, s.probability, s.amounts.weighted) for s in pipeline.by_stage] == [
        ("a", 10, Decimal("0.00")),
        ("b", 33, Decimal("0.33")),
        ("c", 90, Decimal("111.11")),  # 111.105 rounds half up
    ]
    assert [(m, a.amount) for m, a in pipeline.by_month] == [
        ("2026-01", Decimal("1.01")),
        ("2026-02", Decimal("123.45")),
        (None, Decimal("0.00")),
    ]


def test_past_sixty_close_months_the_rest_are_added_up_as_later(catalogue):
    rows = [("a", f"{2000 + i // 12}-{i % 12 + 1:02}", 1, 1, 100) for i in range(70)]
    months = insights.pipeline(_process(catalogue), rows).by_month
    assert len(months) == insights.MAX_MONTHS
    assert months[0][0] == "2000-01" and months[-2][0] == "2004-11"
    assert months[-1][0] == insights.LATER
    assert months[-1][1].count == 11
    assert sum(a.count for _, a in months) == 70
