"""``warroom status export DIR`` and the worker's copy of the public surface: static files
any web server or CDN can serve, replaced one by one atomically so a reader never sees half
a file. Files of incidents no longer shown are removed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from warroom.db.engine import unit_of_work
from warroom.domain.errors import BadInput
from warroom.domain.policy import Policy
from warroom.services.status_views import current_revision, snapshot
from warroom.web.status_render import files

# Written at the root so a second export knows which files are its own.
MANIFEST = ".warroom-export"


def write_tree(root: Path, tree: dict[str, bytes]) -> int:
    """Write the files in the tree's order (linked pages before the pages linking to them)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        previous = _manifest(root)
        for relative, body in tree.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and target.read_bytes() == body:
                continue
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".export-")
            with os.fdopen(handle, "wb") as out:
                out.write(body)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        for relative in previous - tree.keys():
            stale = root / relative
            stale.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                stale.parent.rmdir()  # an incident's directory, once empty
        (root / MANIFEST).write_text("\n".join(sorted(tree)) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write the status page export to {root}: {exc.strerror}") from None
    return len(tree)


def _manifest(root: Path) -> set[str]:
    listed = root / MANIFEST
    if not listed.exists():
        return set()
    return {line for line in listed.read_text(encoding="utf-8").splitlines() if line}


class Exporter:
    """The worker's part: rewrite the directory whenever the page's revision (or the day)
    changed since the last export."""

    def __init__(self, root: Path, public_url: str) -> None:
        self.root = root
        self.public_url = public_url
        self.done: tuple[int, date] | None = None

    def run(self, sessions: sessionmaker[Session], policy: Policy, now: datetime) -> bool:
        """Export if anything changed; returns whether it did."""
        day = now.astimezone(ZoneInfo(policy.status_page.time_zone)).date()
        with unit_of_work(sessions) as session:
            revision = current_revision(session)
            if (revision, day) == self.done:
                return False
            snap = snapshot(session, policy, now=now, public_url=self.public_url)
        write_tree(self.root, files(snap))
        self.done = (snap.revision, day)
        return True
