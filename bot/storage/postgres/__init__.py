"""The PostgreSQL storage backend: the same repositories as SQLite's (:mod:`bot.storage.jobs`
and its siblings) over an asyncpg pool (:mod:`.db`), its own plain SQL migrations
(:mod:`.migrate`), and image bytes in a table (:mod:`.blobs`) so that every process on every
machine sees them. Selected by ``DATABASE_URL``.
"""
