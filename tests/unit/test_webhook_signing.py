"""Standard Webhooks signing (syndication.publish.signing), checked with the `standardwebhooks` library
receivers use, and against the specification's published test vector."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from syndication.kernel.settings import ConfigError, load_settings
from syndication.publish.signing import new_secret, secret_key, signed_headers, webhook_id


def test_signature_matches_the_specification_test_vector() -> None:
    # The vector every Standard Webhooks library is tested with (secret, id, timestamp, payload -> signature).
    headers = signed_headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                             b'{"test": 2432232314}', datetime.fromtimestamp(1614265330, UTC))
    assert headers == {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
                       "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}


def test_receivers_library_verifies_and_rejects() -> None:
    secret = new_secret()
    body = '{"data":{"title":"Bakı, 4 fevral"},"type":"notice.corrected"}'.encode()
    now = datetime.now(UTC)
    headers = signed_headers(secret, "msg_1", body, now)
    receiver = Webhook(secret)
    assert receiver.verify(body, headers) == {"data": {"title": "Bakı, 4 fevral"}, "type": "notice.corrected"}
    with pytest.raises(WebhookVerificationError):
        receiver.verify(body + b" ", headers)  # body changed
    with pytest.raises(WebhookVerificationError):
        receiver.verify(body, {**headers, "webhook-id": "msg_2"})  # the id is signed
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)  # another endpoint's secret
    stale = signed_headers(secret, "msg_1", body, now - timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError, match="too old"):
        receiver.verify(body, stale)  # why the timestamp must be the send time, not the queueing time


def test_webhook_id_is_stable_per_notice_and_endpoint() -> None:
    a = webhook_id("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427", "partner:turan")
    assert a == webhook_id("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427", "partner:turan")
    assert a.startswith("msg_") and len(a) == 4 + 32
    assert a != webhook_id("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427", "subscriber:downstream")
    assert a != webhook_id("urn:uuid:2b4e28ba-2fa1-11d2-883f-0016d3cca427", "partner:turan")


def test_new_secrets_are_fresh_whsec_secrets() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith("whsec_")
    assert len(secret_key(a)) == 32
    assert secret_key(a) == base64.b64decode(a.removeprefix("whsec_"))


@pytest.mark.parametrize(("secret", "says"), [
    ("s3cret-without-prefix-0123456789abcdef", "Standard Webhooks secret"),
    ("whsec_" + base64.b64encode(b"x" * 8).decode(), "holds 8"),
    ("whsec_" + base64.b64encode(b"x" * 65).decode(), "holds 65"),
    ("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), "standard base64"),
])
def test_configured_secret_is_refused_with_how_to_make_one(secret: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, partners=[{"id": "turan", "name": "Turan", "webhook_url": "https://t.example/h",
                                       "webhook_secret": secret}])
    message = str(err.value)
    assert "partners[0].webhook_secret" in message and says in message
    assert "syndication notices secret" in message and "\n" not in message
    assert secret not in message and secret.removeprefix("whsec_") not in message  # never echoed
    with pytest.raises(ConfigError, match=r"subscribers\[0\]\.webhook_secret"):
        load_settings(None, subscribers=[{"id": "down", "webhook_url": "https://d.example/h",
                                          "webhook_secret": secret}])


def test_unpadded_secret_is_accepted_like_the_libraries_do() -> None:
    padded = new_secret(nbytes=25)
    assert padded.endswith("=")
    assert secret_key(padded.rstrip("=")) == secret_key(padded)
    settings = load_settings(None, subscribers=[{"id": "down", "webhook_url": "https://d.example/h",
                                                 "webhook_secret": padded.rstrip("=")}])
    assert settings.subscribers[0].webhook_secret.get_secret_value() == padded.rstrip("=")
