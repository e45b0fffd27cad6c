"""Delivery: send what the outbox holds, outside the cycle lock, and record each outcome.

One delivery run claims the pending messages, oldest first, and POSTs each to its
receiver (URL and token from the environment) with retries and back-off on 5xx / 429 /
network errors, every attempt bounded by ``alerts.delivery_timeout`` and the whole run by
``alerts.delivery_deadline``. Each outcome is recorded at once (outbox state, the
``notifications`` log, the incidents' timelines). A message not delivered stays pending and
the next run sends it again with the same idempotency key (header ``Idempotency-Key`` and
inside the payload), so delivery is at least once and a receiver can drop repeats. After
a receiver fails in a run, its later messages wait for the next run, in order.

Secrets (URLs, tokens) never reach the log, the records or the returned values.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock, iso
from core.config import Receiver, VigilConfig
from core.ids import new_id
from core.stores import OpsStore
from incidents import incidents as incident_store
from incidents import outbox
from incidents.outbox import OutboxMessage
from incidents.schema import ensure_schema

log = logging.getLogger("vigil.notify")
SECRET = "<secret>"
DEFAULT_RETRY_DELAYS = (0.5, 2.0, 8.0)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
ALERTMANAGER_API_PATH = "/api/v2/alerts"

Post = Callable[[str, bytes, dict[str, str], float], int]


@dataclass
class Delivery:
    """One delivery run's outcome for one outbox message."""

    message: OutboxMessage
    status: str  # sent or failed
    attempts: int
    error: str | None = None
    http_status: int | None = None

    @property
    def group(self) -> OutboxMessage:
        """The group notification this was (receiver, group labels, alerts)."""
        return self.message

    @property
    def payload_kind(self) -> str:
        return self.message.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.message.receiver,
            "group": self.message.group_labels,
            "firing": list(self.message.firing),
            "resolved": list(self.message.resolved),
            "payload_kind": self.message.kind,
            "idempotency_key": self.message.key,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "http_status": self.http_status,
        }


SHORT_SECRET = 8  # shorter secrets are masked only as whole words, so ordinary words stay whole


