"""Durable work: timers claimed and fired by workers, one transaction each."""
