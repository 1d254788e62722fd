"""``warroom classify`` asks the workflow's triage questions when stdin is a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from tests.e2e.test_cli import BIN

ANSWERS = [
    "n",  # 1. production completely down?
    "40",  # 2. percentage of customers affected
    "y",  # 3. core functionality impacted?
    "degraded",  # how?
    "15",  # error rate
    "?",  # slowdown: don't know
    "n",  # 4. workaround?
    "?",  # 5. revenue being lost: don't know
    "n",  # security breach?
    "no",  # vulnerability?
    "n",  # compliance violated?
    "n",  # compliance at risk?
    "n",  # internal only?
    "y",  # customers see it?
    "n",  # unsure?
]


def test_it_asks_the_triage_questions_in_a_terminal(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    process = subprocess.Popen(
        [str(BIN), "classify", "--json"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=tmp_path,
        env=environment,
    )
    os.close(terminal)
    os.write(controller, ("\n".join(ANSWERS) + "\n").encode())
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=10)
    os.close(controller)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "Is production completely down?" in text
    assert "What percentage of customers is affected?" in text
    assert "What is the error rate" in text
    assert '"severity": "SEV1"' in text
    assert "core functionality badly degraded" in text
