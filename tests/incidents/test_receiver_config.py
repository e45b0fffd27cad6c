"""Receiver kinds in the config: the webhook format's new name, its old name, and a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError
from incidents.notify import describe_receivers
from tests.incidents.conftest import base_config


@pytest.mark.parametrize("kind", ["alertmanager", "alertmanager_webhook"])
def test_the_old_webhook_kind_name_is_accepted(tmp_path: Path, kind: str) -> None:
    cfg = base_config(tmp_path, receivers=[{"name": "oncall", "kind": kind, "url_env": "HOOK"}])
    assert cfg.alerts.receivers[0].kind == "alertmanager_webhook"


def test_default_kind_and_delivery_bounds(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, receivers=[{"name": "oncall", "url_env": "HOOK"}])
    assert cfg.alerts.receivers[0].kind == "alertmanager_webhook"
    assert cfg.alerts.delivery_timeout.total_seconds() == 10 and cfg.alerts.delivery_deadline.total_seconds() == 60
    assert describe_receivers(cfg) == [
        {"name": "oncall", "kind": "alertmanager_webhook", "url": "<secret>", "url_env": "HOOK", "token_env": None}
    ]


def test_an_unknown_kind_names_the_key_and_the_allowed_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        base_config(tmp_path, receivers=[{"name": "oncall", "kind": "pagerduty", "url_env": "HOOK"}])
    msg = str(err.value)
    assert "alerts.receivers[0].kind" in msg
    assert "'slack', 'alertmanager_webhook' or 'alertmanager_api'" in msg


def test_links_must_be_urls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alerts.dashboard_url"):
        base_config(tmp_path, receivers=[], dashboard_url="localhost:8501")
