"""E-mail through an SMTP relay, one recipient a message.

The ``Message-ID`` is derived from the delivery's idempotency key, so every retry of one
delivery carries the same id and a receiving system can recognise a repeat.

Only a recipient refused with a 5xx reply (or an address that cannot be one) is permanent:
everything else, including a relay that rejects warroom's own credentials, may be fixed
without the recipient doing anything, so it is worth a retry.
"""

from __future__ import annotations

import functools
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal
from urllib.parse import quote

from warroom.notify import Message, TransportError

# RFC 5322 atext without "%", which quote() uses to escape everything else (so the mapping
# from key to Message-ID stays one-to-one). "." is handled apart: dot-atom allows it only
# between atoms.
_ATEXT_SAFE = "!#$&'*+-/=?^_`{|}~"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    security: Literal["none", "starttls", "tls"] = "none"
    sender: str = "warroom@localhost"
    timeout: float = 10.0


def message_id(idempotency_key: str) -> str:
    """``<key@warroom>`` with the key made a valid RFC 5322 dot-atom, one-to-one."""
    atom = quote(idempotency_key, safe=_ATEXT_SAFE)
    if not atom or any(not part for part in atom.split(".")):
        atom = atom.replace(".", "%2E") or "%"
    return f"<{atom}@warroom>"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _check_address(to: str) -> str:
    address = to.strip()
    local, at, domain = address.partition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in domain
        or any(ch.isspace() or ch in "<>,;" for ch in address)
    ):
        raise TransportError(f"not an e-mail address: {to!r}", permanent=True)
    return address


def build(settings: SmtpSettings, to: str, message: Message) -> EmailMessage:
    return compose(
        settings,
        to,
        subject=message.subject,
        text=message.text,
        idempotency_key=message.idempotency_key,
        headers={"X-Warroom-Incident": _one_line(message.incident)},
    )


def compose(
    settings: SmtpSettings,
    to: str,
    *,
    subject: str,
    text: str,
    idempotency_key: str,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    email = EmailMessage()
    email["Message-ID"] = message_id(idempotency_key)
    email["Date"] = formatdate(usegmt=True)
    email["From"] = settings.sender
    email["To"] = to
    email["Subject"] = _one_line(subject)
    for name, value in (headers or {}).items():
        email[name] = value
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(text, subtype="plain", charset="utf-8")
    return email


@functools.cache
def greeting_name() -> str:
    """The name warroom greets SMTP servers with. smtplib looks it up (a DNS round trip) on
    every connection unless told; a page should not wait for that."""
    return socket.getfqdn()


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "tls":
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            local_hostname=greeting_name(),
            timeout=settings.timeout,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(
        settings.host, settings.port, local_hostname=greeting_name(), timeout=settings.timeout
    )


def _deliver(settings: SmtpSettings, address: str, email: EmailMessage) -> None:
    with _connect(settings) as smtp:
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.username is not None:
            smtp.login(settings.username, settings.password or "")
        refused = smtp.send_message(email, from_addr=settings.sender, to_addrs=[address])
    if refused:  # only when some of several recipients were refused; kept for safety
        code, reply = next(iter(refused.values()))
        raise smtplib.SMTPRecipientsRefused({address: (code, reply)})


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {_one_line(text)}"[:300]


def send_email(settings: SmtpSettings, to: str, message: Message) -> None:
    address = _check_address(to)
    send_composed(settings, address, build(settings, address, message))


def send_plain(
    settings: SmtpSettings,
    to: str,
    *,
    subject: str,
    text: str,
    idempotency_key: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """One plain-text message that is not a page (customers and subscribers)."""
    address = _check_address(to)
    email = compose(
        settings,
        address,
        subject=subject,
        text=text,
        idempotency_key=idempotency_key,
        headers=headers,
    )
    send_composed(settings, address, email)


def send_composed(settings: SmtpSettings, address: str, email: EmailMessage) -> None:
    where = f"SMTP relay {settings.host}:{settings.port}"
    try:
        _deliver(settings, address, email)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        permanent = 500 <= code < 600
        kind = "refused" if permanent else "deferred"
        raise TransportError(
            f"{where} {kind} recipient {address}: {_reply(code, reply)}", permanent=permanent
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise TransportError(
            f"{where} rejected warroom's SMTP credentials ({_reply(exc.smtp_code, exc.smtp_error)})"
            ": fix warroom's SMTP configuration, the recipient is not at fault",
            permanent=False,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise TransportError(
            f"{where} does not support what warroom's SMTP configuration asks for ({exc}): "
            "fix warroom's SMTP configuration, the recipient is not at fault",
            permanent=False,
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise TransportError(
            f"{where} refused warroom's sender address {settings.sender}: "
            f"{_reply(exc.smtp_code, exc.smtp_error)}",
            permanent=False,
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise TransportError(
            f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)}", permanent=False
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        # Refused or timed-out connections, disconnects, TLS failures, unresolvable host.
        raise TransportError(
            f"{where} unreachable: {type(exc).__name__}: {exc}", permanent=False
        ) from None
