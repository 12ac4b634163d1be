"""W&B logging of a sweep: a `finetune` run per finished point, a `scaling-law` run per fit; never fails the caller."""

import logging
import netrc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ftscale.sweeps.report import VERDICTS

log = logging.getLogger(__name__)

PROJECT = "ftscale"
# wandb 0.31 talks to api.forge.coreweave.com by default and also accepts the api.wandb.ai key behind it.
DEFAULT_HOSTS = ("api.wandb.ai", "api.forge.coreweave.com")
MODES = {"off": "disabled", "disabled": "disabled", "offline": "offline", "dryrun": "offline", "online": "online"}
# A store row's bookkeeping, which is neither a factor nor a hyper-parameter of the point.
NOT_CONFIG = {"metrics", "status", "error", "attempts", "lease_owner", "lease_expires"}
NOT_CONFIG |= {"created_at", "started_at", "finished_at", "wandb_logged"}
# Short enough that an unreachable server costs one wait, not a stalled sweep (then offline takes over).
INIT_TIMEOUT_S = 30.0

_warned = False
_online_failed = False


def wandb_mode(requested: str | None) -> str:
    """The W&B mode for `--wandb` (None, online, offline, off; None reads WANDB_MODE): online only with credentials."""
    name = requested or os.environ.get("WANDB_MODE") or "online"
    if name not in MODES:
        raise ValueError(f"--wandb must be one of online, offline, off; got {name!r}")
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


def run_id(run_dir: Path) -> str:
    """The id of a run from its directory (`<mode>-run-<timestamp>-<id>` or `run-<timestamp>-<id>`)."""
    return Path(run_dir).name.rsplit("-", 1)[-1]


def log_point(sweep_dir: Path, sweep_name: str, point: dict[str, Any], mode: str) -> Path | None:
    """Log a finished point as a `finetune` run (group = sweep, config = factors and hyper-parameters,
    summary = metrics) under `<sweep_dir>/wandb/`; return the run's directory, None if disabled or failed."""
    config = {key: value for key, value in point.items() if key not in NOT_CONFIG}
    metrics = point.get("metrics") or {}
    return _logged_run(
        sweep_dir,
        mode,
        lambda run: run.summary.update(metrics),
        group=sweep_name,
        job_type="finetune",
        name=str(point.get("id", "")) or None,
        config=config,
    )


def log_fit(sweep_dir: Path, laws: dict[str, Any], mode: str) -> Path | None:
    """Log a sweep's `laws.json` as a `scaling-law` run (tables, figures, summary scalars); return its directory."""
    sweep_dir = Path(sweep_dir)

    def body(run: Any) -> None:
        import wandb

        logged: dict[str, Any] = {
            name: wandb.Table(columns=columns, data=rows) for name, (columns, rows) in fit_tables(laws).items()
        }
        for key, relative in figures(laws):
            if (sweep_dir / relative).is_file():
                logged[key] = wandb.Image(str(sweep_dir / relative))
        run.log(logged)
        run.summary.update(fit_summary(laws))

    points = laws.get("points", [])
    config = {"sweep": laws.get("sweep"), "task": laws.get("task"), "points": len(points)}
    name = f"{laws.get('sweep', 'sweep')}-laws"
    return _logged_run(sweep_dir, mode, body, group=laws.get("sweep"), job_type="scaling-law", name=name, config=config)


