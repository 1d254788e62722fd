"""Settings from ``WARROOM_*`` environment variables; static policy from ``warroom.toml``."""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from warroom.domain.errors import BadInput
from warroom.domain.policy import DEFAULT_POLICY, Policy

POLICY_FILE = "warroom.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARROOM_", extra="ignore")

    database_url: str | None = None
    # WARROOM_SERVER and WARROOM_TOKEN: run the CLI against a warroom server instead of a
    # local database.
    server: str | None = None
    token: SecretStr | None = None
    user: str | None = None
    config: Path | None = None  # WARROOM_CONFIG: where warroom.toml is, default the working dir
    # Tests only: read "now" from this file (an ISO 8601 instant). Refused unless
    # WARROOM_ENV=test, so a production process can never run on a made-up clock.
    test_clock_file: Path | None = None
    env: str = "production"
    log_format: Literal["text", "json"] = "text"  # WARROOM_LOG_FORMAT, for serve and worker
    # How long a server process trusts an API token or integration key it has seen before it
    # looks it up again (decisions 51, 96, 105); 0 looks up on every request.
    credential_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    # Where people reach this server: the base of acknowledgement links in pages.
    public_url: str = "http://127.0.0.1:8000"
    # Paging transports. E-mail needs an SMTP relay; the others are off until configured.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_from: str = "warroom@localhost"
    slack_bot_token: SecretStr | None = None
    slack_api_url: str | None = None  # a Slack-compatible API base (…/api/), e.g. a proxy
    # The Slack app's signing secret: requests to /slack/* are verified with it.
    slack_signing_secret: SecretStr | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    opsgenie_api_url: str = "https://api.opsgenie.com"
    # The public status page: how long a node serves its rendered page before asking the
    # database whether it changed, and a directory the worker keeps a static copy in.
    status_cache_seconds: float = Field(default=1.0, ge=0, le=300)
    status_export_dir: Path | None = None

    def actor(self) -> str:
        return self.user or os.environ.get("USER") or getpass.getuser()

    def clock_file(self) -> Path | None:
        """The file a test moves the clock with (WARROOM_TEST_CLOCK_FILE): refused outside
        tests, so a production process always runs on the system clock."""
        if self.test_clock_file is not None and self.env != "test":
            raise BadInput(
                "WARROOM_TEST_CLOCK_FILE is for tests only and needs WARROOM_ENV=test; "
                "a production process always runs on the system clock"
            )
        return self.test_clock_file

    def policy_path(self) -> Path:
        if self.config is not None and not self.config.exists():
            raise BadInput(f"WARROOM_CONFIG names {self.config}, which does not exist")
        return self.config or Path.cwd() / POLICY_FILE


def load_settings() -> Settings:
    """The ``WARROOM_*`` settings; a value that does not fit is :class:`BadInput` naming the
    variable, not a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"WARROOM_{str(error['loc'][0] if error['loc'] else '').upper()}: {error['msg']} "
            f"(it is {error['input']!r})"
            for error in exc.errors()
        ]
        raise BadInput("; ".join(problems)) from None


def load_policy(path: Path) -> Policy:
    """Read ``warroom.toml`` over the defaults. A missing file means the defaults."""
    if not path.exists():
        return DEFAULT_POLICY
    try:
        overrides = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read: {exc.strerror}") from None
    merged = _deep_merge(DEFAULT_POLICY.model_dump(mode="json"), overrides)
    try:
        return Policy.model_validate(merged)
    except ValidationError as exc:
        raise BadInput(f"{path}: {_describe(exc)}") from None


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key {key}")
        elif error["type"] == "enum" and len(error["loc"]) == 2 and error["loc"][0] == "severity":
            problems.append(f"unknown severity level {error['loc'][1]} (use SEV0-SEV3)")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{key}: {message} (got {error.get('input')!r})")
    return "; ".join(problems)
