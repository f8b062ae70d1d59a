"""An event as an email: headers, both parts, escaping, stable ids, refused addresses."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from tidings.domain.email_layout import EmailError, check_addresses, email_message
from tidings.domain.events import Event, NewEvent, materialize

OCCURRED = 1_705_312_800_000_000_000  # 2024-01-15 10:00:00 UTC


def event(**changes: Any) -> Event:
    fields: dict[str, Any] = {
        "type": "incident",
        "title": "Database down",
        "message": "Primary unreachable",
        "dimensions": {"service": "db", "environment": "production", "priority": 1},
        "links": {"runbook": "https://wiki.example/db", "ticket": "OPS-9"},
    }
    return materialize(
        NewEvent(**(fields | changes)),
        event_id=9,
        tenant_id=1,
        actor_id=None,
        actor_locator=None,
        request_id=None,
        now=OCCURRED,
    )


def build(e: Event, **overrides: Any) -> EmailMessage:
    options: dict[str, Any] = {
        "sender": "tidings@example.com",
        "recipients": ["ops@example.com", "oncall@example.org"],
        "delivery_id": 77,
        "sent_at_ns": OCCURRED + 5_000_000_000,
        "domain": "tidings.example.com",
    } | overrides
    return email_message(e, **options)


def test_headers_and_both_parts() -> None:
    message = build(event())
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "[incident] Database down"
    assert parsed["From"] == "tidings@example.com"
    assert parsed["To"] == "ops@example.com, oncall@example.org"
    assert parsed["Date"] == "Mon, 15 Jan 2024 10:00:05 +0000"
    assert parsed["Message-ID"] == "<delivery-77@tidings.example.com>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content() == (
        "Database down\n"
        "incident · 2024-01-15 10:00:00 UTC · event 9\n"
        "\n"
        "Primary unreachable\n"
        "\n"
        "Service: db\n"
        "Environment: production\n"
        "Priority: 1\n"
        "Runbook: https://wiki.example/db\n"
        "Ticket: OPS-9\n"
    )
    page = parsed.get_body(preferencelist=("html",))
    assert page is not None
    content = page.get_content()
    assert "<h2>Database down</h2>" in content
    assert "<tr><th>Service</th><td>db</td></tr>" in content
    assert '<li><a href="https://wiki.example/db">Runbook</a></li>' in content
    assert "<li>Ticket: OPS-9</li>" in content


def test_the_message_id_is_stable_for_a_delivery() -> None:
    first = build(event(), sent_at_ns=OCCURRED + 10**9)
    retry = build(event(), sent_at_ns=OCCURRED + 60 * 10**9)
    assert first["Message-ID"] == retry["Message-ID"]
    assert build(event(), delivery_id=78)["Message-ID"] != first["Message-ID"]


def test_the_event_cannot_inject_headers_or_markup() -> None:
    hostile = event(
        title="x\r\nBcc: victim@example.com",
        message="<script>alert(1)</script>",
        dimensions={"service": "<b>db</b>"},
        links={"evil": 'https://x.example/"><script>'},
    )
    raw = build(hostile).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "[incident] x Bcc: victim@example.com"
    assert isinstance(parsed, EmailMessage)
    page = parsed.get_body(preferencelist=("html",))
    assert page is not None
    content = page.get_content()
    assert "<script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;b&gt;db&lt;/b&gt;" in content
    assert 'href="https://x.example/&quot;&gt;&lt;script&gt;"' in content


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        ([], "an email target needs at least one address"),
        (["nobody"], "'nobody' is not an email address"),
        (["a@b.example, c@d.example"], "'a@b.example, c@d.example' is not an email address"),
        (["Eve <eve@example.com>"], "'Eve <eve@example.com>' is not an email address"),
    ],
)
def test_addresses_are_checked(addresses: list[str], message: str) -> None:
    with pytest.raises(EmailError) as caught:
        check_addresses(addresses)
    assert str(caught.value) == message
    check_addresses(["ops@example.com"])
