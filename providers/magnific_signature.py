"""Magnific's webhook signatures, checked on the raw body.

Webhooks are signed Standard-Webhooks style: ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{raw body}")>``. The docs say
the key is the secret's bytes; one integration treats a ``whsec_`` secret as base64, so both keys
are tried.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import time
from collections.abc import Mapping

from providers.errors import CallbackSignatureError

#: a webhook whose timestamp is further than this from our clock is refused (replay window)
WEBHOOK_TOLERANCE_SECONDS = 300


def _signing_keys(secret: str) -> list[bytes]:
    """The HMAC keys a secret may stand for: its UTF-8 bytes, and for ``whsec_...`` secrets
    (Standard Webhooks / Svix form) also the base64-decoded remainder."""
    keys = [secret.encode()]
    if secret.startswith("whsec_"):
        with contextlib.suppress(binascii.Error, ValueError):
            decoded = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            if decoded:
                keys.append(decoded)
    return keys


def verify_webhook_signature(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Check a Magnific webhook's signature on the raw body; raise
    :class:`CallbackSignatureError` when it is missing, wrong or outside the time window.

    ``webhook-signature`` is a space-separated list of ``version,base64sig`` entries; the
    delivery is genuine if any ``v1`` entry matches (compared in constant time).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    webhook_id = lowered.get("webhook-id", "").strip()
    timestamp = lowered.get("webhook-timestamp", "").strip()
    signatures = lowered.get("webhook-signature", "").strip()
    if not (webhook_id and timestamp and signatures):
        raise CallbackSignatureError("magnific callback is not signed")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise CallbackSignatureError(
            "magnific callback has a bad timestamp", detail=f"webhook-timestamp {timestamp[:40]!r}"
        ) from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > WEBHOOK_TOLERANCE_SECONDS:
        raise CallbackSignatureError(
            "magnific callback is too old or from the future",
            detail=f"timestamp {sent_at}, now {current:.0f}",
        )
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    expected = [
        base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        for key in _signing_keys(secret)
    ]
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version != "v1" or not signature:
            continue
        given = signature.encode()
        # no early exit over keys: each comparison is constant-time and they all run
        matches = [hmac.compare_digest(given, candidate) for candidate in expected]
        if any(matches):
            return
    raise CallbackSignatureError("magnific callback signature does not match")
