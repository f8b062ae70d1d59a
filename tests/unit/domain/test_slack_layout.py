"""An event as a Slack incoming-webhook message: layout, escaping, limits, identity."""

from __future__ import annotations

from typing import Any

from tidings.domain.events import Event, NewEvent, materialize
from tidings.domain.slack_layout import slack_message

OCCURRED = 1_705_312_800_000_000_000  # 2024-01-15 10:00:00 UTC


def event(**changes: Any) -> Event:
    fields: dict[str, Any] = {
        "type": "deployment",
        "source_ref": "github_actions",
        "title": "Deploy user-service v2.1.0 to production",
        "message": "Deployed via GitHub Actions workflow",
        "dimensions": {
            "service": "user-service",
            "environment": "production",
            "status": "success",
            "priority": 2,
        },
        "links": {"pullRequestLink": "https://github.com/org/repo/pull/123", "ticket": "PROJ-456"},
    }
    new = NewEvent(**(fields | changes))
    return materialize(
        new,
        event_id=42,
        tenant_id=1,
        actor_id=None,
        actor_locator=None,
        request_id=None,
        now=OCCURRED,
    )


def test_a_deployment_reads_at_a_glance() -> None:
    assert slack_message(event(), username="Tidings", icon=":bell:") == {
        "text": "Deploy user-service v2.1.0 to production (deployment)",
        "username": "Tidings",
        "icon_emoji": ":bell:",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":white_check_mark: Deploy user-service v2.1.0 to production",
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "*deployment* · 2024-01-15 10:00:00 UTC · event 42 · "
                        "github_actions",
                    }
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Deployed via GitHub Actions workflow"},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Service*\nuser-service"},
                    {"type": "mrkdwn", "text": "*Environment*\nproduction"},
                    {"type": "mrkdwn", "text": "*Status*\nsuccess"},
                    {"type": "mrkdwn", "text": "*Priority*\n2"},
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "<https://github.com/org/repo/pull/123|PullRequestLink> · "
                    "Ticket: PROJ-456",
                },
            },
        ],
    }


def test_nothing_from_the_event_can_mention_or_link() -> None:
    hostile = event(
        title="<!channel> deploy",
        message="ping <!here> & <https://evil.example|click>",
        dimensions={"service": "<@U123>"},
        links={"docs": "https://ok.example/<x>|y"},
    )
    message: Any = slack_message(hostile)
    blob = str(message)
    assert "<!" not in blob
    assert "<@" not in blob
    assert "<https://evil" not in blob
    assert message["text"] == "&lt;!channel&gt; deploy (deployment)"
    assert message["blocks"][2]["text"]["text"] == (
        "ping &lt;!here&gt; &amp; &lt;https://evil.example|click&gt;"
    )
    assert message["blocks"][3]["fields"] == [
        {"type": "mrkdwn", "text": "*Service*\n&lt;@U123&gt;"}
    ]
    assert message["blocks"][4]["text"]["text"] == "Docs: https://ok.example/&lt;x&gt;|y"


def test_slack_limits_are_kept() -> None:
    long = event(title="t" * 400, message="m" * 5000)
    message: Any = slack_message(long)
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= 150
    assert header.endswith("…")
    assert len(message["blocks"][2]["text"]["text"]) == 3000
    many = (
        {f"state_{n}": "x" for n in ("project", "environment", "deployment")}
        | {f"inventory_{n}": "y" for n in ("project", "application", "version", "namespace")}
        | {"service": "s", "environment": "e", "status": "unknown", "owner": "o", "priority": 1}
    )
    crowded: Any = slack_message(event(dimensions=many))
    fields = crowded["blocks"][3]["fields"]
    assert len(fields) == 10


def test_an_event_without_title_or_extras_still_says_what_it_is() -> None:
    bare = event(title=None, message=None, dimensions={}, links={}, source_ref=None)
    message: Any = slack_message(bare, icon="https://img.example/bell.png")
    assert message["text"] == "deployment (deployment)"
    assert message["icon_url"] == "https://img.example/bell.png"
    assert [b["type"] for b in message["blocks"]] == ["header", "context"]
    assert message["blocks"][0]["text"]["text"] == "deployment"
