import datetime as dt

import pytest

from server.domain.errors import InvalidValue
from server.domain.events import EventKind
from server.domain.fields import MAX_SHORT_TEXT
from server.domain.record import create_record, update_record

CREATED = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2024, 5, 2, 14, 30, tzinfo=dt.UTC)


def test_create_record_coerces_values_and_drops_unset_ones(deal):
    record, event = create_record(
        deal,
        name="  Contoso - 50 laptops ",
        owner=" ann ",
        values={"amount": 1200, "seats": "50", "notes": None},
        now=CREATED,
        by="bob",
    )
    assert (record.id, record.entity, record.name, record.owner) == (
        None,
        "deal",
        "Contoso - 50 laptops",
        "ann",
    )
    assert record.values == {"amount": "1200.00", "seats": 50}
    assert (record.version, record.created_at, record.updated_at) == (1, CREATED, CREATED)
    assert record.active_instance_id is None
    assert (event.kind, event.actor, event.at, event.before) == (
        EventKind.RECORD_CREATED,
        "bob",
        CREATED,
        None,
    )
    assert event.after == {
        "name": "Contoso - 50 laptops",
        "owner": "ann",
        "values": {"amount": "1200.00", "seats": 50},
    }


@pytest.mark.parametrize("name", ["", "   "])
def test_a_record_needs_a_name(deal, name):
    with pytest.raises(InvalidValue) as exc:
        create_record(deal, name=name, owner="ann", values={}, now=CREATED, by="ann")
    assert (exc.value.field, exc.value.reason) == ("name", "a record needs a name")


def test_names_and_owners_have_a_length_limit(deal):
    long = "x" * (MAX_SHORT_TEXT + 1)
    with pytest.raises(InvalidValue) as exc:
        create_record(deal, name=long, owner="ann", values={}, now=CREATED, by="ann")
    assert exc.value.field == "name"
    with pytest.raises(InvalidValue) as exc:
        create_record(deal, name="Deal", owner=long, values={}, now=CREATED, by="ann")
    assert exc.value.field == "owner"


@pytest.mark.parametrize(
    ("values", "field"), [({"colour": "red"}, "colour"), ({"signed": "yes"}, "signed")]
)
def test_create_record_refuses_bad_values(deal, values, field):
    with pytest.raises(InvalidValue) as exc:
        create_record(deal, name="Deal", owner="ann", values=values, now=CREATED, by="ann")
    assert exc.value.field == field


def test_update_record_sets_and_clears_values(make_record, deal):
    record = make_record({"amount": "10", "seats": 5, "title": "Old"})
    updated, event = update_record(
        record,
        deal,
        values={"amount": "12.5", "seats": None, "signed": True},
        now=LATER,
        by="bob",
    )
    assert updated.values == {"amount": "12.50", "title": "Old", "signed": True}
    assert (updated.version, updated.updated_at, updated.created_at) == (2, LATER, CREATED)
    assert (updated.name, updated.owner, updated.id) == (record.name, record.owner, record.id)
    assert record.values == {"amount": "10.00", "seats": 5, "title": "Old"}
    assert (event.kind, event.actor, event.at, event.record_id) == (
        EventKind.RECORD_UPDATED,
        "bob",
        LATER,
        record.id,
    )
    assert event.before == {"values": {"amount": "10.00", "seats": 5, "signed": None}}
    assert event.after == {"values": {"amount": "12.50", "seats": None, "signed": True}}


def test_update_record_renames_and_reassigns(make_record, deal):
    record = make_record({"seats": 5})
    updated, event = update_record(record, deal, name=" Fabrikam ", owner="cy", now=LATER, by="ann")
    assert (updated.name, updated.owner, updated.values) == ("Fabrikam", "cy", {"seats": 5})
    assert event.before == {"values": {}, "name": "Contoso - 50 laptops", "owner": "ann"}
    assert event.after == {"values": {}, "name": "Fabrikam", "owner": "cy"}


def test_update_record_refuses_a_blank_name_and_bad_values(make_record, deal):
    record = make_record()
    with pytest.raises(InvalidValue) as exc:
        update_record(record, deal, name=" ", now=LATER, by="ann")
    assert exc.value.field == "name"
    with pytest.raises(InvalidValue) as exc:
        update_record(record, deal, values={"close_date": "31/12/2024"}, now=LATER, by="ann")
    assert exc.value.field == "close_date"


def test_update_record_can_say_which_instance_and_kind(make_record, deal):
    updated, event = update_record(
        make_record(),
        deal,
        values={"notes": "call back"},
        now=LATER,
        by="ann",
        instance_id=4,
        kind=EventKind.STEP_COMPLETED,
    )
    assert (event.kind, event.instance_id) == (EventKind.STEP_COMPLETED, 4)
    assert updated.values == {"notes": "call back"}
