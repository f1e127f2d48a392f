"""The SQLite storage backend: one connection owner, numbered SQL migrations, and the job
store, quota ledger and key/value facts that implement :mod:`bot.jobs.ports`.

Nothing here imports ``discord``, and the engine never imports this package: a PostgreSQL
backend is a sibling package implementing the same protocols.
"""
