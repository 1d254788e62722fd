"""SQLite's write-ahead log, copied back by a thread of its own while a writer never pauses."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from warroom.db.engine import Checkpoints, make_engine

ROW = "x" * 2000  # about half a page: the log grows quickly


def test_it_keeps_the_log_bounded_under_a_writer_that_never_pauses(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    checkpoints = Checkpoints(engine, interval=0.005, idle=1.0)
    checkpoints.RESTART_FRAMES = 200  # pages: about 800 KB of log
    connection = engine.raw_connection()
    checkpoints.writer_connection(connection)
    cursor = connection.cursor()
    cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    connection.commit()
    wal = tmp_path / "w.db-wal"
    largest = 0
    deadline = time.monotonic() + 20  # bounded however slow the machine is
    for _ in range(400):
        cursor.executemany("INSERT INTO t (body) VALUES (?)", [(ROW,)] * 20)
        connection.commit()
        checkpoints.due()
        largest = max(largest, wal.stat().st_size)
        assert time.monotonic() < deadline
        time.sleep(0.001)  # the writer's own work between commits
    # 400 commits of 20 rows wrote about 19 MB of log; the file never held more than a few
    # (without the restarting checkpoint it grows to all 19).
    assert largest < 6 * 1024 * 1024
    assert cursor.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 400 * 20
    checkpoints.close()
    checkpoints.writer_done(connection)
    connection.close()
    other = engine.raw_connection()
    # The pooled connection is handed on with the default: commits checkpoint again.
    wal_pages = other.cursor().execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert wal_pages == Checkpoints.AUTOCHECKPOINT
    other.close()
    engine.dispose()


def test_it_copies_the_log_back_after_a_commit_without_the_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    checkpoints = Checkpoints(engine, interval=0.005, idle=0.5)
    connection = engine.raw_connection()
    checkpoints.writer_connection(connection)
    cursor = connection.cursor()
    cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    cursor.executemany("INSERT INTO t (body) VALUES (?)", [(ROW,)] * 200)
    connection.commit()
    checkpoints.due()
    assert _copied_back(tmp_path / "w.db", 200 * len(ROW))
    checkpoints.close()
    checkpoints.writer_done(connection)
    connection.close()
    engine.dispose()


def test_it_stops_its_thread_on_close_and_starts_again_when_asked(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    checkpoints = Checkpoints(engine, interval=0.005, idle=30.0)
    connection = engine.raw_connection()
    checkpoints.writer_connection(connection)
    cursor = connection.cursor()
    cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    connection.commit()
    before = set(threading.enumerate())
    checkpoints.due()
    [thread] = [t for t in set(threading.enumerate()) - before if t.name.endswith("checkpoint")]
    checkpoints.close()  # at once, not after the 30 s idle time
    assert not thread.is_alive()
    cursor.executemany("INSERT INTO t (body) VALUES (?)", [(ROW,)] * 200)
    connection.commit()
    checkpoints.due()
    assert _copied_back(tmp_path / "w.db", 200 * len(ROW))
    checkpoints.close()
    checkpoints.writer_done(connection)
    connection.close()
    engine.dispose()


def _copied_back(database: Path, size: int) -> bool:
    """Whether the database file grows to ``size`` within 10 s: rows stay in the log until
    the thread copies them back."""
    deadline = time.monotonic() + 10
    while database.stat().st_size < size and time.monotonic() < deadline:
        time.sleep(0.01)
    return database.stat().st_size > size
