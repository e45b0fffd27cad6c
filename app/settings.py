"""Where the app finds its config, storage root and user: flags, then environment, then defaults.

One place, so the CLI, the scheduler process and the Streamlit pages resolve them the same way
(the pages get them through the environment that `vigil app` / `vigil demo` set).
"""

from __future__ import annotations

import os
from pathlib import Path

from core.config import ConfigError, VigilConfig, load_config
from core.identity import USER_ENV, acting_username

# The one default config path (relative to the current folder: the repo root for `make run`).
DEFAULT_CONFIG = "baseline_model/configs/monitor.yaml"
CONFIG_ENV = "VIGIL_CONFIG"
ROOT_ENV = "VIGIL_ROOT"


def config_path(flag: str | None = None) -> Path:
    """--config, else $VIGIL_CONFIG, else the example model's config."""
    return Path(flag or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def storage_root(flag: str | None = None) -> str | None:
    """--root, else $VIGIL_ROOT; None lets the config's storage.root decide."""
    return flag or os.environ.get(ROOT_ENV) or None


def current_user(flag: str | None = None) -> str:
    """Who is acting (core.identity.acting_username: --user, $VIGIL_USER, the OS account)."""
    return acting_username(flag)


def load(config_flag: str | None = None, root_flag: str | None = None) -> VigilConfig:
    """Load and validate the config; raises core.config.ConfigError with file, key and hint."""
    path = config_path(config_flag)
    if not path.exists():
        raise ConfigError(
            f"{path}: file not found (hint: pass --config PATH or set ${CONFIG_ENV} to a monitored-model YAML "
            f"file; the default, {DEFAULT_CONFIG}, is relative to the current folder)"
        )
    return load_config(path, root=storage_root(root_flag))


def child_env(cfg: VigilConfig, user: str | None = None) -> dict[str, str]:
    """Environment for child processes (scheduler, Streamlit) so they open the same stores."""
    env = dict(os.environ)
    if cfg.source_file:
        env[CONFIG_ENV] = str(Path(cfg.source_file).absolute())
    env[ROOT_ENV] = str(cfg.root)
    if user:
        env[USER_ENV] = user
    return env
