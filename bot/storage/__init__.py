"""Storage: repositories (jobs, admission, the quota ledger, server budgets, servers, key/value
facts, retention, images) written once against the small :class:`~bot.storage.sql.Database`
protocol, and two backends implementing :mod:`bot.jobs.ports` with them: SQLite (``db.py``,
``migrations/``, ``store.py``: the embedded default) and PostgreSQL (``postgres/``, chosen by
``DATABASE_URL``; see :mod:`bot.storage.backend`).

Nothing here imports ``discord``, and the engine never imports this package.
"""
