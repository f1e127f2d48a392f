"""Durable state: one SQLite connection owner, numbered SQL migrations, repositories.

Nothing here imports ``discord``; a PostgreSQL backend would replace this package alone.
"""
