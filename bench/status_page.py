"""The public status surface under load: warroom's dynamic ``/api/v2/summary.json`` and
``/status`` beside nginx serving the static export of the same content, in one run.

The content is a simulated outage: 50 components, and an active SEV0 with 20 public
updates. warroom runs as ``warroom serve --no-worker --workers N``; nginx serves the
directory ``warroom status export`` wrote, with N worker processes. The load generator is
``wrk`` (Debian), closed loop, ``--connections`` connections for ``--seconds`` per
measurement; the two servers alternate, each measured ``--rounds`` times.

With ``--database postgresql`` the run ends with an outage: warroom reaches PostgreSQL
through a TCP proxy the benchmark cuts while wrk keeps asking for ``/status``; every answer
must still be a 200.

    .venv/bin/python bench/status_page.py --database sqlite --rounds 5

Loopback only. Every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from api_latency import drop, free_port, fresh_database, wait_ready
from tests.fakes import Proxy

BIN = Path(sys.executable).parent / "warroom"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk")
COMPONENTS = 50
UPDATES = 20

NGINX_CONF = """
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    types {{ text/html html; application/json json; application/atom+xml atom;
             application/rss+xml rss; }}
    server {{
        listen 127.0.0.1:{port};
        root {site};
        location = /status {{ try_files /status/index.html =404; }}
        location / {{ add_header Access-Control-Allow-Origin *; }}
    }}
}}
"""


def prepare(url: str, scratch: Path) -> dict[str, str]:
    """The outage, written straight through warroom's services (faster than 100 commands)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
        "WARROOM_DATABASE_URL": url,
        "WARROOM_USER": "bench",
        "WARROOM_PUBLIC_URL": "http://status.bench.test",
    }
    script = f"""
from warroom.config import Settings
from warroom.domain.types import Severity
from warroom.domain.updates import UpdateText
from warroom.runtime import Runtime
from warroom.services import coordination, declaration, records, statuspage

runtime = Runtime(settings=Settings(database_url={url!r}, user="bench"))
for n in range(1, {COMPONENTS} + 1):
    runtime.write(lambda op: records.service(op, f"service-{{n}}"), by="bench", at=None)
    runtime.write(
        lambda op: statuspage.create_component(
            op, f"Component {{n}}", services=[f"service-{{n}}"], description="Part of the product"
        ),
        by="bench",
        at=None,
    )
number = runtime.write(
    lambda op: declaration.declare_new(op, Severity.SEV0, "Outage", service_name="service-1"),
    by="bench",
    at=None,
).id
for n in range(1, {UPDATES}):
    runtime.write(
        lambda op: coordination.post_update(
            op,
            number,
            UpdateText("x", "x", "x", "x"),
            public=True,
            public_text=f"Update {{n}}: we are still working on restoring service for every "
            "customer; card payments and sign-ins may fail meanwhile.",
        ),
        by="bench",
        at=None,
    )
"""
    subprocess.run([sys.executable, "-c", script], cwd=scratch, env=env, check=True, timeout=600)
    return env


@contextmanager
def warroom(env: dict[str, str], scratch: Path, workers: int) -> Iterator[int]:
    port = free_port()
    with (scratch / "serve.log").open("w") as out:
        process = subprocess.Popen(
            [str(BIN), "serve", "--no-worker", "--workers", str(workers), "--port", str(port)],
            cwd=scratch,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def nginx(site: Path, scratch: Path, workers: int) -> Iterator[int]:
    port = free_port()
    root = scratch / "nginx"
    root.mkdir(exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, root=root, port=port, site=site))
    process = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(root), "-e", str(root / "nginx-error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/v2/summary.json")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    assert WRK is not None
    done = subprocess.run(
        [WRK, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    text = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
    assert p99 is not None, text
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {
        "rate": rate,
        "p99_ms": float(p99.group(1)) * scale,
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="processes of each server")
    args = parser.parse_args()
    if WRK is None or not Path(NGINX).exists():
        raise SystemExit("needs wrk and nginx: apt-get install wrk nginx")
    scratch = Path(tempfile.mkdtemp(prefix="warroom-status-bench-"))
    scratch.chmod(0o755)  # nginx's workers run as another user
    url, name = fresh_database(args.database, scratch)
    try:
        env = prepare(url, scratch)
        site = scratch / "site"
        subprocess.run([str(BIN), "status", "export", str(site)], cwd=scratch, env=env, check=True)
        results: dict[str, list[dict[str, float]]] = {}
        paths = {"summary": "/api/v2/summary.json", "page": "/status"}
        with (
            warroom(env, scratch, args.workers) as w_port,
            nginx(site, scratch, args.workers) as n_port,
        ):
            for path in paths.values():  # warm both
                wrk(f"http://127.0.0.1:{w_port}{path}", 2, args.connections)
                wrk(f"http://127.0.0.1:{n_port}{path}", 2, args.connections)
            for number in range(1, args.rounds + 1):
                for what, path in paths.items():
                    for server, port in (("warroom", w_port), ("nginx", n_port)):
                        got = wrk(f"http://127.0.0.1:{port}{path}", args.seconds, args.connections)
                        results.setdefault(f"{server} {what}", []).append(got)
                        print(
                            f"round {number} {server:7} {path:22} {got['rate']:9.0f} req/s "
                            f"p99 {got['p99_ms']:7.2f} ms non-2xx {got['non_2xx']:.0f}",
                            flush=True,
                        )
        print()
        print(
            f"{args.database}, {args.workers} processes each, {args.connections} connections, "
            f"medians of {args.rounds} rounds of {args.seconds} s:"
        )
        for what in paths:
            w = results[f"warroom {what}"]
            n = results[f"nginx {what}"]
            w_rate = statistics.median(r["rate"] for r in w)
            n_rate = statistics.median(r["rate"] for r in n)
            ratios = [a["rate"] / b["rate"] for a, b in zip(w, n, strict=True)]
            print(
                f"  {paths[what]:22} warroom {w_rate:8.0f} req/s p99 "
                f"{statistics.median(r['p99_ms'] for r in w):6.2f} ms · nginx {n_rate:8.0f} req/s "
                f"p99 {statistics.median(r['p99_ms'] for r in n):6.2f} ms · ratio "
                f"{statistics.median(ratios):.2f} (per round: "
                f"{', '.join(f'{r:.2f}' for r in ratios)})"
            )
        if args.database == "postgresql":
            outage(url, env, scratch, args)
    finally:
        drop(name)
        shutil.rmtree(scratch, ignore_errors=True)


def outage(url: str, env: dict[str, str], scratch: Path, args: Any) -> None:
    parsed = make_url(url)
    proxy = Proxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    through = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = env | {"WARROOM_DATABASE_URL": through}
    with warroom(env, scratch, 1) as port:
        before = wrk(f"http://127.0.0.1:{port}/status", 3, args.connections)
        proxy.cut()
        time.sleep(1.5)  # past the cache's one-second check: the node knows the database is away
        page = httpx.get(f"http://127.0.0.1:{port}/status", timeout=10).text
        during = wrk(f"http://127.0.0.1:{port}/status", args.seconds, args.connections)
    banner = "Live status is temporarily unavailable" in page
    print(
        f"\noutage (1 process): before {before['rate']:.0f} req/s; with the database cut off "
        f"{during['rate']:.0f} req/s, p99 {during['p99_ms']:.2f} ms, "
        f"non-2xx {during['non_2xx']:.0f}, stale banner shown: {banner}"
    )


if __name__ == "__main__":
    main()
