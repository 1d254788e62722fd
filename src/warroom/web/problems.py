"""RFC 9457 problem details: every error the API returns, mapped in this one place."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from warroom.domain.errors import (
    BadInput,
    Conflict,
    NotFound,
    Refused,
    Unavailable,
    WarroomError,
)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://warroom.dev/problems/"
RETRY_AFTER_SECONDS = 5


class PreconditionFailed(Exception):
    """The client's If-Match names a version of the incident (or of ``what``) that is no
    longer current."""

    def __init__(self, current: str, what: str = "the incident") -> None:
        super().__init__(current)
        self.current, self.what = current, what


class ProblemResponse(JSONResponse):
    """Problem details in ASCII JSON: a detail that quotes the client's text quotes it
    faithfully even when that text is not valid Unicode (an unpaired surrogate)."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


def problem(
    status: int,
    title: str,
    detail: str,
    kind: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail, **extra}
    return ProblemResponse(body, status_code=status, headers=headers)


def _warroom(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WarroomError)
    return for_error(exc)


def for_error(exc: WarroomError) -> JSONResponse:
    """The problem details a warroom error is answered with, wherever it is caught."""
    if isinstance(exc, Refused):
        return problem(
            409,
            "Refused by a workflow rule",
            exc.message,
            f"rule/{exc.rule}",
            rule=exc.rule,
            hint=exc.hint,
        )
    if isinstance(exc, NotFound):
        return problem(404, "Not found", exc.message, "not-found")
    if isinstance(exc, BadInput):
        return problem(422, "Invalid request", exc.message, "invalid")
    if isinstance(exc, Conflict):
        return problem(409, "Conflicting change", exc.message, "conflict")
    if isinstance(exc, Unavailable):
        return _unavailable(exc.message)
    return problem(400, "Bad request", exc.message, "bad-request")


def _unavailable(detail: str) -> JSONResponse:
    return problem(
        503,
        "Service unavailable",
        detail,
        "unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _operational(_request: Request, exc: Exception) -> JSONResponse:
    return unreachable()


def unreachable() -> JSONResponse:
    return _unavailable("the database is unreachable; nothing was changed: retry shortly")


def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in error["loc"] if p != "body"), "message": error["msg"]}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors)
    return problem(422, "Invalid request", detail, "invalid", errors=errors)


def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kinds = {401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}
    return problem(
        exc.status_code,
        str(exc.detail) if exc.status_code != 404 else "Not found",
        str(exc.detail),
        kinds.get(exc.status_code, "http"),
        headers=dict(exc.headers or {}),
    )


def _precondition(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PreconditionFailed)
    return problem(
        412,
        "Precondition failed",
        f"{exc.what} changed since you read it (If-Match no longer matches): read it again",
        "stale",
        headers={"ETag": exc.current},
    )


def _unstorable(_request: Request, exc: Exception) -> JSONResponse:
    """JSON can carry half of a UTF-16 surrogate pair (``"\\ud800"``); no database stores one.
    The write it reached rolled back."""
    return problem(
        422,
        "Invalid request",
        "the text contains an unpaired surrogate (half of a UTF-16 pair), which cannot be stored",
        "invalid",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(WarroomError, _warroom)
    app.add_exception_handler(OperationalError, _operational)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(PreconditionFailed, _precondition)
    app.add_exception_handler(UnicodeEncodeError, _unstorable)
