"""Debian's `prometheus` and `prometheus-alertmanager` binaries, started on 127.0.0.1 for a test.

They fail (never skip) when the packages are missing: `make test` and `.ci/run` install them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"
PROMTOOL = "promtool"
INSTALL_HINT = "(hint: `apt-get install prometheus prometheus-alertmanager`; `make test` and .ci/run install them)"


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        raise AssertionError(f"{name} not found: these tests run Debian's Prometheus and Alertmanager {INSTALL_HINT}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (127.0.0.1 in tests)
        text = resp.read().decode()
    return json.loads(text) if text.strip() else None


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Poll until probe() returns something truthy (a wait, not a timed assertion: the bound only ends a broken run)."""
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = probe()
        except OSError as err:  # not listening yet
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.25)
    raise AssertionError(f"gave up waiting for {what}; last answer: {last!r}")


@contextmanager
def _process(args: list[str], log: Path, ready_url: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{args[0]} exited with {proc.returncode}: {log.read_text()[-2000:]}")
            with urllib.request.urlopen(ready_url, timeout=5) as resp:  # noqa: S310
                return resp.status == 200

        wait_for(f"{args[0]} to be ready", ready)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def alertmanager(folder: Path) -> Iterator[str]:
    """An Alertmanager with one do-nothing receiver; yields its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "alertmanager.yml"
    config.write_text(yaml.safe_dump({
        "route": {"receiver": "null", "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "null"}],
    }))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [binary(ALERTMANAGER), f"--config.file={config}", f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]
    with _process(args, folder / "alertmanager.log", f"{url}/-/ready"):
        yield url


@contextmanager
def prometheus(folder: Path, rules: Path, exporter_port: int) -> Iterator[str]:
    """A Prometheus scraping `vigil exporter` every second (job `vigil`) with Vigil's rules; yields its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "vigil", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [binary(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    with _process(args, folder / "prometheus.log", f"{url}/-/ready"):
        yield url


def instant_query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    answer = http_json(f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


@contextmanager
def exporter(config: Path, root: Path, log: Path) -> Iterator[int]:
    """`vigil exporter` in its own process (DuckDB allows one configuration per file per process,
    and the test's cycles write the warehouse); yields its port."""
    port = free_port()
    args = [sys.executable, "-m", "app.cli", "--config", str(config), "--root", str(root), "exporter",
            "--host", "127.0.0.1", "--port", str(port)]
    with _process(args, log, f"http://127.0.0.1:{port}/metrics", env=dict(os.environ)):
        yield port
