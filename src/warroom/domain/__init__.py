"""Pure rules of incident response: no I/O, no clock. Time is always passed in as ``now``."""
