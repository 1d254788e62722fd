"""Outbound transports. Each says whether a failure is permanent or worth a retry."""


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
