"""The severity classifier of product.md §2: the workflow's triage questions turned into rules.

A condition holds only on supplied values; a missing answer never matches, except
``workaround``, which counts only when it is known to exist. The first level whose condition
holds wins, then the ``unsure`` and ``internal_only`` modifiers apply in that order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from warroom.domain.errors import BadInput
from warroom.domain.policy import ClassifierPolicy, Policy
from warroom.domain.types import Severity

CoreImpact = Literal["unavailable", "degraded", "non_core", "cosmetic", "none"]
Vulnerability = Literal["exploitable", "patch_needed"]

CORE_IMPACTS: tuple[str, ...] = ("unavailable", "degraded", "non_core", "cosmetic", "none")
VULNERABILITIES: tuple[str, ...] = ("exploitable", "patch_needed")


@dataclass(frozen=True)
class Answers:
    """What is known about an incident's impact. ``None`` everywhere means "don't know"."""

    production_down: bool | None = None
    data_loss: bool | None = None
    active_breach: bool | None = None
    compliance_violation: bool | None = None
    compliance_risk: bool | None = None
    revenue_critical: bool | None = None
    revenue_loss: bool | None = None
    workaround: bool | None = None
    customer_facing: bool | None = None
    internal_only: bool | None = None
    unsure: bool | None = None
    customers_affected_pct: float | None = None
    error_rate_pct: float | None = None
    slowdown_factor: float | None = None
    core_impact: CoreImpact | None = None
    vulnerability: Vulnerability | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


ANSWER_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Answers))
BOOLEAN_KEYS = frozenset(
    {
        "production_down",
        "data_loss",
        "active_breach",
        "compliance_violation",
        "compliance_risk",
        "revenue_critical",
        "revenue_loss",
        "workaround",
        "customer_facing",
        "internal_only",
        "unsure",
    }
)
PERCENT_KEYS = frozenset({"customers_affected_pct", "error_rate_pct"})
CHOICE_KEYS: dict[str, tuple[str, ...]] = {
    "core_impact": CORE_IMPACTS,
    "vulnerability": VULNERABILITIES,
}


# No answer anyone gives is larger; and past 1e308 an integer is not even a float.
MAX_ANSWER = 10**15


def _check_value(key: str, value: object) -> object:
    if key in BOOLEAN_KEYS:
        if not isinstance(value, bool):
            raise BadInput(f"{key}: expected true or false, got {value!r}")
        return value
    if key in CHOICE_KEYS:
        choices = CHOICE_KEYS[key]
        if value not in choices:
            raise BadInput(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"{key}: expected a number, got {value!r}")
    if abs(value) > MAX_ANSWER or not math.isfinite(value):  # abs first: huge ints overflow
        raise BadInput(f"{key}: expected a number no larger than {MAX_ANSWER:.0e}")
    if key in PERCENT_KEYS and not 0 <= value <= 100:
        raise BadInput(f"{key}: expected a percentage from 0 to 100, got {value!r}")
    if key == "slowdown_factor" and value < 1:
        raise BadInput(f"{key}: expected a factor of at least 1, got {value!r}")
    return float(value)


def parse_answers(data: object) -> Answers:
    """Validate the classifier's JSON input; every error names the offending key."""
    if not isinstance(data, Mapping):
        raise BadInput("classifier input must be a JSON object of answers")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in ANSWER_KEYS:
            raise BadInput(f"{key}: unknown key; known keys are {', '.join(ANSWER_KEYS)}")
        if value is not None:
            values[key] = _check_value(key, value)
    if values.get("customer_facing") is True and values.get("internal_only") is True:
        raise BadInput("customer_facing and internal_only: cannot both be true")
    return Answers(**values)


@dataclass(frozen=True)
class Classification:
    severity: Severity
    reasons: tuple[str, ...]
    declare: bool
    requirements: dict[str, Any] = field(compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "reasons": list(self.reasons),
            "declare": self.declare,
            "requirements": self.requirements,
        }


