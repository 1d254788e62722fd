"""The incident routes' plain requests answered without FastAPI's routing and dependency
solving, as ingestion and the public status page are (decision 107).

Declaring, updating, moving and reading an incident are most of what a team's tools send
during an incident, and FastAPI's layers (its routers, one dependency solved after another,
the middleware stack) cost the event loop about a fifth of such a request. This layer serves
the same route functions with the same arguments, for the requests whose every part it can
take as FastAPI would: a JSON body that validates, a token this process already trusts with
enough access. Anything else (no token or one not yet looked up, a body that does not
validate, a form, a query it does not know) goes on to the app unchanged, which answers it
in full, with its own 401, 403 and 422. Errors the route functions raise are answered by the
app's own exception handlers.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Any, Union, get_args, get_origin

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warroom.domain.types import Access
from warroom.runtime import Runtime
from warroom.services.tokens import digest
from warroom.web.deps import get_runtime
from warroom.web.metrics import RouteMetrics
from warroom.web.problems import problem

log = logging.getLogger("warroom.web")

PREFIX = "/api/v1/incidents"
# A body longer than this goes on to the app: these routes take a few fields of text.
LONGEST_BODY = 64 * 1024


@dataclass(frozen=True)
class Hot:
    """One route this layer serves: how to fill each of its function's parameters."""

    route: APIRoute
    access: Access
    caller: str  # the name of the parameter that takes the caller
    body: type[BaseModel] | None
    body_required: bool
    query: tuple[str, ...]  # optional text parameters, by name
    header: tuple[tuple[str, str], ...]  # (parameter, header name)


def _servable(route: APIRoute) -> Hot | None:
    """The route's plan, or ``None`` when it takes anything this layer does not fill exactly
    as FastAPI would (the app then serves it)."""
    dependant = route.dependant
    if (
        route.response_model is not None  # the app serialises what it returns
        or dependant.cookie_params
        or dependant.request_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or len(dependant.body_params) > 1
        or any(field.field_info.annotation is not str for field in dependant.path_params)
    ):
        return None
    access, caller = None, ""
    for sub in dependant.dependencies:
        needed = getattr(sub.call, "needed", None)
        if sub.call is get_runtime and sub.name == "runtime":
            continue
        if isinstance(needed, Access) and sub.name:
            access, caller = needed, sub.name
            continue
        return None
    if access is None:
        return None
    query = []
    for field in dependant.query_params:
        if field.field_info.annotation != (str | None) or field.field_info.default is not None:
            return None
        query.append(field.name)
    header = []
    for field in dependant.header_params:
        if field.field_info.annotation != (str | None) or field.field_info.default is not None:
            return None
        header.append((field.name, field.alias))
    body: type[BaseModel] | None = None
    required = False
    if dependant.body_params:
        field = dependant.body_params[0]
        if field.name != "body":
            return None
        body = _model(field.field_info.annotation)
        if body is None:
            return None
        required = field.field_info.is_required()
    return Hot(route, access, caller, body, required, tuple(query), tuple(header))


def _model(annotation: Any) -> type[BaseModel] | None:
    """A body model, or the model of an optional one."""
    if get_origin(annotation) in (Union, UnionType):
        models = [a for a in get_args(annotation) if a is not type(None)]
        annotation = models[0] if len(models) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


