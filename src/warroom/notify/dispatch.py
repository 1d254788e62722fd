"""Which transport carries a page to a contact method, configured from ``WARROOM_*`` settings.

Each transport is one small module with one send function raising
:class:`~warroom.notify.TransportError`; this module only picks one. A transport that is not
configured fails for good (``permanent``) without blaming the address: the page moves on to
the person's other methods and to the next tier instead of waiting on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient

from warroom.config import Settings
from warroom.domain.paging import ContactKind
from warroom.notify import Message, TransportError, email, http
from warroom.notify.email import SmtpSettings, send_email
from warroom.notify.opsgenie import send_opsgenie
from warroom.notify.pagerduty import send_pagerduty
from warroom.notify.slack import send_slack_dm
from warroom.notify.slack import web_client as slack_jobs_client
from warroom.notify.webhook import send as send_webhook


class NotConfigured(TransportError):
    """The transport itself is missing its settings: not the address's fault."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class Transports:
    public_url: str
    smtp: SmtpSettings | None = None
    slack_token: str | None = None
    slack_url: str | None = None
    # warroom's Slack app answers buttons (its signing secret is set): pages carry an
    # Acknowledge button it handles, instead of a link.
    slack_interactive: bool = False
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    opsgenie_url: str = "https://api.opsgenie.com"

    @classmethod
    def from_settings(cls, settings: Settings) -> Transports:
        smtp = None
        if settings.smtp_host:
            smtp = SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=(
                    settings.smtp_password.get_secret_value() if settings.smtp_password else None
                ),
                security=settings.smtp_security,
                sender=settings.smtp_from,
            )
        return cls(
            public_url=settings.public_url.rstrip("/"),
            smtp=smtp,
            slack_token=(
                settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
            ),
            slack_url=settings.slack_api_url,
            slack_interactive=settings.slack_signing_secret is not None,
            pagerduty_url=settings.pagerduty_events_url,
            opsgenie_url=settings.opsgenie_api_url.rstrip("/"),
        )

    def slack_client(self) -> WebClient:
        """The Web API client the Slack app's work goes through (retries are the outbox's)."""
        assert self.slack_token is not None
        return slack_jobs_client(self.slack_token, self.slack_url)

    def warm(self) -> None:
        """Make what every send needs once, before the first page waits for it."""
        http.client()
        if self.smtp is not None:
            email.greeting_name()

    def send(
        self,
        kind: ContactKind,
        address: str,
        message: Message,
        *,
        webhook_secret: str,
        now: datetime,
    ) -> None:
        if kind is ContactKind.EMAIL:
            if self.smtp is None:
                raise NotConfigured("e-mail is not configured (set WARROOM_SMTP_HOST)")
            send_email(self.smtp, address, message)
        elif kind is ContactKind.SLACK:
            if self.slack_token is None:
                raise NotConfigured("Slack is not configured (set WARROOM_SLACK_BOT_TOKEN)")
            send_slack_dm(
                self.slack_token,
                address,
                message,
                base_url=self.slack_url,
                interactive=self.slack_interactive,
            )
        elif kind is ContactKind.WEBHOOK:
            send_webhook(
                address,
                webhook_secret,
                delivery_id=message.idempotency_key,
                payload=webhook_payload(message),
                now=now,
            )
        elif kind is ContactKind.PAGERDUTY:
            send_pagerduty(address, message, url=self.pagerduty_url)
        else:
            send_opsgenie(address, message, base_url=self.opsgenie_url)


def webhook_payload(message: Message) -> dict[str, object]:
    return {
        "type": f"page.{message.event}",
        "incident": message.incident,
        "title": message.title,
        "severity": message.severity,
        "subject": message.subject,
        "text": message.text,
        "ack_url": message.ack_url,
        "incident_url": message.incident_url,
        "page": message.dedup_key,
        **dict(message.details),
    }
