"""Sending one delivery: email, a Slack-compatible incoming webhook, a signed webhook.

A generic webhook is a JSON POST of ``services.Payload`` with two headers:
``X-Runyard-Timestamp`` (Unix seconds) and ``X-Runyard-Signature: sha256=<hex>``, the
HMAC-SHA256 under the channel's secret of ``f"{timestamp}.{body}"``. A receiver
recomputes it over the raw body and refuses old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from notifications.models import Channel, Notification
from notifications.services import Payload, payload

TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Runyard-Signature"
TIMESTAMP_HEADER = "X-Runyard-Timestamp"


class DeliveryError(Exception):
    """The channel refused or could not be reached; ``code``: the HTTP status, if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _text(body: Payload) -> str:
    lines = [body["title"], body["text"]]
    if body["run"] is not None:
        lines.append(body["run"]["url"])
    return "\n".join(line for line in lines if line)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A webhook that redirects is refused, not followed (the target would get the body).
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}: {exc.read(200).decode(errors='replace')}", exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:500]) from None
    if not 200 <= code < 300:
        raise DeliveryError(f"HTTP {code}", code)
    return code


def send(channel: Channel, notification: Notification) -> int | None:
    """Send; the HTTP status for webhooks. Raises DeliveryError."""
    body = payload(notification)
    if channel.kind == Channel.Kind.EMAIL:
        try:
            send_mail(
                f"[Runyard] {body['title']}",
                _text(body),
                settings.DEFAULT_FROM_EMAIL,
                [channel.address],
                fail_silently=False,
            )
        except Exception as exc:  # smtplib's and socket's errors have no common base
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:500]) from None
        return None
    if channel.kind == Channel.Kind.SLACK:
        data = json.dumps({"text": _text(body)}).encode()
        return _post(channel.address, data, {"Content-Type": "application/json"})
    data = json.dumps(body, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, "User-Agent": "Runyard-Webhook"}
    if channel.secret:
        headers[SIGNATURE_HEADER] = sign(channel.secret, timestamp, data)
    return _post(channel.address, data, headers)
