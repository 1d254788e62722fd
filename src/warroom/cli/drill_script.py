"""The drill's script: a realistic SEV1 through all nine stages of the workflow on a simulated
clock, using the same services as every other command, so a new user sees what warroom
enforces. ``warroom drill`` (:mod:`warroom.cli.drill`) loads it only when it runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from rich.rule import Rule

from warroom.cli import render
from warroom.cli.runtime import handled, out
from warroom.config import Settings
from warroom.domain.classifier import classify, parse_answers
from warroom.domain.durations import humanize
from warroom.domain.errors import Refused
from warroom.domain.types import MitigationKind, Move, NoteKind, ReportSource, Role, UpdateStatus
from warroom.domain.updates import UpdateText
from warroom.runtime import Runtime
from warroom.services import coordination, declaration, lifecycle
from warroom.services.reading import detail, timeline
from warroom.services.records import Op

T = TypeVar("T")


@dataclass
class SimulatedClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _stage(number: int, name: str) -> None:
    out.print()
    out.print(Rule(f"[bold]{number}. {name}[/]", align="left"))


def _say(text: str) -> None:
    out.print(f"  {text}", markup=False)


def run_drill(keep: bool) -> None:
    """Run the drill on a throwaway database; with ``keep``, keep it and say where it is."""
    with handled():
        directory = Path(tempfile.mkdtemp(prefix="warroom-drill-"))
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=30)
        clock = SimulatedClock(start)
        runtime = Runtime(
            settings=Settings(database_url=f"sqlite:///{directory / 'drill.db'}", user="drill"),
            clock=clock,
        )
        _run(runtime, clock)
        if keep:
            out.print(f"\nThe drill's database: {directory / 'drill.db'}")
        else:
            runtime.engine.dispose()
            for path in directory.iterdir():
                path.unlink()
            directory.rmdir()


def _run(runtime: Runtime, clock: SimulatedClock) -> None:
    def act(by: str, action: Callable[[Op], T], attempted: str = "") -> T:
        return runtime.write(action, by=by, at=None, incident=number or None, attempted=attempted)

    number = 0

    out.print("[bold]warroom drill[/] — a SEV1 on the checkout API, on a simulated clock.")
    out.print("Everything below runs through the same rules as real incidents.")

    _stage(1, "Detection")
    incident = act(
        "uptime-bot",
        lambda op: lifecycle.report(
            op,
            "Checkout API elevated 5xx errors",
            source=ReportSource.SYNTHETIC,
            service_name="checkout",
        ),
    )
    number = incident.id
    _say(f"A synthetic check reports INC-{number}: {incident.title}.")
    clock.advance(minutes=3)
    act("alice", lambda op: lifecycle.acknowledge(op, number))
    _say("alice, on call, acknowledges 3 minutes later (SEV1 target: 5 minutes).")

    _stage(2, "Triage & severity assignment")
    clock.advance(minutes=1)
    answers = {
        "core_impact": "degraded",
        "error_rate_pct": 15,
        "customers_affected_pct": 40,
        "workaround": False,
    }
    result = classify(parse_answers(answers), runtime.policy)
    _say(f"The classifier hears: {answers}")
    _say(f"→ {result.severity.value}: {'; '.join(result.reasons)}")
    act(
        "alice",
        lambda op: lifecycle.triage(op, number, result.severity, reasons=list(result.reasons)),
    )

    _stage(3, "Incident declaration")
    clock.advance(minutes=2)
    incident = act("alice", lambda op: declaration.declare(op, number, ic="alice"))
    _say(f"Declared SEV1 with alice as Incident Commander; channel #{incident.channel_name}.")
    _say("The initial status, the status page (Investigating) and the page to on-call are queued.")

    _stage(4, "Investigation & diagnosis")
    clock.advance(minutes=2)
    act("alice", lambda op: coordination.assign_role(op, number, Role.SME, "bob"))
    act("alice", lambda op: lifecycle.move(op, number, Move.INVESTIGATE, performed_by="bob"))
    _say("bob joins as subject-matter expert and investigates; alice coordinates, hands off.")
    clock.advance(minutes=5)
    act(
        "bob",
        lambda op: coordination.note(
            op, number, NoteKind.CHANGE, "Deploy 2026.11.3 rolled out at detection time"
        ),
    )
    act(
        "bob",
        lambda op: coordination.note(
            op, number, NoteKind.HYPOTHESIS, "The new connection-pool size starves checkout workers"
        ),
    )
    clock.advance(minutes=5)
    update = act(
        "alice",
        lambda op: coordination.post_update(
            op,
            number,
            UpdateText(
                issue="Checkout API returning errors for about 15% of requests",
                impact="Customers in all regions see failed checkouts",
                progress="Suspect deploy 2026.11.3 (connection-pool change)",
                next_steps="Roll back deploy 2026.11.3",
                eta="30 minutes",
            ),
        ),
    )
    _say("alice posts status update #1, due 30 minutes after declaration:")
    for line in update.rendered.splitlines():
        _say(f"    {line}")

    _stage(5, "Mitigation")
    clock.advance(minutes=6)
    act(
        "bob",
        lambda op: lifecycle.mitigate(
            op, number, MitigationKind.ROLLBACK, note="rolled back to 2026.11.2"
        ),
    )
    _say("bob rolls back the deploy: customer impact stops. Mitigated 25 minutes after detection.")
    clock.advance(minutes=10)
    act(
        "alice",
        lambda op: coordination.post_update(
            op,
            number,
            UpdateText(
                issue="Checkout errors stopped after a rollback",
                impact="No customer impact since the rollback",
                progress="Rolled back deploy 2026.11.3",
                next_steps="Fix the pool sizing and redeploy",
            ),
            status=UpdateStatus.IMPLEMENTING_FIX,
        ),
    )
    _say("Update #2: Implementing Fix.")

    _stage(6, "Resolution")
    clock.advance(minutes=25)
    act("bob", lambda op: lifecycle.move(op, number, Move.RESOLVE))
    _say("The fixed release is deployed: the root cause is resolved.")
    act(
        "alice",
        lambda op: coordination.post_update(
            op,
            number,
            UpdateText(
                issue="Checkout errors fixed",
                impact="None since the rollback",
                progress="Fixed release deployed; error rate at baseline",
                next_steps="Monitor for 30 minutes, then close",
            ),
        ),
    )
    _say("Update #3: Monitoring.")

    _stage(7, "Monitoring")
    clock.advance(minutes=5)
    act("alice", lambda op: lifecycle.move(op, number, Move.MONITOR))
    _say("Monitoring starts: warroom will not close the incident for 30 minutes.")
    clock.advance(minutes=10)
    try:
        act("alice", lambda op: lifecycle.close(op, number), attempted="close")
    except Refused as refused:
        _say(f"alice tries to close after 10 minutes — refused by rule {refused.rule}:")
        _say(f"    {refused.message}. {refused.hint}")
        _say(
            "The refusal is on the timeline: premature closure is an anti-pattern warroom reports."
        )
    clock.advance(minutes=15)
    act(
        "alice",
        lambda op: coordination.post_update(
            op,
            number,
            UpdateText(
                issue="Checkout errors fixed",
                impact="None since the rollback",
                progress="Error rate at baseline for 25 minutes",
                next_steps="Close once 30 minutes of monitoring are complete",
            ),
        ),
    )
    _say("Update #4, on time.")

    _stage(8, "Closure")
    clock.advance(minutes=6)
    act("alice", lambda op: lifecycle.close(op, number))
    _say("31 minutes of stable monitoring: alice closes it. Responders are thanked by name,")
    _say("and the post-mortem is due within 48 hours.")

    _stage(9, "Post-mortem")
    clock.advance(hours=26)
    act(
        "alice",
        lambda op: lifecycle.postmortem(
            op, number, "https://wiki.example.test/postmortems/checkout-5xx"
        ),
    )
    _say("The blameless review is done and linked.")

    _summary(runtime, number, clock)


def _summary(runtime: Runtime, number: int, clock: SimulatedClock) -> None:
    from warroom.db.models import Incident

    out.print()
    with runtime.reading() as session:
        incident = session.get(Incident, number)
        assert incident is not None
        view = detail(session, incident, runtime.policy, clock.now)
        rows = timeline(session, number)
    detected = incident.detected_at
    for label, moment in (
        ("MTTA", incident.acknowledged_at),
        ("time to declare", incident.declared_at),
        ("MTTM", incident.mitigated_at),
        ("MTTR", incident.resolved_at),
    ):
        if moment is not None:
            _say(f"{label}: {humanize(moment - detected)}")
    render.timeline_table(f"INC-{number}", rows)
    if view.findings:
        out.print("Anti-patterns found:")
        for finding in view.findings:
            _say(f"• {finding.pattern}: {finding.detail}")
    out.print("\n[bold green]Drill complete:[/] all nine stages, from detection to post-mortem.")
