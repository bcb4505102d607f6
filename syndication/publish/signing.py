"""Standard Webhooks (https://www.standardwebhooks.com/): secrets, message ids and signature headers.

Pure functions, no I/O. A delivery is signed when it is sent, not when it is queued, so its timestamp is
inside the 5-minute window receivers enforce however long it waited; its `webhook-id` is derived from
the delivery (notice x endpoint), so every attempt of one delivery carries the same id and a receiver
that keeps the ids it has seen drops repeats. The HMAC is computed by the `standardwebhooks` library,
the same code partners verify with.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
# The specification asks for 24 to 64 random bytes; fewer is a weak key, and we make 32.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
NEW_SECRET_BYTES = 32
SECRET_COMMAND = "syndication notices secret"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# Fixed forever: changing it would change the ids of deliveries still being retried.
_ID_NAMESPACE = uuid.UUID("6f1d4c2e-8d0b-5a53-9a57-0c3c9b1f7e21")


def new_secret(nbytes: int = NEW_SECRET_BYTES) -> str:
    """A fresh signing secret: `whsec_` + base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def secret_key(value: str) -> bytes:
    """The HMAC key of a `whsec_` secret (padding optional, as the reference libraries accept it).

    Raises ValueError saying what is wrong, never echoing the secret."""
    how = f"make one with `{SECRET_COMMAND}`"
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret must be a Standard Webhooks secret ('{SECRET_PREFIX}' followed by base64 "
                         f"of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes); {how}")
    encoded = value[len(SECRET_PREFIX):].rstrip("=")
    try:
        # validate=True: the libraries receivers use skip characters outside the alphabet (e.g. URL-safe
        # "-" and "_"), so such a secret would give them another key than ours.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret after '{SECRET_PREFIX}' must be standard base64; {how}") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"a webhook secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes, this one "
                         f"holds {len(key)}; {how}")
    return key


def webhook_id(notice_uid: str, endpoint: str) -> str:
    """The `webhook-id` of one notice to one endpoint: the same on every attempt, after restarts too."""
    return "msg_" + uuid.uuid5(_ID_NAMESPACE, f"{notice_uid} {endpoint}").hex


def signed_headers(secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` sent at `at` (integer Unix seconds)."""
    stamp = datetime.fromtimestamp(int(at.timestamp()), UTC)
    signature = Webhook(secret_key(secret)).sign(message_id, stamp, body.decode("utf-8"))
    return {ID_HEADER: message_id, TIMESTAMP_HEADER: str(int(stamp.timestamp())), SIGNATURE_HEADER: signature}
