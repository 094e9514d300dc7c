"""The shipped processes in server/templates: valid, and they round-trip through the file form."""

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from server.domain.definition import dump_process, load_process
from server.domain.files import dump_text, load_text
from server.domain.instance import advance, start
from server.domain.process import next_stage
from server.domain.record import create_record
from server.domain.validation import validate

TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"
FILES = sorted(p.name for p in TEMPLATES.glob("*.yaml") if p.name != "entities.yaml")
NOW = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)


def test_the_processes_the_design_promises_are_shipped():
    assert {"opportunity-sales.yaml", "lead-to-opportunity.yaml", "phone-to-case.yaml"} <= set(
        FILES
    )


def test_the_entity_catalogue_loads(catalogue):
    assert {"opportunity", "lead", "case"} <= set(catalogue)
    assert all(entity.fields for entity in catalogue.values())


@pytest.mark.parametrize("name", FILES)
def test_each_template_loads_without_problems(name, template_data, catalogue):
    process = load_process(template_data[name], catalogue)
    assert process.key == name.removesuffix(".yaml")
    assert process.entity is catalogue[template_data[name]["entity"]]
    assert validate(process) == (process, [])
    assert all(stage.guidance for stage in process.stages)
    assert any(step.required for stage in process.stages for step in stage.steps)


@pytest.mark.parametrize("name", FILES)
def test_each_template_round_trips(name, template_data, catalogue):
    process = load_process(template_data[name], catalogue)
    dumped = dump_process(process)
    assert load_process(dumped, catalogue) == process
    assert dump_process(load_process(dumped, catalogue)) == dumped
    assert load_process(yaml.safe_load(yaml.safe_dump(dumped)), catalogue) == process


@pytest.mark.parametrize("name", FILES)
def test_each_template_is_stored_in_the_canonical_text_form(name, catalogue):
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    process = load_process(load_text(text, "yaml"), catalogue)
    assert dump_text(dump_process(process), "yaml") == text


@pytest.mark.parametrize("name", FILES)
def test_each_template_round_trips_through_json(name, template_data, catalogue):
    dumped = dump_process(load_process(template_data[name], catalogue))
    assert dumped == template_data[name]
    text = dump_text(dumped, "json")
    assert load_text(text, "json") == dumped
    assert dump_process(load_process(load_text(text, "json"), catalogue)) == dumped


def test_opportunity_sales_is_the_classic_four_stages(template_data, catalogue):
    process = load_process(template_data["opportunity-sales.yaml"], catalogue)
    assert [(s.key, s.category.value) for s in process.stages] == [
        ("qualify", "QUALIFY"),
        ("develop", "DEVELOP"),
        ("propose", "PROPOSE"),
        ("close", "CLOSE"),
    ]


def run_to_second_stage(name, values, template_data, catalogue):
    process = replace(load_process(template_data[name], catalogue), id=1)
    record, _ = create_record(
        process.entity, name="Test", owner="ann", values=values, now=NOW, by="ann"
    )
    instance, _ = start(process, replace(record, id=2), now=NOW, by="ann")
    while instance.active_stage == process.first_stage.key:
        instance, _ = advance(instance, process, record.values, now=NOW, by="ann")
    return process, instance, record.values


LEAD = {
    "contact_name": "Dana",
    "company_name": "Contoso",
    "email": "dana@contoso.example",
    "source": "Web",
    "interest": "Laptops",
    "budget_amount": "20000",
    "purchase_timeframe": "Next quarter",
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "discovery"),
        ({"budget_amount": "50000"}, "fast_track"),
        ({"source": "Referral"}, "fast_track"),
        ({"decision_maker": True, "purchase_timeframe": "Immediate"}, "fast_track"),
        ({"decision_maker": False, "purchase_timeframe": "Immediate"}, "discovery"),
    ],
)
def test_lead_to_opportunity_fast_tracks_good_leads(template_data, catalogue, changes, expected):
    process, instance, values = run_to_second_stage(
        "lead-to-opportunity.yaml", {**LEAD, **changes}, template_data, catalogue
    )
    assert instance.active_stage == "identify"
    assert next_stage(process, process.stage("identify"), values).key == expected


DEAL = {
    "estimated_budget": "300000",
    "purchase_timeframe": "This year",
    "purchase_process": "Committee",
    "decision_maker_identified": True,
    "estimated_revenue": "100000",
    "deal_size": "Large",
    "estimated_close_date": "2024-12-31",
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "propose"),
        ({"discount_percent": 15}, "propose"),
        ({"discount_percent": 20}, "deal_desk_approval"),
        ({"estimated_revenue": "250000"}, "deal_desk_approval"),
    ],
)
def test_enterprise_deals_go_to_the_deal_desk_when_big_or_discounted(
    template_data, catalogue, changes, expected
):
    process, _, values = run_to_second_stage(
        "enterprise-deal.yaml", {**DEAL, **changes}, template_data, catalogue
    )
    assert next_stage(process, process.stage("business_case"), values).key == expected
