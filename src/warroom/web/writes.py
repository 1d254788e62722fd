"""What the API's write routes share: the body every write takes, ETags, and one helper that
runs a write as the token's person through the same transaction helper as the CLI."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warroom.db.models import Incident
from warroom.domain.errors import NotFound
from warroom.domain.storable import check_storable
from warroom.domain.types import parse_incident_number
from warroom.runtime import Runtime
from warroom.services.reading import summary
from warroom.services.records import Op
from warroom.services.tokens import Caller
from warroom.web.deps import Member, RuntimeDep
from warroom.web.problems import PreconditionFailed

R = TypeVar("R")
IfMatch = Annotated[str | None, Header(description="The ETag of the incident as you read it.")]


# Free text a person types: a reason, a note on a checklist item, an update's section.
Reason = Annotated[str, Field(max_length=1000)]
Prose = Annotated[str, Field(max_length=4000)]


class Input(BaseModel):
    """Every request body: no text in it, however deep, carries a NUL character (no database
    stores one faithfully) or runs past ``LONGEST_TEXT`` (:mod:`warroom.domain.storable`)."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                check_storable(value, str(key))
        return data


class Body(Input):
    model_config = ConfigDict(extra="forbid")

    at: str | None = Field(
        None, description="When it happened (ISO 8601 with offset); now if absent."
    )
    on_behalf_of: str | None = Field(None, description="Act for this person (admin tokens only).")


def etag(incident: Incident) -> str:
    return f'"v{incident.version}"'


def matches(if_match: str, current: str) -> bool:
    """RFC 9110 If-Match: ``*`` or a list of entity tags, compared strongly (a weak tag never
    matches)."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or current in tags


def flushed(op: Op, row: R) -> R:
    """``row`` with what the database fills in (its id) read back, so a write answers with
    what it stored from its own transaction. A second transaction to read it again would
    answer 503 if the database went away in between, though the write had committed (and a
    secret shown only once would be lost)."""
    op.session.flush()
    return row


def number_of(text: str) -> int:
    try:
        return parse_incident_number(text)
    except ValueError as exc:
        raise NotFound(str(exc)) from None


def write(
    runtime: Runtime,
    caller: Caller,
    body: Body,
    action: Callable[[Op], Incident],
    *,
    number: int | None = None,
    if_match: str | None = None,
    attempted: str = "",
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Run ``action`` as the caller and answer with the incident it returns. ``extra`` is
    merged into the answer after the action ran, so the action may fill it in."""
    if body.on_behalf_of and caller.access.value != "admin":
        raise HTTPException(403, "acting on behalf of someone else needs an admin token")

    def guarded(op: Op) -> tuple[Incident, dict[str, Any]]:
        if if_match is not None and number is not None:
            current = op.session.get(Incident, number)
            if current is not None and not matches(if_match, etag(current)):
                raise PreconditionFailed(etag(current))
        changed = action(op)
        # The answer is read in the writing transaction: no second round of queries.
        return changed, summary(op.session, changed, op.policy)

    incident, data = runtime.write(
        guarded,
        by=body.on_behalf_of or caller.handle,
        at=body.at,
        incident=number,
        attempted=attempted,
        entered_by=caller.handle if body.on_behalf_of else None,
    )
    # The version is final once committed, so the ETag is taken after the write.
    return JSONResponse(data | (extra or {}), status_code=status, headers={"ETag": etag(incident)})


B = TypeVar("B", bound=Body)


def incident_action(
    router: APIRouter,
    action: str,
    body_type: type[B],
    act: Callable[[Op, int, B], Incident],
    *,
    summary: str,
    attempted: str = "",
    body_required: bool = True,
) -> None:
    """Register ``POST /incidents/{incident_id}/<action>``, the shape most writes share: parse
    the id and the body, run ``act`` as the caller through :func:`write`, answer with the
    incident and its ETag. An optional body defaults to ``body_type()``."""

    def route(
        incident_id: str,
        runtime: Runtime,
        caller: Caller,
        body: B | None = None,
        if_match: str | None = None,
    ) -> JSONResponse:
        number = number_of(incident_id)
        given = body if body is not None else body_type()
        return write(
            runtime,
            caller,
            given,
            lambda op: act(op, number, given),
            number=number,
            if_match=if_match,
            attempted=attempted,
        )

    # FastAPI reads the parameters from the signature: give it the real body type.
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    body = (
        inspect.Parameter("body", positional, annotation=body_type)
        if body_required
        else inspect.Parameter("body", positional, annotation=Optional[body_type], default=None)  # noqa: UP045 - a runtime type, not an annotation
    )
    parameters = [
        inspect.Parameter("incident_id", positional, annotation=str),
        *([body] if body_required else []),
        inspect.Parameter("runtime", positional, annotation=RuntimeDep),
        inspect.Parameter("caller", positional, annotation=Member),
        *([] if body_required else [body]),
        inspect.Parameter("if_match", positional, annotation=IfMatch, default=None),
    ]
    route.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=JSONResponse
    )
    route.__name__ = f"{action.replace('-', '_')}_route"
    router.post(f"/incidents/{{incident_id}}/{action}", summary=summary)(route)
