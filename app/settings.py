"""Where the app finds its config, storage root and user: flags, then environment, then defaults.

One place, so the CLI, the scheduler process and the Streamlit pages resolve them the same way
(the pages get them through the environment that `vigil app` / `vigil demo` set).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from core.config import VigilConfig, load_config

DEFAULT_CONFIG = "baseline_model/configs/monitor.yaml"
CONFIG_ENV = "VIGIL_CONFIG"
ROOT_ENV = "VIGIL_ROOT"
USER_ENV = "VIGIL_USER"


def config_path(flag: str | None = None) -> Path:
    """--config, else $VIGIL_CONFIG, else the example model's config."""
    return Path(flag or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def storage_root(flag: str | None = None) -> str | None:
    """--root, else $VIGIL_ROOT; None lets the config's storage.root decide."""
    return flag or os.environ.get(ROOT_ENV) or None


def current_user(flag: str | None = None) -> str:
    """--user, else $VIGIL_USER, else the OS account name."""
    if flag:
        return flag
    env = os.environ.get(USER_ENV)
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def load(config_flag: str | None = None, root_flag: str | None = None) -> VigilConfig:
    """Load and validate the config; raises core.config.ConfigError with file, key and hint."""
    return load_config(config_path(config_flag), root=storage_root(root_flag))


def child_env(cfg: VigilConfig, user: str | None = None) -> dict[str, str]:
    """Environment for child processes (scheduler, Streamlit) so they open the same stores."""
    env = dict(os.environ)
    if cfg.source_file:
        env[CONFIG_ENV] = str(Path(cfg.source_file).absolute())
    env[ROOT_ENV] = str(cfg.root)
    if user:
        env[USER_ENV] = user
    return env
