"""How long a ``warroom`` command takes from the shell, start to exit: what a person at a
terminal waits for, and what the end-to-end tests, which run the CLI as a process hundreds of
times, spend most of their time on.

Commands, each run as a fresh process:

- ``--help``;
- ``list`` sent to a server (``WARROOM_SERVER``): nothing listens at the address, so the
  figure is the CLI's own start and its exit 4, not a server's answer;
- ``list`` and ``show INC-1`` on a local SQLite database holding one incident (the API app
  runs in-process, as in local mode).

With ``--source DIR`` (repeatable) each command runs once per source tree per round, the trees
taking turns (``PYTHONPATH=DIR/src``), so a slow moment of the shared machine falls on all of
them alike. Without it, the installed warroom is measured.

    .venv/bin/python bench/cli_startup.py --rounds 5
    .venv/bin/python bench/cli_startup.py --rounds 5 --source <a worktree of the old commit> \\
        --source .

Loopback only: the address the remote command is sent to is a free port on 127.0.0.1. Every
run is bounded in count and each command in time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "warroom"
TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def timed(args: list[str], env: dict[str, str], cwd: Path, expect: int) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != expect:
        raise SystemExit(f"warroom {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--source", action="append", type=Path, default=[])
    args = parser.parse_args()
    sources: list[Path | None] = [s.resolve() for s in args.source] or [None]

    base = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    base.update({"WARROOM_USER": "alice", "COLUMNS": "120"})
    with tempfile.TemporaryDirectory(prefix="warroom-cli-bench-") as scratch:
        cwd = Path(scratch)
        local = {**base, "WARROOM_DATABASE_URL": f"sqlite:///{cwd / 'warroom.db'}"}
        remote = {
            **base,
            "WARROOM_SERVER": f"http://127.0.0.1:{free_port()}",
            "WARROOM_TOKEN": "wr_bench",
        }
        commands = [
            ("--help", ["--help"], base, 0),
            ("list (to a server)", ["list"], remote, 4),
            ("list (local)", ["list"], local, 0),
            ("show (local)", ["show", "INC-1"], local, 0),
        ]
        timed(["declare", "SEV2", "Checkout is slow"], local, cwd, 0)
        figures: dict[tuple[str, Path | None], list[float]] = {}
        for _ in range(args.rounds):
            for name, command, env, expect in commands:
                for source in sources:
                    run_env = dict(env)
                    if source is not None:
                        run_env["PYTHONPATH"] = str(source / "src")
                    spent = timed(command, run_env, cwd, expect)
                    figures.setdefault((name, source), []).append(spent)
    for name, *_ in commands:
        for source in sources:
            each = figures[(name, source)]
            where = f"  [{source}]" if source is not None else ""
            print(
                f"{name:<20} median {statistics.median(each):5.2f} s  "
                f"(rounds: {', '.join(f'{v:.2f}' for v in each)}){where}"
            )


if __name__ == "__main__":
    main()
