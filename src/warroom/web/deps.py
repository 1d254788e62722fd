"""Dependencies of the API routes: the runtime, and the caller its token names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from warroom.domain.types import Access
from warroom.revocations import REVOCATIONS
from warroom.runtime import Runtime
from warroom.services.tokens import Caller, digest, identify, record_use

BEARER = {"WWW-Authenticate": "Bearer"}


async def get_runtime(request: Request) -> Runtime:
    """async: a trivial dependency must not cost a trip through the thread pool."""
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# Documented in the OpenAPI schema as its bearer scheme: /docs asks for the token once.
BEARER_TOKEN = HTTPBearer(
    auto_error=False, description="An API token: `warroom token create`, shown once."
)


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_TOKEN)],
) -> Caller:
    """async: a token seen in the last seconds is answered from the cache without leaving the
    event loop; only a lookup goes to a thread. The runtime is read off the app, not through
    another dependency: every API request pays for each one."""
    runtime = await get_runtime(request)
    secret = credentials.credentials.strip() if credentials else ""
    if not secret:
        raise HTTPException(401, "an API token is required: Authorization: Bearer <token>", BEARER)
    hashed = digest(secret)
    caller = runtime.callers.get(hashed)
    if caller is None:
        seen = REVOCATIONS.count
        caller = await run_in_threadpool(_look_up, runtime, secret)
        if caller is None:
            raise HTTPException(401, "the API token is unknown or revoked", BEARER)
        runtime.callers.keep(hashed, caller, seen=seen)
    return caller


def _look_up(runtime: Runtime, secret: str) -> Caller | None:
    """Read who the secret belongs to; only when its use is due to be recorded (at most once
    a minute) take a writer's turn for that. An unknown secret never waits for, or holds up,
    the process's writers on SQLite."""
    now = runtime.clock()
    with runtime.reading() as session:
        found = identify(session, secret, now)
    if found is None:
        return None
    caller, due = found
    if due:
        with runtime.writer(), runtime.reading() as session:
            record_use(session, caller.token_id, now)
    return caller


def _article(word: str) -> str:
    """``a member``, ``an admin``."""
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _requiring(needed: Access) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if not caller.access.allows(needed):
            raise HTTPException(
                403, f"this needs {_article(needed.value)} token; yours is {caller.access.value}"
            )
        return caller

    check.needed = needed  # type: ignore[attr-defined] # read by warroom.web.hot_path
    return check


Viewer = Annotated[Caller, Depends(_requiring(Access.VIEWER))]
Member = Annotated[Caller, Depends(_requiring(Access.MEMBER))]
Admin = Annotated[Caller, Depends(_requiring(Access.ADMIN))]
