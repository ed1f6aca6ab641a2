"""Reading one Kling callback: its signature (Standard Webhooks) and the task it names.

A callback is only a hint: it may be lost, repeated, late, out of order or forged. What is read
here decides one thing, which task to ask the API about now; the answer to that query, never the
callback's body, is what a caller gets.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["CallbackOutcome", "read_callback", "verify_signature"]

#: What Kling says of a task still on its way: a callback saying so wakes nothing, since no
#: answer to a query could end anyone's wait (it may still tell of a start).
RUNNING_WORDS = frozenset({"submitted", "processing"})

#: Seconds a signed callback's timestamp may lie from now (Standard Webhooks' replay window).
TOLERANCE = 300.0


class CallbackOutcome(enum.StrEnum):
    """What became of one callback.

    ``accepted``: it named a task the session waits for, which is asked about at once;
    ``forwarded``: this session does not wait for it, so it was passed on to the account's other
    sessions through coordination (the one waiting asks at once); ``ignored``: well formed, but
    no such task is waited for (kept a minute in case its create's answer is still on its way);
    ``malformed``: not a callback body; ``bad_signature``: a ``callback_secret`` is set and the
    signature is missing, wrong or too old.
    """

    ACCEPTED = "accepted"
    FORWARDED = "forwarded"
    IGNORED = "ignored"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"


def _key(secret: str) -> bytes:
    """Standard Webhooks secrets are ``whsec_`` + base64; anything else is used as text."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def verify_signature(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> bool:
    """True when ``headers`` carry a valid Standard Webhooks signature of ``body``.

    The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; ``webhook-signature``
    holds one or more space-separated ``v1,<base64 HMAC-SHA256>``; the timestamp must be within
    five minutes of ``now``.

    Examples:
        >>> import base64, hashlib, hmac
        >>> body, stamp = b'{"task_id": "1"}', "1800000000"
        >>> mac = hmac.new(b"s3cret", b"msg_1." + stamp.encode() + b"." + body, hashlib.sha256)
        >>> headers = {"webhook-id": "msg_1", "webhook-timestamp": stamp,
        ...            "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode()}
        >>> verify_signature("s3cret", body, headers, now=1_800_000_060.0)
        True
        >>> verify_signature("s3cret", body + b" ", headers, now=1_800_000_060.0)
        False
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    ident = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not ident or not stamp or not signatures:
        return False
    try:
        sent_at = int(stamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > TOLERANCE:
        return False
    signed = f"{ident}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


def read_callback(body: Any) -> tuple[str, str | None] | None:
    """The task id a callback body names and the status it claims (Kling POSTs a query's
    ``data`` object; an envelope with ``data`` is read too), or None if it names no task.

    Examples:
        >>> read_callback('{"task_id": 867, "task_status": "succeed"}')
        ('867', 'succeed')
        >>> read_callback(b"<html>") is None
        True
    """
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, Mapping) and isinstance(body.get("data"), Mapping):
        body = body["data"]
    if not isinstance(body, Mapping):
        return None
    task_id = body.get("task_id")
    if isinstance(task_id, bool) or not isinstance(task_id, str | int):
        return None
    text = str(task_id).strip()
    if not text or len(text) > 128:
        return None
    status = body.get("task_status")
    return text, status if isinstance(status, str) else None
