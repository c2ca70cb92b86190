"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and `webhook-signature`,
one `v1,<base64>` signature per secret still valid (the new one and, during a rotation's
grace period, the old one), so a receiver can switch secrets at its own pace."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signature_header(
    msg_id: str, timestamp: datetime, body: str, secret_list: Sequence[str]
) -> str:
    return " ".join(Webhook(s).sign(msg_id, timestamp, body) for s in secret_list)


def signed_headers(
    msg_id: str, timestamp: datetime, body: str, secret_list: Sequence[str]
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(msg_id, timestamp, body, secret_list),
        "content-type": "application/json",
    }
