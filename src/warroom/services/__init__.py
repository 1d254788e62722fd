"""Use cases, given an :class:`~warroom.services.records.Op`: they flush, never commit."""
