"""The HTTP edge: the REST API under /api/v1, health, and (later) the pages."""
