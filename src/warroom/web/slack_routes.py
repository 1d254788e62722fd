"""``/slack/commands``, ``/slack/interactions`` and ``/slack/events``: the raw requests
handed to the Slack app, which verifies each with the signing secret."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from warroom.notify.slack import web_client
from warroom.runtime import Runtime
from warroom.web.metrics import NamedRoute

# Slack's own payloads are a few kilobytes; a modal's state a few more.
BODY_LIMIT = 1024 * 1024


class SlackRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._app: object | None = None

    def _slack(self) -> object | None:
        settings = self.runtime.settings
        if settings.slack_signing_secret is None:
            return None
        if self._app is None:
            from warroom.slack.app import SlackApp  # the Slack stack loads only when used

            web = None
            if settings.slack_bot_token:
                # Inside a request Slack gives warroom three seconds: a short timeout.
                web = web_client(
                    settings.slack_bot_token.get_secret_value(), settings.slack_api_url, timeout=2
                )
            self._app = SlackApp(
                self.runtime, web, settings.slack_signing_secret.get_secret_value()
            )
        return self._app

    async def endpoint(self, request: Request) -> Response:
        slack = self._slack()
        if slack is None:
            return JSONResponse(
                {"error": "Slack is not configured here (set WARROOM_SLACK_SIGNING_SECRET)"},
                status_code=404,
            )
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > BODY_LIMIT:
                return JSONResponse({"error": "request too large"}, status_code=413)
        headers = {key: value for key, value in request.headers.items()}
        answer = await run_in_threadpool(slack.handle, body, headers)  # type: ignore[attr-defined]
        media = answer.headers.get("content-type", ["application/json"])
        return Response(
            answer.body,
            status_code=answer.status,
            media_type=media[0] if isinstance(media, list) else str(media),
        )

    def routes(self) -> list[Route]:
        return [
            NamedRoute(f"/slack/{kind}", self.endpoint, methods=["POST"])
            for kind in ("commands", "interactions", "events")
        ]
