"""Storage: SQLAlchemy 2.0 typed models, engines and the unit of work."""
