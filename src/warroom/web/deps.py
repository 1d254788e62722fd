"""Dependencies of the API routes: the runtime, and the caller its token names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from warroom.domain.types import Access
from warroom.runtime import Runtime
from warroom.services.tokens import Caller, authenticate

BEARER = {"WWW-Authenticate": "Bearer"}


async def get_runtime(request: Request) -> Runtime:
    """async: a trivial dependency must not cost a trip through the thread pool."""
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_caller(
    runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> Caller:
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(401, "an API token is required: Authorization: Bearer <token>", BEARER)
    with runtime.reading() as session:
        caller = authenticate(session, secret.strip(), runtime.clock())
    if caller is None:
        raise HTTPException(401, "the API token is unknown or revoked", BEARER)
    return caller


def _requiring(needed: Access) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if not caller.access.allows(needed):
            raise HTTPException(
                403, f"this needs a {needed.value} token; yours is {caller.access.value}"
            )
        return caller

    return check


Viewer = Annotated[Caller, Depends(_requiring(Access.VIEWER))]
Member = Annotated[Caller, Depends(_requiring(Access.MEMBER))]
Admin = Annotated[Caller, Depends(_requiring(Access.ADMIN))]
