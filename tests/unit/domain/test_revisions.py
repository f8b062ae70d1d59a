"""Planning an update: what to write and which changes a revision records."""

from __future__ import annotations

from tidings.domain.json import JSONValue
from tidings.domain.revisions import EventPatch, FieldChange, plan_update

CURRENT: dict[str, JSONValue] = {
    "title": "Deploy",
    "status": "start",
    "ended_at": None,
    "priority": 2,
    "stakeholders": None,
}


def test_changed_fields_are_written_and_recorded_with_old_and_new() -> None:
    patch = EventPatch(fields={"status": "success", "ended_at": 1_705_313_100_000_000_000})
    values, changes = plan_update(CURRENT, {}, {}, patch)
    assert values == {"status": "success", "ended_at": 1_705_313_100_000_000_000}
    assert changes == [
        FieldChange("status", "start", "success"),
        FieldChange("ended_at", None, 1_705_313_100_000_000_000),
    ]


def test_a_field_set_to_its_present_value_is_not_a_change() -> None:
    values, changes = plan_update(CURRENT, {}, {}, EventPatch(fields={"title": "Deploy"}))
    assert values == {}
    assert changes == []


def test_links_merge_key_by_key_and_none_removes_a_key() -> None:
    links = {"ticket": "PROJ-1", "pullRequestLink": "https://example.test/pr/1"}
    patch = EventPatch(links={"ticket": "PROJ-2", "pullRequestLink": None, "runbook": "r"})
    values, changes = plan_update(CURRENT, links, {}, patch)
    assert values == {"links": {"ticket": "PROJ-2", "runbook": "r"}}
    assert changes == [
        FieldChange("links.ticket", "PROJ-1", "PROJ-2"),
        FieldChange("links.pullRequestLink", "https://example.test/pr/1", None),
        FieldChange("links.runbook", None, "r"),
    ]


def test_payload_merges_top_level_keys() -> None:
    payload: dict[str, JSONValue] = {"notification": False, "other": 1}
    values, changes = plan_update(CURRENT, {}, payload, EventPatch(payload={"notification": True}))
    assert values == {"payload": {"notification": True, "other": 1}}
    assert changes == [FieldChange("payload.notification", False, True)]


def test_unpatchable_and_required_fields_are_problems() -> None:
    patch = EventPatch(fields={"type": None, "tenant_id": 2, "allowed_groups": ["x"]})
    assert sorted(patch.problems()) == [
        ("allowed_groups", "cannot be changed by an update"),
        ("tenant_id", "cannot be changed by an update"),
        ("type", "is required and cannot be cleared"),
    ]
    assert EventPatch().is_empty
    assert not patch.is_empty
