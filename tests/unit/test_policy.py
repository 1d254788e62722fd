"""warroom.toml: absent means the defaults of product.md §1; mistakes name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from warroom.config import load_policy
from warroom.domain.durations import format_duration, parse_duration
from warroom.domain.errors import BadInput
from warroom.domain.policy import DEFAULT_POLICY
from warroom.domain.types import Severity


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "warroom.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_it_uses_the_defaults_without_a_file(tmp_path: Path) -> None:
    policy = load_policy(tmp_path / "warroom.toml")
    assert policy == DEFAULT_POLICY
    assert policy.level(Severity.SEV1).acknowledge_within == timedelta(minutes=5)
    assert policy.level(Severity.SEV0).update_cadence == timedelta(minutes=15)
    assert policy.lifecycle.monitoring_window == timedelta(minutes=30)


def test_it_overrides_only_what_the_file_says(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            '[severity.SEV1]\nupdate_cadence = "20m"\n[lifecycle]\nmonitoring_window = "1h"\n'
            "[classifier]\nerror_rate_pct = 2\n",
        )
    )
    assert policy.level(Severity.SEV1).update_cadence == timedelta(minutes=20)
    assert policy.level(Severity.SEV1).acknowledge_within == timedelta(minutes=5)
    assert policy.lifecycle.monitoring_window == timedelta(hours=1)
    assert policy.classifier.error_rate_pct == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[lifecycle]\nmonitoring_windw = "30m"\n', "unknown key lifecycle.monitoring_windw"),
        (
            '[severity.SEV1]\nacknowledge_within = "5 minutes"\n',
            "severity.SEV1.acknowledge_within: expected a duration like 90s, 15m or 4h",
        ),
        ('[severity.SEV4]\nacknowledge_within = "5m"\n', "SEV4"),
        ("[classifier]\nerror_rate_pct = 150\n", "classifier.error_rate_pct"),
        ("[paging\n", "not valid TOML"),
    ],
)
def test_it_names_the_key_of_a_bad_setting(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(BadInput, match=message.replace(".", r"\.")):
        load_policy(write(tmp_path, body))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("4h", 14400), ("2d", 172800), ("1h30m", 5400), (" 5M ", 300)],
)
def test_it_reads_durations_as_people_write_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5 minutes", "-5m", "1.5h"])
def test_it_refuses_durations_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["366d", "99999999999999999999m", "9000h"])
def test_it_refuses_durations_longer_than_a_year(text: str) -> None:
    with pytest.raises(ValueError, match="365d"):
        parse_duration(text)


def test_it_writes_durations_back_in_the_same_form() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (90, 900, 86400, 5400)] == [
        "1m30s",
        "15m",
        "24h",
        "1h30m",
    ]
