"""An event as a Slack message: what a subscription with a Slack target posts (issue 5).

The incoming-webhook format with Block Kit: a header with the event's title (or type), a line
of context (type, time, source), the message, up to ten labelled fields for the dimensions
people scan for (service, environment, status, priority, owner, …), the links, and a plain
`text` that notifications and clients without blocks show. Everything taken from the event is
escaped as Slack asks for all message text (`&`, `<`, `>`), so an event cannot ping
`<!channel>` or forge a link, and cut to Slack's limits (a header of 150 characters, a section
of 3,000, ten fields of 2,000) rather than have Slack refuse the whole message. Pure: the
caller posts it, at most one a second per Slack URL (Slack's rate for incoming webhooks).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tidings.domain.events import Event
from tidings.domain.json import JSONObject, JSONValue

HEADER_LIMIT, SECTION_LIMIT, FIELD_LIMIT, MAX_FIELDS = 150, 3000, 2000, 10
# Dimensions shown as fields, in this order, when the event has them.
FIELD_ORDER = (
    "service",
    "environment",
    "status",
    "priority",
    "impact",
    "owner",
    "state_project",
    "state_environment",
    "state_deployment",
    "inventory_project",
    "inventory_application",
    "inventory_version",
    "inventory_namespace",
)
# How a status reads at a glance.
_STATUS_MARK = {
    "success": ":white_check_mark:",
    "done": ":white_check_mark:",
    "close": ":white_check_mark:",
    "failure": ":x:",
    "error": ":x:",
    "warning": ":warning:",
    "start": ":arrow_forward:",
    "open": ":rotating_light:",
}


def escape(text: str) -> str:
    """Text as Slack shows it literally: no mentions, links or formatting from the event."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(name: str) -> str:
    """A field or link name as people read it: `state_project` → `State project`."""
    spaced = name.replace("_", " ")
    return spaced[:1].upper() + spaced[1:]


def slack_message(
    event: Event, *, username: str | None = None, icon: str | None = None
) -> JSONObject:
    """The incoming-webhook body for `event`; `icon` is an emoji (`:bell:`) or an image URL."""
    title = event.title or event.type
    status = str(event.dimensions.get("status", "")).lower()
    mark = _STATUS_MARK.get(status)
    heading = _cut(escape(title), HEADER_LIMIT - (len(mark) + 1 if mark else 0))
    when = datetime.fromtimestamp(event.occurred_at / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    context = [f"*{escape(event.type)}*", when, f"event {event.id}"]
    if event.source_ref:
        context.append(escape(event.source_ref))
    blocks: list[JSONValue] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{mark} {heading}" if mark else heading},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
    ]
    if event.message:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(escape(event.message), SECTION_LIMIT)},
            }
        )
    named = [name for name in FIELD_ORDER if name in event.dimensions][:MAX_FIELDS]
    fields: list[JSONValue] = [
        {
            "type": "mrkdwn",
            "text": _cut(f"*{label(name)}*\n{escape(str(event.dimensions[name]))}", FIELD_LIMIT),
        }
        for name in named
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    links = [_link(name, url) for name, url in sorted(event.links.items())]
    if links:
        text = _cut(" · ".join(links), SECTION_LIMIT)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    message: JSONObject = {
        "text": _cut(escape(f"{title} ({event.type})"), SECTION_LIMIT),
        "blocks": blocks,
    }
    if username:
        message["username"] = username
    if icon:
        message["icon_url" if icon.startswith(("https://", "http://")) else "icon_emoji"] = icon
    return message


def _link(name: str, url: str) -> str:
    """A link Slack renders, when the value is a web URL; the value as text otherwise."""
    if url.startswith(("https://", "http://")) and not any(c in url for c in "<>| "):
        return f"<{url}|{escape(label(name))}>"
    return f"{escape(label(name))}: {escape(url)}"
