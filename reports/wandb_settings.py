"""How ftscale talks to W&B: the mode (online only with credentials), the project, quiet run settings."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ftscale.errors import InputError

PROJECT = "ftscale"
# wandb 0.31 talks to api.forge.coreweave.com by default and also accepts the api.wandb.ai key behind it.
DEFAULT_HOSTS = ("api.wandb.ai", "api.forge.coreweave.com")
MODES = {"off": "disabled", "disabled": "disabled", "offline": "offline", "dryrun": "offline", "online": "online"}
# Short enough that an unreachable server costs one wait, not a stalled sweep (then offline takes over).
INIT_TIMEOUT_S = 30.0
# Set by `wandb agent` for the process it starts: a W&B run made there becomes the agent's run.
AGENT_ENV = ("WANDB_SWEEP_ID", "WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH")


def wandb_mode(requested: str | None) -> str:
    """The W&B mode for `--wandb` (None, online, offline, off; None reads WANDB_MODE): online only with credentials."""
    name = requested or os.environ.get("WANDB_MODE") or "online"
    if name not in MODES:
        raise InputError(f"--wandb must be one of online, offline, off; got {name!r}")
    mode = MODES[name]
    return "offline" if mode == "online" and not has_credentials() else mode


def has_credentials() -> bool:
    """Whether W&B can log in: WANDB_API_KEY / WANDB_IDENTITY_TOKEN_FILE, or a netrc entry for its server."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    base_url = os.environ.get("WANDB_BASE_URL")
    hosts = [urlsplit(base_url).netloc] if base_url else DEFAULT_HOSTS
    try:
        entries = netrc.netrc(_netrc_path())
    except (OSError, netrc.NetrcParseError):
        return False
    return any(entries.authenticators(host) for host in hosts)


def _netrc_path() -> Path:
    if os.environ.get("NETRC"):
        return Path(os.environ["NETRC"]).expanduser()
    # wandb's own search: ~/.netrc, else ~/_netrc (Windows).
    unix, windows = Path("~/.netrc").expanduser(), Path("~/_netrc").expanduser()
    return windows if windows.exists() and not unix.exists() else unix


def project() -> str:
    """The W&B project of ftscale's runs: WANDB_PROJECT, else `ftscale`."""
    return os.environ.get("WANDB_PROJECT") or PROJECT


def under_agent() -> bool:
    """Whether this process was started by `wandb agent` (its runs belong to the agent)."""
    return any(name in os.environ for name in AGENT_ENV)


def quiet_settings() -> Any:
    """Run settings that keep the terminal to ftscale (no console capture, stats, git or code saving)."""
    import wandb

    return wandb.Settings(
        silent=True,
        console="off",
        x_disable_stats=True,
        disable_git=True,
        disable_job_creation=True,
        save_code=False,
        init_timeout=INIT_TIMEOUT_S,
    )