def fit_tables(laws: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The fit's W&B tables as `{key: (columns, rows)}`: laws with intervals and errors, forms, crossings, claims."""
    fits = laws.get("fits", [])
    names = list(dict.fromkeys(name for fit in fits for name in fit.get("params") or {}))
    base = ["method", "axis", "law", "x_name", "formula", "delta_e", "delta_h", "n_fit", "n_held_out", "converged"]
    law_rows = []
    for fit in fits:
        params, intervals = fit.get("params") or {}, fit.get("intervals") or {}
        row = [fit.get(column) for column in base]
        for name in names:
            low, high = intervals.get(name) or (None, None)
            row += [params.get(name), low, high]
        law_rows.append(row)
    law_columns = base + [f"{name}{end}" for name in names for end in ("", "_low", "_high")]
    forms = []
    for c in laws.get("form_comparison", []):
        for rank, entry in enumerate(c.get("ranking", []), start=1):
            law = entry.get("law")
            row = [c.get("method"), c.get("axis"), rank, law, entry.get("delta_e"), entry.get("delta_h")]
            forms.append([*row, law == c.get("winner")])
    critical = [
        [c.get("axis"), c.get("method_a"), c.get("method_b"), x, df]
        for c in laws.get("critical", [])
        for x, df in zip(c.get("x", []), c.get("df_c", []), strict=False)
    ]
    claims = [
        [c.get("id"), c.get("claim"), VERDICTS.get(c.get("holds"), VERDICTS[None])[0], c.get("evidence")]
        for c in laws.get("claims", [])
    ]
    return {
        "tables/laws": (law_columns, law_rows),
        "tables/form_comparison": (["method", "axis", "rank", "law", "delta_e", "delta_h", "winner"], forms),
        "tables/critical_data_sizes": (["axis", "method_a", "method_b", "x", "df_c"], critical),
        "tables/claims": (["id", "claim", "verdict", "evidence"], claims),
    }


def fit_summary(laws: dict[str, Any]) -> dict[str, Any]:
    """Scalars to compare runs by: `fit/<method>/<axis>/<law>/<delta_e|delta_h|parameter>`, winners, verdicts."""
    summary: dict[str, Any] = {"points": len(laws.get("points", []))}
    for fit in laws.get("fits", []):
        prefix = f"fit/{fit.get('method')}/{fit.get('axis')}/{fit.get('law')}"
        summary |= {f"{prefix}/{key}": fit.get(key) for key in ("delta_e", "delta_h")}
        summary |= {f"{prefix}/{name}": value for name, value in (fit.get("params") or {}).items()}
    for comparison in laws.get("form_comparison", []):
        summary[f"form/{comparison.get('method')}/{comparison.get('axis')}/winner"] = comparison.get("winner")
    for claim in laws.get("claims", []):
        summary[f"claims/{claim.get('id')}"] = VERDICTS.get(claim.get("holds"), VERDICTS[None])[0]
    return summary


def figures(laws: dict[str, Any]) -> list[tuple[str, str]]:
    """`(W&B key, path relative to the sweep directory)` of every fit and crossing figure named in `laws.json`."""
    found = [
        (f"figures/{f.get('method')}/{f.get('axis')}/{f.get('law')}", f.get("figure")) for f in laws.get("fits", [])
    ]
    found += [
        (f"figures/critical/{c.get('method_a')}-{c.get('method_b')}/{c.get('axis')}", c.get("figure"))
        for c in laws.get("critical", [])
    ]
    return [(key, path) for key, path in found if path]


def _logged_run(sweep_dir: Path, mode: str, body: Callable[[Any], None], **init: Any) -> Path | None:
    """Run `body(run)` inside a fresh W&B run; on any error warn once and go on (online falls back to offline)."""
    global _online_failed
    if mode == "online" and _online_failed:
        mode = "offline"
    attempts = {"disabled": [], "online": ["online", "offline"]}.get(mode, [mode])
    for attempt in attempts:
        try:
            return _run(Path(sweep_dir), attempt, body, init)
        except Exception as err:  # W&B must never fail a sweep: unreachable, misconfigured or broken alike.
            _online_failed = _online_failed or attempt == "online"
            then = "logging offline instead" if attempt == "online" else "going on without it"
            reason = (str(err).splitlines() or [""])[0]
            _warn_once(f"W&B {attempt} logging failed ({type(err).__name__}: {reason}); {then}")
    return None


def _run(sweep_dir: Path, mode: str, body: Callable[[Any], None], init: dict[str, Any]) -> Path:
    import wandb

    sweep_dir.mkdir(parents=True, exist_ok=True)
    # Quiet, and no console capture: the runner's progress bar owns the terminal and runs in this process.
    settings = wandb.Settings(
        silent=True,
        console="off",
        x_disable_stats=True,
        disable_git=True,
        disable_job_creation=True,
        save_code=False,
        init_timeout=INIT_TIMEOUT_S,
    )
    # create_new: a run the caller already has open (a Lightning WandbLogger) is left alone.
    run = wandb.init(project=project(), dir=sweep_dir, mode=mode, reinit="create_new", settings=settings, **init)
    try:
        body(run)
    finally:
        run.finish()
    return Path(run.dir).parent


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(message)
