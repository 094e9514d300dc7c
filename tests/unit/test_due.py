"""Stage dues: reading them, the deadline of a stay, and the stays the engine begins."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace

import pytest
from conftest import DEAL, DEAL_STAGES

from server.domain import due
from server.domain.definition import dump_process, load_process
from server.domain.errors import InvalidDefinition
from server.domain.files import dump_text, load_text
from server.domain.instance import abandon, advance, finish, move_to, reactivate, start
from server.domain.migration import migrate

# Friday 4 December 2026, 16:00 UTC.
FRIDAY = dt.datetime(2026, 12, 4, 16, 0, tzinfo=dt.UTC)
MONDAY = dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)


def at(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A moment in December 2026 (the 7th is a Monday)."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("P2W", dt.timedelta(weeks=2)),
        ("P5D", dt.timedelta(days=5)),
        ("PT4H", dt.timedelta(hours=4)),
        ("P1DT12H", dt.timedelta(days=1, hours=12)),
        ("PT30M", dt.timedelta(minutes=30)),
        ("PT90S", dt.timedelta(seconds=90)),
        ("p1w2d", dt.timedelta(days=9)),
    ],
)
def test_a_due_reads_weeks_days_hours_minutes_and_seconds(text, length):
    parsed = due.parse(text)
    assert parsed.length == length
    assert parsed.text == text.upper()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("P1M", due.CALENDAR),
        ("P1Y", due.CALENDAR),
        ("P1Y2M3D", due.CALENDAR),
        ("P0D", due.ZERO),
        ("PT0H0M", due.ZERO),
        ("P", due.MALFORMED),
        ("PT", due.MALFORMED),
        ("P1DT", due.MALFORMED),
        ("5 days", due.MALFORMED),
        ("-P1D", due.MALFORMED),
        ("P1.5D", due.MALFORMED),
        ("", due.MALFORMED),
        (5, due.MALFORMED),
        ("P400D", due.TOO_LONG),
    ],
)
def test_a_due_that_is_not_a_plain_positive_duration_is_refused(text, reason):
    with pytest.raises(due.BadDue) as refused:
        due.parse(text)
    assert refused.value.reason == reason


def test_a_calendar_due_counts_every_hour():
    assert due.deadline(FRIDAY, due.parse("PT4H")) == at(4, 20)
    assert due.deadline(FRIDAY, due.parse("P1D")) == at(5, 16)
    assert due.deadline(FRIDAY, due.parse("P2W")) == at(18, 16)


def test_business_hours_run_on_within_friday_then_from_monday():
    business = due.parse("PT4H", business_days=True)
    assert due.deadline(FRIDAY, business) == at(4, 20)
    late_friday = at(4, 22)
    assert due.deadline(late_friday, business) == at(7, 2)


@pytest.mark.parametrize(
    ("entered", "text", "expected"),
    [
        (at(7, 9), "P5D", at(14, 9)),  # Monday to Monday
        (at(9, 10), "P1D", at(10, 10)),  # Wednesday to Thursday
        (at(4, 10), "P1D", at(7, 10)),  # Friday over the weekend to Monday
        (at(4, 10), "P10D", at(18, 10)),  # two working weeks
        (at(5, 15), "P1D", at(8, 0)),  # Saturday: counting starts Monday 00:00
        (at(6, 23, 30), "PT30M", at(7, 0, 30)),  # Sunday night
        (at(5, 15), "PT4H", at(7, 4)),
        (at(4, 0), "P1D", at(5, 0)),  # the whole of Friday
    ],
)
def test_business_days_skip_saturday_and_sunday(entered, text, expected):
    assert due.deadline(entered, due.parse(text, business_days=True)) == expected


def test_a_deadline_is_told_in_utc_whatever_the_zone_of_the_entry():
    paris = dt.timezone(dt.timedelta(hours=1))
    # Saturday 00:30 in Paris is still Friday 23:30 UTC: a business hour counts.
    entered = dt.datetime(2026, 12, 5, 0, 30, tzinfo=paris)
    deadline = due.deadline(entered, due.parse("PT1H", business_days=True))
    assert deadline == at(7, 0, 30)
    assert deadline.utcoffset() == dt.timedelta(0)


def _stages(**dues):
    stages = copy.deepcopy(DEAL_STAGES)
    for stage in stages:
        stage.update(dues.get(stage["key"], {}))
    return stages


def _load(stages):
    data = {"key": "deal-flow", "name": "Deal flow", "entity": "deal", "stages": stages}
    return replace(load_process(data, {"deal": DEAL}), id=1)


def test_a_process_file_round_trips_its_dues():
    stages = _stages(qualify={"due": "P5D", "due_business_days": True}, develop={"due": "PT4H"})
    process = _load(stages)
    assert process.stages[0].due == due.Due("P5D", dt.timedelta(days=5), business_days=True)
    assert process.stages[1].due == due.Due("PT4H", dt.timedelta(hours=4))
    assert process.stages[2].due is None
    dumped = dump_process(process)
    assert dumped["stages"][0]["due"] == "P5D"
    assert dumped["stages"][0]["due_business_days"] is True
    assert "due_business_days" not in dumped["stages"][1]
    assert "due" not in dumped["stages"][2]
    for fmt in ("yaml", "json"):
        text = dump_text(dumped, fmt)
        assert _load(load_text(text, fmt)["stages"]) == process
        assert dump_text(dump_process(_load(load_text(text, fmt)["stages"])), fmt) == text


@pytest.mark.parametrize(
    ("given", "path", "message"),
    [
        ({"due": "P1M"}, "stages[1].due", due.CALENDAR),
        ({"due": "P0D"}, "stages[1].due", due.ZERO),
        ({"due": "soon"}, "stages[1].due", "“Due” must be a duration like P5D or PT4H"),
        ({"due": 5}, "stages[1].due", due.MALFORMED),
        ({"due": "P1D", "due_business_days": "yes"}, "stages[1].due_business_days", None),
        ({"due_business_days": True}, "stages[1].due_business_days", None),
    ],
)
def test_a_bad_due_is_a_problem_of_its_stage(given, path, message):
    with pytest.raises(InvalidDefinition) as refused:
        _load(_stages(develop=given))
    problems = [(p.path, p.message) for p in refused.value.problems]
    assert [p for p, _ in problems] == [path]
    if message is not None:
        assert problems[0][1] == message


def test_each_stay_the_engine_begins_is_due_as_its_stage_says(make_record):
    process = _load(
        _stages(
            qualify={"due": "P5D", "due_business_days": True},
            develop={"due": "PT4H"},
            close={"due": "P1D"},
        )
    )
    values = {"amount": "10.00", "notes": "n", "close_date": "2026-12-31", "sponsor": "ann"}
    friday = at(4, 10)
    instance, _ = start(process, make_record(values), now=friday, by="ann")
    assert instance.visits[0].due_at == at(11, 10) == instance.due_at

    moved, _ = advance(instance, process, values, now=at(4, 11), by="ann")
    assert moved.visits[-1].due_at == at(4, 15) == moved.due_at
    assert moved.visits[0].due_at == at(11, 10)  # the ended stay keeps its own

    back, _ = move_to(moved, process, "qualify", now=at(7, 9), by="ann")
    assert back.visits[-1].due_at == at(14, 9) == back.due_at

    ahead, _ = advance(back, process, values, now=at(8, 9), by="ann")
    propose, _ = advance(ahead, process, values, now=at(8, 10), by="ann")
    assert propose.due_at is None and propose.visits[-1].due_at is None  # no due there
    close, _ = advance(propose, process, values, now=at(8, 11), by="ann")
    assert close.due_at == at(9, 11)

    done, _ = finish(close, process, values, now=at(8, 12), by="ann")
    assert done.due_at is None
    assert not done.overdue(at(30))
    again, _ = reactivate(done, process, now=at(10, 8), by="ann")
    assert again.visits[-1].due_at == at(11, 8) == again.due_at
    assert len({v.n for v in again.visits}) == len(again.visits)
    stopped, _ = abandon(again, now=at(10, 9), by="ann")
    assert stopped.due_at is None


def test_an_instance_is_overdue_from_its_deadline_while_active(make_record):
    process = _load(_stages(qualify={"due": "PT4H"}))
    instance, _ = start(process, make_record(), now=FRIDAY, by="ann")
    assert not instance.overdue(at(4, 19, 59))
    assert instance.overdue(at(4, 20))
    stopped, _ = abandon(instance, now=at(4, 19), by="ann")
    assert not stopped.overdue(at(4, 21))


def test_migrating_begins_a_stay_due_as_the_new_version_says(make_record):
    old = _load(_stages())
    new = _load(_stages(qualify={"due": "P1D"}, develop={"due": "PT4H"}))
    values = {"amount": "10.00"}
    instance, _ = start(old, make_record(values), now=FRIDAY, by="ann")
    assert instance.due_at is None
    # The same stay goes on, due now as version 2 says, counted from when it began.
    staying = migrate(instance, new, {}, values, now=at(5), by="ann").after
    assert staying.due_at == at(5, 16) == staying.visits[-1].due_at
    # Mapped to another stage: a new stay, due from the migration.
    moved = migrate(instance, new, {"qualify": "develop"}, values, now=at(5), by="ann").after
    assert moved.visits[-1].due_at == at(5, 4) == moved.due_at
    assert moved.visits[0].due_at is None
