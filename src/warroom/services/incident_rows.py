"""What one transaction has read of an incident's rows: its current roles, checklist actions
and status updates, each read once and kept up to date by the only functions that add to
them, and which incidents the transaction created (those have nothing to read back)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from warroom.db.appends import write as write_appends
from warroom.db.models import Action, Person, RoleAssignment, StatusUpdate
from warroom.domain.types import Role

# Read on (nearly) every write: built once.
ROLE_HOLDERS = (
    select(RoleAssignment.role, Person.handle)
    .join(Person, Person.id == RoleAssignment.person_id)
    .where(
        RoleAssignment.incident_id == bindparam("incident"), RoleAssignment.relieved_at.is_(None)
    )
    .order_by(RoleAssignment.assigned_at, RoleAssignment.id)
)
ACTIONS_OF = select(Action).where(Action.incident_id == bindparam("incident"))
UPDATES_OF = (
    select(StatusUpdate)
    .where(StatusUpdate.incident_id == bindparam("incident"))
    .order_by(StatusUpdate.number)
)
UPDATE_TIMES_OF = (
    select(StatusUpdate.at)
    .where(StatusUpdate.incident_id == bindparam("incident"))
    .order_by(StatusUpdate.number)
)


def current_roles(session: Session, incident_id: int) -> dict[Role, tuple[str, ...]]:
    """Who holds which role now. Cached for the session: only
    :func:`~warroom.services.records.assign` changes roles, and it keeps the cached entry up
    to date."""
    cache: dict[int, dict[Role, tuple[str, ...]]] = session.info.setdefault(ROLES_CACHE, {})
    if incident_id not in cache:
        cache[incident_id] = _read_roles(session, incident_id)
    return cache[incident_id]


def roles_if_known(session: Session, incident_id: int) -> dict[Role, tuple[str, ...]] | None:
    """Who holds which role, if this transaction already knows it (``None``: not read yet)."""
    cache: dict[int, dict[Role, tuple[str, ...]]] = session.info.get(ROLES_CACHE, {})
    return cache.get(incident_id)


ROLES_CACHE = "warroom.current_roles"
ACTIONS_CACHE = "warroom.actions"
UPDATES_CACHE = "warroom.status_updates"
UPDATE_TIMES_CACHE = "warroom.status_update_times"
NEW_INCIDENTS = "warroom.new_incidents"


def created(session: Session, incident_id: int) -> None:
    """An incident this transaction created has no roles, actions, pages or timers of its own
    yet: what it gets, this transaction adds, and nothing needs reading back."""
    session.info.setdefault(ROLES_CACHE, {})[incident_id] = {}
    session.info.setdefault(ACTIONS_CACHE, {})[incident_id] = {}
    session.info.setdefault(UPDATES_CACHE, {})[incident_id] = []
    session.info.setdefault(UPDATE_TIMES_CACHE, {})[incident_id] = []
    session.info.setdefault(NEW_INCIDENTS, set()).add(incident_id)


def is_new(session: Session, incident_id: int) -> bool:
    """Whether this transaction created the incident (see :func:`created`)."""
    return incident_id in session.info.get(NEW_INCIDENTS, ())


def actions_of(session: Session, incident_id: int) -> dict[str, Action]:
    """The incident's checklist actions by key, read once per transaction. Only
    :func:`~warroom.services.records.add_actions` creates actions, and it adds them here, so
    the answer stays whole without flushing first; changes to the actions are changes to
    these same objects."""
    cache: dict[int, dict[str, Action]] = session.info.setdefault(ACTIONS_CACHE, {})
    if incident_id not in cache:
        with session.no_autoflush:
            rows = session.scalars(ACTIONS_OF, {"incident": incident_id})
            cache[incident_id] = {action.key: action for action in rows}
    return cache[incident_id]


def updates_of(session: Session, incident_id: int) -> list[StatusUpdate]:
    """The incident's status updates in order, read once per transaction: what is shown.
    Kept whole by :func:`posted`."""
    cache: dict[int, list[StatusUpdate]] = session.info.setdefault(UPDATES_CACHE, {})
    if incident_id not in cache:
        write_appends(session)  # an update posted in this transaction is among them
        with session.no_autoflush:
            cache[incident_id] = list(session.scalars(UPDATES_OF, {"incident": incident_id}))
    return cache[incident_id]


def update_times(session: Session, incident_id: int) -> list[datetime]:
    """When each of the incident's status updates was posted, in order, read once per
    transaction: what a write needs of them (their count, the schedule), without loading
    every update's text again on each one. Kept whole by :func:`posted`."""
    cache: dict[int, list[datetime]] = session.info.setdefault(UPDATE_TIMES_CACHE, {})
    if incident_id not in cache:
        known: dict[int, list[StatusUpdate]] = session.info.get(UPDATES_CACHE, {})
        if incident_id in known:
            cache[incident_id] = [update.at for update in known[incident_id]]
        else:
            write_appends(session)
            with session.no_autoflush:
                rows = session.scalars(UPDATE_TIMES_OF, {"incident": incident_id})
                cache[incident_id] = list(rows)
    return cache[incident_id]


def posted(session: Session, update: StatusUpdate) -> None:
    """A status update added in this transaction (only
    :func:`~warroom.services.coordination.post_update` adds them): what was read of the
    incident's updates includes it from now on."""
    times: dict[int, list[datetime]] = session.info.get(UPDATE_TIMES_CACHE, {})
    if update.incident_id in times:
        times[update.incident_id].append(update.at)
    updates: dict[int, list[StatusUpdate]] = session.info.get(UPDATES_CACHE, {})
    if update.incident_id in updates:
        updates[update.incident_id].append(update)


def remember_roles(session: Session, incident_id: int, history: Sequence[RoleAssignment]) -> None:
    """Who holds which role, from the incident's whole role history (ordered as
    :data:`ROLE_HOLDERS` orders it), for a reader that reads the history anyway."""
    cache: dict[int, dict[Role, tuple[str, ...]]] = session.info.setdefault(ROLES_CACHE, {})
    if incident_id not in cache:
        holders = [(row.role, row.person.handle) for row in history if row.relieved_at is None]
        cache[incident_id] = _by_role(holders)


def ordered_actions(session: Session, incident_id: int) -> list[Action]:
    """The incident's actions in the order they were asked for."""
    actions = list(actions_of(session, incident_id).values())
    if any(action.id is None for action in actions):
        session.flush()
    return sorted(actions, key=lambda action: action.id)


def _read_roles(session: Session, incident_id: int) -> dict[Role, tuple[str, ...]]:
    rows = session.execute(ROLE_HOLDERS, {"incident": incident_id})
    return _by_role((role, handle) for role, handle in rows)


def _by_role(holders: Iterable[tuple[Role, str]]) -> dict[Role, tuple[str, ...]]:
    roles: dict[Role, list[str]] = {}
    for role, handle in holders:
        roles.setdefault(role, []).append(handle)
    return {role: tuple(handles) for role, handles in roles.items()}


def cache_assignment(
    session: Session, incident_id: int, role: Role, handle: str, *, back_dated: bool
) -> None:
    """Keep the session's roles cache in step with an assignment instead of reading them
    again. A back-dated holder of a shared role sorts earlier: that one is read again."""
    cache: dict[int, dict[Role, tuple[str, ...]]] = session.info.get(ROLES_CACHE, {})
    if incident_id not in cache:
        return
    if back_dated:
        del cache[incident_id]
        return
    roles = dict(cache[incident_id])
    roles[role] = (handle,) if role.single_holder else (*roles.get(role, ()), handle)
    cache[incident_id] = roles
