"""Set-up shared by the long-running processes (``warroom serve``, ``warroom worker``)."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Hide what start-up built from the garbage collector, once it is built.

    Modules, the app and its routes, SQLAlchemy's mappers and the policy live as long as the
    process. Left in the collector's oldest generation, each full collection walks all of them:
    about 75 ms in which no request moves, every so often under load. Frozen, they are no
    longer walked; only what requests leave behind is (decision 103)."""
    gc.collect()  # start-up's own garbage is freed, not frozen for good
    gc.freeze()
