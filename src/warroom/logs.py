"""Logs for the long-running commands: one JSON object a line when WARROOM_LOG_FORMAT=json,
each carrying the incident it concerns, so a log search for INC-42 finds all of it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        incident = getattr(record, "incident", None)
        if incident is not None:
            entry["incident"] = incident
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        incident = getattr(record, "incident", None)
        prefix = f"[{incident}] " if incident else ""
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"{stamp} {record.levelname.lower():<7} {record.name}: {prefix}{record.getMessage()}"


def configure(fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("warroom")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