class HotPath:
    """ASGI middleware: the incident routes' plain requests straight to their functions;
    everything else on to the app, its body handed on unread."""

    def __init__(self, app: ASGIApp, *, fastapi: FastAPI, routes: Sequence[Any]) -> None:
        """``routes``: every route of the API, in the order the app tries them, so a route
        this layer serves is chosen only where the app would choose it too."""
        self.app = app
        self.fastapi = fastapi
        self.metrics = RouteMetrics()
        self.table: dict[str, list[tuple[APIRoute, Hot | None]]] = defaultdict(list)
        for route in routes:
            if isinstance(route, APIRoute) and route.path.startswith(PREFIX):
                plan = _servable(route)
                for method in route.methods or ():
                    self.table[method].append((route, plan))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith(PREFIX)
            or scope.get("root_path")
            or scope["method"] not in self.table
        ):
            await self.app(scope, receive, send)
            return
        found = self._match(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        hot, params = found
        started = time.perf_counter()
        body, receive = await _read(scope, receive)
        arguments = self._arguments(hot, scope, params, body) if body is not None else None
        if arguments is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await run_in_threadpool(hot.route.endpoint, **arguments)
            assert isinstance(response, Response)
        except Exception as exc:  # noqa: BLE001 - answered as the app would answer it
            response = await self._handled(request, exc)
        await response(scope, receive, send)
        self.metrics.record(scope["method"], hot.route.path, response.status_code, started)

    def _match(self, scope: Scope) -> tuple[Hot, dict[str, str]] | None:
        for route, plan in self.table[scope["method"]]:
            matched = route.path_regex.match(scope["path"])
            if matched is not None:
                return (plan, matched.groupdict()) if plan is not None else None
        return None

    def _arguments(
        self, hot: Hot, scope: Scope, params: dict[str, str], body: bytes
    ) -> dict[str, Any] | None:
        """The route function's arguments, or ``None`` where the app must answer."""
        runtime: Runtime = self.fastapi.state.runtime
        headers = Headers(scope=scope)
        caller = _trusted(runtime, headers.getlist("authorization"))
        if caller is None or not caller.access.allows(hot.access):
            return None
        arguments: dict[str, Any] = dict(params)
        arguments["runtime"] = runtime
        arguments[hot.caller] = caller
        if hot.query:
            query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
            for name in hot.query:
                if len(query.getlist(name)) > 1:
                    return None
                arguments[name] = query.get(name)
        for name, header in hot.header:
            values = headers.getlist(header)
            if len(values) > 1:
                return None
            arguments[name] = values[0] if values else None
        if hot.body is not None:
            model = _body(hot, headers, body)
            if model is False:
                return None
            arguments["body"] = model
        elif body:
            return None
        return arguments

    async def _handled(self, request: Request, exc: Exception) -> Response:
        """The app's own answer to an error: its handler for the error's class, else a 500
        problem (logged), as the app's outermost layer would give."""
        for kind in type(exc).__mro__:
            handler: Callable[..., Any] | None = self.fastapi.exception_handlers.get(kind)
            if handler is not None:
                answer = handler(request, exc)
                if not isinstance(answer, Response):
                    answer = await answer
                assert isinstance(answer, Response)
                return answer
        log.exception("an API request failed", exc_info=exc)
        return problem(500, "Internal error", "the request failed; nothing is known", "internal")


def _trusted(runtime: Runtime, authorization: list[str]) -> Any:
    """The caller of a bearer token this process trusts already; ``None`` sends the request
    on to the app, which looks the token up (or refuses it)."""
    if len(authorization) != 1:
        return None
    scheme, secret = get_authorization_scheme_param(authorization[0])
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return runtime.callers.get(digest(secret.strip()))


def _body(hot: Hot, headers: Headers, raw: bytes) -> BaseModel | bool | None:
    """The validated body, ``None`` for an optional body left out, ``False`` where the app
    must answer (no JSON, or JSON that does not validate: its 422 says why)."""
    assert hot.body is not None
    if not raw:
        return False if hot.body_required else None
    if headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
        return False  # the app decides what else it reads as JSON
    try:
        return hot.body.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return False


async def _read(scope: Scope, receive: Receive) -> tuple[bytes | None, Receive]:
    """The request body, and a ``receive`` that hands it on again to whoever answers. A body
    past ``LONGEST_BODY``, or one the client stopped sending, is not read whole: ``None``, and
    the app reads it as it comes."""
    chunks: list[bytes] = []
    size = 0
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # the client went away: the app sees it too
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False) or size > LONGEST_BODY:
            break
    complete = messages[-1]["type"] == "http.request" and not messages[-1].get("more_body")
    replay = iter(messages)

    async def again() -> Message:
        message = next(replay, None)
        return message if message is not None else await receive()

    return (b"".join(chunks) if complete else None), again
