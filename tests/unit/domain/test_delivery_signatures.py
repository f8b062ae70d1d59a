"""Outgoing deliveries signed as Standard Webhooks: the published vector, rotation, secrets."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tidings.domain.delivery_signatures import (
    Rotation,
    SigningError,
    check_secret,
    secret_from_bytes,
    signed_headers,
)

# The Standard Webhooks specification's example (also its reference libraries' test vector).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_signature_vector_is_reproduced() -> None:
    headers = signed_headers(
        message_id=VECTOR_ID,
        timestamp_s=VECTOR_TIMESTAMP,
        body=VECTOR_BODY,
        secrets=[VECTOR_SECRET],
    )
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": VECTOR_SIGNATURE,
    }


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    old, new = secret_from_bytes(b"o" * 32), secret_from_bytes(b"n" * 32)
    rotation = Rotation(current=new, previous=old, previous_until=2_000)
    assert rotation.in_force(1_999) == [new, old]
    assert rotation.in_force(2_000) == [new]
    now = int(time.time())
    body = b'{"type": "deployment", "id": 7}'
    headers = signed_headers(
        message_id="msg_7", timestamp_s=now, body=body, secrets=rotation.in_force(0)
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver on either secret accepts it, with the library
        assert Webhook(secret).verify(body, headers) == {"type": "deployment", "id": 7}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_from_bytes(b"x" * 32)).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_secrets_are_checked() -> None:
    check_secret(secret_from_bytes(bytes(range(24))))
    check_secret(VECTOR_SECRET)
    for bad, message in (
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a signing secret starts with 'whsec_'"),
        ("whsec_not base64!", "a signing secret is 'whsec_' followed by base64"),
        ("whsec_c2hvcnQ=", "a signing secret holds 24 to 64 bytes, not 5"),
    ):
        with pytest.raises(SigningError) as caught:
            check_secret(bad)
        assert str(caught.value) == message
    with pytest.raises(SigningError, match="holds 24 to 64 bytes, not 65"):
        secret_from_bytes(bytes(65))


def test_signing_needs_a_secret_and_a_utf8_body() -> None:
    with pytest.raises(SigningError, match="at least one signing secret"):
        signed_headers(message_id="m", timestamp_s=1, body=b"{}", secrets=[])
    with pytest.raises(SigningError, match="must be UTF-8"):
        signed_headers(message_id="m", timestamp_s=1, body=b"\xff", secrets=[VECTOR_SECRET])