def redact(text: str, secrets: list[str]) -> str:
    """Every secret as <secret>, in one pass (a mask is never re-masked), longest first.

    A short secret ("net") is masked only where it stands alone, not inside "network".
    """
    parts = []
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        escaped = re.escape(s)
        parts.append(escaped if len(s) >= SHORT_SECRET else rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])")
    if not parts:
        return text
    return re.sub("|".join(parts), SECRET, text)


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """One POST; returns the HTTP status (raises urllib errors)."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) URL from the operator's env)
        return int(resp.status)


def target_url(receiver: Receiver, url: str) -> str:
    """An ``alertmanager_api`` receiver's variable holds the Alertmanager's base URL; the API path is added."""
    if receiver.kind == "alertmanager_api" and not url.rstrip("/").endswith(ALERTMANAGER_API_PATH):
        return url.rstrip("/") + ALERTMANAGER_API_PATH
    return url


def send(
    receiver: Receiver,
    message: OutboxMessage,
    env: Mapping[str, str],
    *,
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 10.0,
    deadline: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    post: Post = post_json,
) -> tuple[str, int, str | None, int | None]:
    """POST with retries and back-off until ``deadline`` (a ``monotonic()`` value).

    Returns (status, attempts, error, http_status); never leaks secrets.
    """
    url = env.get(receiver.url_env)
    if not url:
        return "failed", 0, f"environment variable {receiver.url_env} is not set (hint: export it where vigil runs)", None
    if not url.startswith(("http://", "https://")):
        return "failed", 0, f"environment variable {receiver.url_env} does not hold an http(s) URL", None
    token = env.get(receiver.token_env) if receiver.token_env else None
    if receiver.token_env and not token:
        return "failed", 0, f"environment variable {receiver.token_env} is not set (hint: export it where vigil runs)", None
    headers = {"Content-Type": "application/json", "User-Agent": "vigil", "Idempotency-Key": message.key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(message.payload, default=str).encode()
    secrets = [url, token or ""]
    error: str | None = None
    http_status: int | None = None
    attempts = 0
    for attempt in range(len(retry_delays) + 1):
        left = timeout if deadline is None else min(timeout, deadline - monotonic())
        if left <= 0:
            error = error or "the delivery run's deadline passed before an attempt (hint: alerts.delivery_deadline)"
            break
        attempts = attempt + 1
        try:
            http_status = post(target_url(receiver, url), body, headers, left)
            if 200 <= http_status < 300:
                log.info("notification %s to %s (%s) sent on attempt %d", message.key, receiver.name, SECRET, attempts)
                return "sent", attempts, None, http_status
            error = f"HTTP {http_status}"
        except urllib.error.HTTPError as e:
            http_status = e.code
            error = f"HTTP {e.code} {e.reason}"
            if e.code not in RETRYABLE_STATUS:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            http_status = None
            error = f"network error: {getattr(e, 'reason', e)}"
        error = redact(error, secrets)
        log.warning("notification %s to %s (%s) failed on attempt %d: %s", message.key, receiver.name, SECRET, attempts, error)
        if attempt < len(retry_delays):
            if deadline is not None and monotonic() + retry_delays[attempt] >= deadline:
                break  # no time left for another attempt this run: the next run resends
            sleep(retry_delays[attempt])
    return "failed", attempts, redact(error or "unknown error", secrets), http_status


def record(ops: OpsStore, d: Delivery, at: datetime) -> None:
    """One outcome: the outbox row, the ``notifications`` log and the incidents' timelines, in one transaction."""
    m = d.message
    state = outbox.DELIVERED if d.status == "sent" else (outbox.DROPPED if d.status == "dropped" else outbox.PENDING)
    with ops.transaction() as conn:
        outbox.mark(conn, m.key, state, d.attempts, d.error, at)
        conn.execute(
            "INSERT INTO notifications (receiver, route, group_key, firing, resolved, payload_kind, status, attempts, "
            "error, http_status, at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.receiver,
                m.route,
                m.group_key,
                json.dumps(list(m.firing)),
                json.dumps(list(m.resolved)),
                m.kind,
                "sent" if d.status == "sent" else "failed",
                d.attempts,
                d.error,
                d.http_status,
                iso(at),
                m.key,
            ),
        )
        for incident_id in m.incidents:
            verb = "sent to" if d.status == "sent" else "FAILED for"
            text = (
                f"Notification ({m.status}, {len(m.firing)} firing, {len(m.resolved)} resolved) {verb} "
                f"receiver {m.receiver}" + (f": {d.error}" if d.error else "")
            )
            incident_store.add_timeline(conn, incident_id, iso(at), "notification", "vigil", text, d.to_dict())


def deliver_outbox(
    cfg: VigilConfig,
    ops: OpsStore,
    clock: Clock,
    *,
    env: Mapping[str, str],
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    post: Post = post_json,
) -> list[Delivery]:
    """One delivery run over the pending outbox, bounded by ``alerts.delivery_deadline``. Returns its outcomes."""
    ensure_schema(ops)
    timeout = cfg.alerts.delivery_timeout.total_seconds()
    budget = cfg.alerts.delivery_deadline.total_seconds()
    deadline = monotonic() + budget
    run_id = new_id("delivery")
    # The claim outlives the run's deadline by one attempt, so it never expires under a live run.
    claimed = outbox.claim(ops, run_id, clock.now(), clock.now() + timedelta(seconds=budget + timeout + 5))
    receivers = {r.name: r for r in cfg.alerts.receivers}
    failed_receivers: set[str] = set()
    out: list[Delivery] = []
    try:
        for m in claimed:
            if monotonic() >= deadline:
                log.warning("delivery deadline (%ss) reached; %d message(s) wait for the next run", budget, len(claimed) - len(out))
                break
            receiver = receivers.get(m.receiver)
            if receiver is None:
                d = Delivery(m, "dropped", 0, f"receiver {m.receiver!r} is no longer in alerts.receivers (message dropped)")
            elif m.receiver in failed_receivers:
                continue  # keep each receiver's messages in order: the next run resends from here
            else:
                status, attempts, error, http_status = send(
                    receiver, m, env, retry_delays=retry_delays, sleep=sleep, timeout=timeout, deadline=deadline,
                    monotonic=monotonic, post=post,
                )
                d = Delivery(m, status, attempts, error, http_status)
                if status != "sent":
                    failed_receivers.add(m.receiver)
            record(ops, d, clock.now())
            out.append(d)
    finally:
        outbox.release(ops, run_id)
    return out