@dataclass(frozen=True)
class _Rule:
    severity: Severity
    reason: str
    holds: Callable[[Answers, ClassifierPolicy], bool]
    absolute: bool = False


def _at_least(value: float | None, bound: float) -> bool:
    return value is not None and value >= bound


def _between(value: float | None, low: float, high: float) -> bool:
    return value is not None and low <= value < high


def _no_workaround(a: Answers) -> bool:
    return a.workaround is not True


def _degraded_badly(a: Answers, t: ClassifierPolicy) -> bool:
    return a.core_impact == "degraded" and (
        _at_least(a.error_rate_pct, t.error_rate_pct)
        or _at_least(a.slowdown_factor, t.slowdown_factor)
    )


RULES: tuple[_Rule, ...] = (
    _Rule(Severity.SEV0, "production is down", lambda a, t: a.production_down is True, True),
    _Rule(Severity.SEV0, "data loss", lambda a, t: a.data_loss is True, True),
    _Rule(Severity.SEV0, "active security breach", lambda a, t: a.active_breach is True, True),
    _Rule(
        Severity.SEV0,
        "compliance violation",
        lambda a, t: a.compliance_violation is True,
        True,
    ),
    _Rule(
        Severity.SEV0,
        "core functionality unavailable for most customers with no workaround",
        lambda a, t: (
            a.core_impact == "unavailable"
            and _at_least(a.customers_affected_pct, t.sev0_customers_pct)
            and _no_workaround(a)
        ),
    ),
    _Rule(
        Severity.SEV0,
        "revenue-critical function unavailable",
        lambda a, t: a.core_impact == "unavailable" and a.revenue_critical is True,
    ),
    _Rule(
        Severity.SEV1,
        "core functionality unavailable for a significant share of customers with no workaround",
        lambda a, t: (
            a.core_impact == "unavailable"
            and _between(a.customers_affected_pct, t.sev1_customers_pct, t.sev0_customers_pct)
            and _no_workaround(a)
        ),
    ),
    _Rule(
        Severity.SEV1,
        "core functionality unavailable for most customers, with a workaround",
        lambda a, t: (
            a.core_impact == "unavailable"
            and _at_least(a.customers_affected_pct, t.sev0_customers_pct)
            and a.workaround is True
        ),
    ),
    _Rule(
        Severity.SEV1,
        "core functionality badly degraded (error rate or slowdown over threshold)",
        _degraded_badly,
    ),
    _Rule(
        Severity.SEV1,
        "exploitable vulnerability",
        lambda a, t: a.vulnerability == "exploitable",
    ),
    _Rule(Severity.SEV1, "compliance at risk", lambda a, t: a.compliance_risk is True),
    _Rule(Severity.SEV1, "revenue actively being lost", lambda a, t: a.revenue_loss is True),
    _Rule(
        Severity.SEV2,
        "functionality impacted",
        lambda a, t: a.core_impact in ("unavailable", "degraded", "non_core"),
    ),
    _Rule(
        Severity.SEV2,
        "vulnerability needs a patch",
        lambda a, t: a.vulnerability == "patch_needed",
    ),
)


def classify(answers: Answers, policy: Policy) -> Classification:
    thresholds = policy.classifier
    matched = [rule for rule in RULES if rule.holds(answers, thresholds)]
    if matched:
        severity = min((rule.severity for rule in matched), key=lambda s: s.rank)
        reasons = [rule.reason for rule in matched if rule.severity is severity]
    else:
        severity = Severity.SEV3
        reasons = ["no significant impact known (cosmetic, none or nothing known)"]

    if answers.unsure is True:
        reasons.append(f"uncertain: rules gave {severity.value}")
        severity = severity.raised()

    absolute = any(rule.absolute for rule in matched)
    if answers.internal_only is True and severity.rank < 2 and not absolute:
        reasons.append(f"internal only: capped at SEV2 (rules gave {severity.value})")
        severity = Severity.SEV2

    return Classification(
        severity=severity,
        reasons=tuple(reasons),
        declare=severity.is_major or answers.unsure is True,
        requirements=policy.level(severity).requirements(),
    )
