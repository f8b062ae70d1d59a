"""An event as an email: what a subscription with an email target sends (issue 5).

Built with the standard library's `email.message.EmailMessage` (RFC 5322 headers, MIME, the
`default` policy's folding and encoding); the SMTP client that sends it lives outside the
domain. A plain-text part and an HTML alternative carry the same content as the Slack layout:
the title, a line of context, the message, the dimensions people scan for and the links.
Everything from the event is escaped in the HTML part, and header values lose line breaks, so
an event can neither inject markup nor add headers. The `Message-ID` is derived from the
delivery's id, stable across retries, so a mail system that receives a retry can tell.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from tidings.domain.events import Event
from tidings.domain.slack_layout import FIELD_ORDER, label

SUBJECT_LIMIT = 200


class EmailError(ValueError):
    """An address or message that cannot be sent, with a message fit for a 400."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _address(value: str) -> Address:
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>,;" for c in value.strip()):
        raise EmailError(f"'{value}' is not an email address")
    return Address(addr_spec=value.strip())


def check_addresses(values: Sequence[str]) -> None:
    """EmailError unless every value is a plain address (`name@example.com`)."""
    if not values:
        raise EmailError("an email target needs at least one address")
    for value in values:
        _address(value)


def email_message(
    event: Event,
    *,
    sender: str,
    recipients: Sequence[str],
    delivery_id: int,
    sent_at_ns: int,
    domain: str,
) -> EmailMessage:
    """The message for one delivery of `event` to `recipients`."""
    check_addresses([sender, *recipients])
    title = _one_line(event.title or event.type)
    when = datetime.fromtimestamp(event.occurred_at / 1e9, UTC)
    context = f"{event.type} · {when:%Y-%m-%d %H:%M:%S UTC} · event {event.id}"
    fields = [(label(n), str(event.dimensions[n])) for n in FIELD_ORDER if n in event.dimensions]
    links = sorted(event.links.items())

    message = EmailMessage()
    message["Subject"] = _one_line(f"[{event.type}] {title}")[:SUBJECT_LIMIT]
    message["From"] = _address(sender)
    message["To"] = [_address(r) for r in recipients]
    message["Date"] = format_datetime(datetime.fromtimestamp(sent_at_ns / 1e9, UTC))
    message["Message-ID"] = f"<delivery-{delivery_id}@{_one_line(domain)}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to alerts

    text = [title, context, ""]
    if event.message:
        text += [event.message, ""]
    text += [f"{caption}: {value}" for caption, value in fields]
    text += [f"{label(name)}: {url}" for name, url in links]
    message.set_content("\n".join(text).rstrip() + "\n")

    e = html.escape
    rows = "".join(f"<tr><th>{e(caption)}</th><td>{e(v)}</td></tr>" for caption, v in fields)
    anchors = "".join(
        f'<li><a href="{e(url)}">{e(label(name))}</a></li>'
        if url.startswith(("https://", "http://"))
        else f"<li>{e(label(name))}: {e(url)}</li>"
        for name, url in links
    )
    body = f"<h2>{e(title)}</h2><p><small>{e(context)}</small></p>"
    if event.message:
        body += f"<p>{e(event.message)}</p>"
    if rows:
        body += f"<table>{rows}</table>"
    if anchors:
        body += f"<ul>{anchors}</ul>"
    message.add_alternative(f"<!doctype html><html><body>{body}</body></html>", subtype="html")
    return message
