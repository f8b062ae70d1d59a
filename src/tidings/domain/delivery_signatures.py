"""Signing outgoing webhook deliveries as Standard Webhooks, with secret rotation (issue 5).

A delivery carries `webhook-id` (stable across its retries, so a receiver drops duplicates),
`webhook-timestamp` (seconds) and `webhook-signature`: a space-separated list of `v1,<base64>`,
one per secret in force. During a rotation the old secret stays in force beside the new one
until its overlap ends, so receivers can switch secrets at their own pace, as Svix does. The
HMAC itself is the `standardwebhooks` library's (`Webhook.sign`), the reference implementation
the receivers verify with; this module decides which secrets sign and builds the headers.
Pure: secrets are made from random bytes the caller supplies.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64


class SigningError(ValueError):
    """A secret or signing request that cannot be used, with a message fit for a 400."""


def secret_from_bytes(raw: bytes) -> str:
    """A `whsec_` secret holding `raw` (24 to 64 random bytes)."""
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise SigningError(
            f"a signing secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(raw)}"
        )
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def check_secret(value: str) -> None:
    """SigningError unless `value` is `whsec_` and base64 of 24 to 64 bytes."""
    if not value.startswith(SECRET_PREFIX):
        raise SigningError(f"a signing secret starts with '{SECRET_PREFIX}'")
    try:
        raw = base64.b64decode(value.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningError("a signing secret is 'whsec_' followed by base64") from exc
    secret_from_bytes(raw)


@dataclass(frozen=True)
class Rotation:
    """A subscription's secrets: the current one, and the one it replaced until `previous_until`
    (nanoseconds since the epoch; None when there is no overlap)."""

    current: str
    previous: str | None = None
    previous_until: int | None = None

    def in_force(self, now_ns: int) -> list[str]:
        """The secrets that sign a delivery sent at `now_ns`, newest first."""
        if self.previous is None or self.previous_until is None or now_ns >= self.previous_until:
            return [self.current]
        return [self.current, self.previous]


def signed_headers(
    *, message_id: str, timestamp_s: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery attempt, signed with each secret."""
    if not secrets:
        raise SigningError("a delivery needs at least one signing secret")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SigningError("a delivery body must be UTF-8") from exc
    moment = datetime.fromtimestamp(timestamp_s, UTC)
    signatures = [Webhook(secret).sign(message_id, moment, text) for secret in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": " ".join(signatures),
    }
