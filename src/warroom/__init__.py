"""warroom: self-hosted incident response, from the first alert to the finished post-mortem."""

__version__ = "0.1.0"
