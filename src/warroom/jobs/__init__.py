"""Durable work: timers claimed and fired by workers, one transaction each."""

# Timers fired per transaction: one commit for many keeps up with bursts of due timers.
# Here rather than in the worker, so `warroom worker --help` shows it without loading one.
BATCH = 100
