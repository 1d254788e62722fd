"""E-mail addresses as warroom takes them, wherever one is given (a subscriber, a person's
contact): one plain-ASCII ``local@domain.tld`` that an SMTP server can be handed as is."""

from __future__ import annotations

from warroom.domain.errors import BadInput

LONGEST_ADDRESS = 320
# Characters an address may hold only quoted, and warroom takes none quoted.
_SPECIALS = frozenset('<>,;:"()[]\\@')


def check_email(text: str) -> str:
    """The address, stripped of surrounding space, or ``BadInput`` saying what is wrong."""
    address = text.strip()
    if not address.isascii():
        raise BadInput(
            f"{address!r} is not an address warroom can send to: use plain ASCII "
            "(internationalised addresses are not supported yet)"
        )
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or len(address) > LONGEST_ADDRESS
        or any(c in _SPECIALS for c in local + domain)
        or any(c.isspace() or not c.isprintable() for c in address)
    ):
        raise BadInput(f"{address!r} is not an e-mail address")
    return address
