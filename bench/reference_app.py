"""The reference for the API benchmark: a bare Starlette endpoint doing one insert per request
on the same database, with the same engine settings warroom uses."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from warroom.db.engine import make_engine

metadata = MetaData()
rows = Table(
    "bench_reference",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def build(url: str) -> Starlette:
    engine = make_engine(url)
    metadata.create_all(engine)  # a benchmark fixture, not part of warroom's schema

    def create(request: Request) -> JSONResponse:
        with engine.begin() as connection:
            new_id = connection.execute(
                insert(rows).values(title="reference", created_at=datetime.now(UTC))
            ).inserted_primary_key
        return JSONResponse({"id": new_id[0] if new_id else None}, status_code=201)

    return Starlette(routes=[Route("/insert", create, methods=["POST"])])


DATABASE_VARIABLE = "WARROOM_BENCH_REFERENCE_DATABASE"


def from_environment() -> Starlette:
    """The app of one of several processes (``--workers``): uvicorn imports it by name."""
    return build(os.environ[DATABASE_VARIABLE])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers == 1:
        uvicorn.run(build(args.database), host="127.0.0.1", port=args.port, log_level="warning")
    else:
        metadata.create_all(make_engine(args.database))  # once, before the workers start
        os.environ[DATABASE_VARIABLE] = args.database
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # the workers import it
        uvicorn.run(
            "reference_app:from_environment",
            factory=True,
            workers=args.workers,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
        )
