"""``warroom classify``: the workflow's triage questions (product.md §2).

Answers come from flags named after the JSON keys, else from a questionnaire when stdin is
a terminal, else from one JSON object on stdin.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.prompt import Prompt

from warroom.cli import render
from warroom.cli.common import client
from warroom.cli.runtime import handled, out
from warroom.domain.classifier import (
    CORE_IMPACTS,
    VULNERABILITIES,
    Answers,
    parse_answers,
)
from warroom.domain.errors import BadInput

DONT_KNOW = "?"


def _flag(name: str, help_text: str) -> Any:
    kebab = name.replace("_", "-")
    return typer.Option(f"--{kebab}/--no-{kebab}", help=help_text, show_default=False)


def classify_cmd(
    production_down: Annotated[
        bool | None, _flag("production_down", "Production is completely down.")
    ] = None,
    data_loss: Annotated[bool | None, _flag("data_loss", "Data was lost.")] = None,
    active_breach: Annotated[
        bool | None, _flag("active_breach", "A security breach is under way.")
    ] = None,
    compliance_violation: Annotated[
        bool | None, _flag("compliance_violation", "A compliance obligation is violated.")
    ] = None,
    compliance_risk: Annotated[
        bool | None, _flag("compliance_risk", "A compliance obligation is at risk.")
    ] = None,
    revenue_critical: Annotated[
        bool | None,
        _flag("revenue_critical", "The impacted function is revenue-critical (e.g. payments)."),
    ] = None,
    revenue_loss: Annotated[
        bool | None, _flag("revenue_loss", "Revenue is actively being lost.")
    ] = None,
    workaround: Annotated[bool | None, _flag("workaround", "A workaround exists.")] = None,
    customer_facing: Annotated[
        bool | None, _flag("customer_facing", "Customers see the problem.")
    ] = None,
    internal_only: Annotated[
        bool | None, _flag("internal_only", "Only internal users are affected.")
    ] = None,
    unsure: Annotated[
        bool | None, _flag("unsure", "You are unsure of the impact (raises one level).")
    ] = None,
    customers_affected_pct: Annotated[
        float | None,
        typer.Option("--customers-affected-pct", help="Share of customers affected, 0-100."),
    ] = None,
    error_rate_pct: Annotated[
        float | None, typer.Option("--error-rate-pct", help="Error rate, 0-100.")
    ] = None,
    slowdown_factor: Annotated[
        float | None, typer.Option("--slowdown-factor", help="How many times slower, at least 1.")
    ] = None,
    core_impact: Annotated[
        str | None,
        typer.Option("--core-impact", help="unavailable, degraded, non_core, cosmetic or none."),
    ] = None,
    vulnerability: Annotated[
        str | None, typer.Option("--vulnerability", help="exploitable or patch_needed.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Classify severity from the workflow's triage questions."""
    given = {
        key: value for key, value in locals().items() if key != "as_json" and value is not None
    }
    with handled():
        if given:
            answers = parse_answers(given)
        elif sys.stdin.isatty():
            answers = questionnaire()
        else:
            answers = parse_answers(_read_json_stdin())
        result = client().post("/classify", answers.to_json())  # the server's policy decides
        if as_json:
            render.print_json(result)
        else:
            render.classification(result)


def _read_json_stdin() -> object:
    raw = sys.stdin.read()
    if not raw.strip():
        raise BadInput("no answers: give flags (see --help), or one JSON object on stdin")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadInput(f"stdin is not JSON: {exc}") from None


def _yes_no(question: str) -> bool | None:
    answer = Prompt.ask(
        f"{question} [y/n/?]", choices=["y", "n", DONT_KNOW], show_choices=False, console=out
    )
    return None if answer == DONT_KNOW else answer == "y"


def _number(question: str, low: float, high: float | None) -> float | None:
    while True:
        answer = Prompt.ask(f"{question} (or ? if you don't know)", console=out).strip()
        if answer == DONT_KNOW:
            return None
        try:
            value = float(answer.rstrip("%x×"))
        except ValueError:
            out.print(f"  please answer with a number, or {DONT_KNOW}")
            continue
        if value >= low and (high is None or value <= high):
            return value
        out.print(
            f"  please answer between {low:g} and {high:g}"
            if high
            else f"  please answer at least {low:g}"
        )


def _choice(question: str, choices: tuple[str, ...]) -> str | None:
    answer = Prompt.ask(question, choices=[*choices, DONT_KNOW], console=out)
    return None if answer == DONT_KNOW else answer


def questionnaire() -> Answers:
    """The five questions of the workflow's triage step, with follow-ups where needed."""
    out.print("[bold]Triage[/] — answer ? to any question you cannot answer yet.")
    data: dict[str, object] = {}
    data["production_down"] = _yes_no("1. Is production completely down?")
    data["customers_affected_pct"] = _number("2. What percentage of customers is affected?", 0, 100)
    core = _yes_no("3. Is core functionality impacted?")
    if core is True:
        data["core_impact"] = _choice("   How is it impacted?", ("unavailable", "degraded"))
    elif core is False:
        data["core_impact"] = _choice(
            "   What is impacted instead?", ("non_core", "cosmetic", "none")
        )
    if data.get("core_impact") == "degraded":
        data["error_rate_pct"] = _number("   What is the error rate (%)?", 0, 100)
        data["slowdown_factor"] = _number("   How many times slower than normal?", 1, None)
    data["workaround"] = _yes_no("4. Is there a workaround?")
    data["revenue_loss"] = _yes_no("5. Is revenue actively being lost?")
    if data.get("core_impact") == "unavailable":
        data["revenue_critical"] = _yes_no(
            "   Is the unavailable function revenue-critical (e.g. payments)?"
        )
    data["active_breach"] = _yes_no("Is this a security breach in progress?")
    if data["active_breach"] is not True:
        data["vulnerability"] = _choice(
            "Is a vulnerability involved?", ("exploitable", "patch_needed", "no")
        )
        if data["vulnerability"] == "no":
            data["vulnerability"] = None
    data["compliance_violation"] = _yes_no("Is a compliance obligation violated?")
    if data["compliance_violation"] is not True:
        data["compliance_risk"] = _yes_no("Is a compliance obligation at risk?")
    data["internal_only"] = _yes_no("Are only internal users affected?")
    if data["internal_only"] is not True:
        data["customer_facing"] = _yes_no("Do customers see it?")
    data["unsure"] = _yes_no("Are you unsure about the impact?")
    return parse_answers({k: v for k, v in data.items() if v is not None})


def register(app: typer.Typer) -> None:
    app.command("classify")(classify_cmd)


__all__ = ["CORE_IMPACTS", "VULNERABILITIES", "questionnaire", "register"]
