"""Admin routes: API tokens and outbound webhooks, as ``warroom token`` and ``warroom webhook``
manage them. Secrets are in the answer that creates them, and never again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import ConfigDict, Field

from warroom.domain.types import Access, WebhookAudience
from warroom.services import tokens, webhooks
from warroom.services.records import Op
from warroom.web.deps import Admin, RuntimeDep
from warroom.web.writes import Input, flushed

router = APIRouter(prefix="/api/v1")
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class TokenBody(Input):
    model_config = ConfigDict(extra="forbid")

    person: str = Field(description="Whose token it is: their handle.")
    access: Access = Access.MEMBER
    name: str = Field("api", description="What the token is for.")


@router.post("/tokens", status_code=201, summary="Create a token (its secret is shown once)")
def create_token(body: TokenBody, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    def create(op: Op) -> dict[str, Any]:
        token, secret = tokens.create(op, holder=body.person, access=body.access, name=body.name)
        return tokens.row(flushed(op, token)) | {"token": secret}

    # Answered from the transaction that stored it: the secret is never lost to a second one.
    return runtime.write(create, by=caller.handle, at=None)


@router.get("/tokens", summary="List tokens (never their secrets)")
def list_tokens(runtime: RuntimeDep, _caller: Admin) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        return [tokens.row(token) for token in tokens.listing(session)]


@router.delete("/tokens/{token_id}", summary="Revoke a token at once")
def revoke_token(token_id: RowId, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    return runtime.write(
        lambda op: tokens.row(flushed(op, tokens.revoke(op, token_id))), by=caller.handle, at=None
    )


class WebhookBody(Input):
    model_config = ConfigDict(extra="forbid")

    url: str
    secret: str | None = Field(None, description="The signing secret; generated if absent.")
    audience: WebhookAudience = WebhookAudience.EVENTS


@router.post("/webhooks", status_code=201, summary="Add a webhook (its secret is shown once)")
def add_webhook(body: WebhookBody, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    def add(op: Op) -> dict[str, Any]:
        hook = webhooks.add(op, body.url, body.secret, body.audience)
        return webhooks.row(hook) | {"secret": hook.secret}

    # Answered from the transaction that stored it, like every write of this module.
    return runtime.write(add, by=caller.handle, at=None)


@router.get("/webhooks", summary="List webhooks and whether they are active")
def list_webhooks(runtime: RuntimeDep, _caller: Admin) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        return [webhooks.row(hook) for hook in webhooks.listing(session)]


@router.delete("/webhooks/{webhook_id}", summary="Stop delivering to a webhook")
def remove_webhook(webhook_id: RowId, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    return runtime.write(
        lambda op: webhooks.row(flushed(op, webhooks.remove(op, webhook_id))),
        by=caller.handle,
        at=None,
    )


@router.post(
    "/webhooks/{webhook_id}/enable",
    summary="Deliver to a disabled or removed webhook again (from the next event on)",
)
def enable_webhook(webhook_id: RowId, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    return runtime.write(
        lambda op: webhooks.row(flushed(op, webhooks.enable(op, webhook_id))),
        by=caller.handle,
        at=None,
    )
