"""The results store of a sweep, in SQLite (one machine) or PostgreSQL (many machines); see docs/clusters.md."""

from ftscale.sweeps.store.fit import FitTask, fit_when_due
from ftscale.sweeps.store.lease import LEASE_S, lease_owner
from ftscale.sweeps.store.schema import STATUSES
from ftscale.sweeps.store.store import LeaseLost, Store, open_store
from ftscale.sweeps.store.url import ENV, store_url, without_password

__all__ = [
    "ENV", "LEASE_S", "STATUSES", "FitTask", "LeaseLost", "Store", "fit_when_due", "lease_owner", "open_store",
    "store_url", "without_password",
]  # fmt: skip
