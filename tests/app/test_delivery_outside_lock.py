"""A hanging receiver never holds the cycle: delivery runs after the cycle lock is released.

Two real `vigil run-once` processes and a real HTTP receiver on 127.0.0.1 that holds every
request until the test releases it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from core.clock import SystemClock
from core.config import load_config
from core.stores import OpsStore
from incidents import outbox
from incidents.delivery import deliver_outbox
from tests.app.builders import write_history
from tests.app.conftest import small_config, write_config
from tests.incidents.webhook_server import WebhookServer

REPO = Path(__file__).resolve().parents[2]
START = date(2024, 3, 1)
HOOK = "VIGIL_TEST_BLOCKING_HOOK"


def run_once(config: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "app.cli", "--config", str(config), "--root", str(root), "--json", "run-once"]


def test_a_blocked_receiver_does_not_hold_the_next_cycle_and_nothing_is_lost(tmp_path: Path) -> None:
    root = tmp_path / "var"
    data = small_config()
    data["schedule"] = {"interval": "1h"}  # the second run is on time: no heartbeat alert of its own
    data["alerts"] = {
        "receivers": [{"name": "oncall", "kind": "alertmanager_webhook", "url_env": HOOK}],
        "routes": [{"receiver": "oncall", "group_by": ["model", "check", "subject"]}],  # several messages
        "delivery_timeout": "5m",  # the held request does not time out: the test decides when it ends
        "delivery_deadline": "10m",
    }
    config = write_config(tmp_path, data)
    write_history(root, START, days=7, unit_change_day=START + timedelta(days=6))  # the newest day fires
    release = threading.Event()
    # Held until released, then the first answer is a 503: that message is resent, same key.
    with WebhookServer(responses=[503], hold=release) as server:
        env = os.environ | {HOOK: f"{server.url}/hook", "VIGIL_ROOT": str(root)}
        first_out, first_err = (tmp_path / "first.out").open("w"), (tmp_path / "first.err").open("w")
        first = subprocess.Popen(run_once(config, root), env=env, cwd=REPO, stdout=first_out, stderr=first_err)
        try:
            while not server.arrived.wait(timeout=1):
                assert first.poll() is None, "the first run ended before sending anything: " + (tmp_path / "first.err").read_text()
            # The first run holds a request open on the receiver. A second run takes the lock and completes.
            second = subprocess.run(run_once(config, root), env=env, cwd=REPO, capture_output=True, text=True,
                                    timeout=600)
            assert server.answered == 0, "the receiver answered nothing while the second cycle ran"
            assert second.returncode in (0, 1), second.stderr
            report = json.loads(second.stdout)
            assert report["status"] == "ok"
            assert report["notifications"] == []  # the first run's messages are claimed: not sent twice at once
        finally:
            release.set()
        first.wait(timeout=600)
        first_out.close()
        first_err.close()
        assert first.returncode in (0, 1), (tmp_path / "first.err").read_text()
        assert json.loads((tmp_path / "first.out").read_text())["status"] == "ok"
        # Whatever the first run did not get to (none, normally) is sent by the next delivery run.
        cfg = load_config(config, root=root)
        ops = OpsStore(cfg.ops_path)
        if outbox.pending_count(ops):
            deliver_outbox(cfg, ops, SystemClock(), env=env)
        requests = list(server.requests)

    cycles = ops.query("SELECT status FROM cycles ORDER BY started_at")
    assert [c["status"] for c in cycles] == ["ok", "ok"]
    messages = outbox.messages(ops)
    assert len(messages) >= 2 and {m.state for m in messages} == {"delivered"}
    keys = [r["headers"]["Idempotency-Key"] for r in requests]
    assert all(r["json"]["idempotencyKey"] == r["headers"]["Idempotency-Key"] for r in requests)
    # Each message was received, none lost, and the one answered 503 came again with the same key and body.
    assert set(keys) == {m.key for m in messages}
    resent = [k for k, n in Counter(keys).items() if n > 1]
    assert resent == [keys[0]]
    assert len({r["body_text"] for r in requests if r["headers"]["Idempotency-Key"] == keys[0]}) == 1
    sent = ops.query("SELECT idempotency_key FROM notifications WHERE status = 'sent'")
    assert sorted(r["idempotency_key"] for r in sent) == sorted(m.key for m in messages)
