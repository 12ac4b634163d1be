"""The results store of a sweep, in SQLite (one machine) or PostgreSQL (many machines); see docs/clusters.md."""

from ftscale.sweeps.store.schema import STATUSES
from ftscale.sweeps.store.store import LeaseLost, Store, open_store
from ftscale.sweeps.store.url import ENV, store_url

__all__ = ["ENV", "STATUSES", "LeaseLost", "Store", "open_store", "store_url"]
