"""Alembic migrations of the docflow store (run through ``docflow.store``, not a CLI)."""
