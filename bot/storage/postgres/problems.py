"""Why a PostgreSQL database could not be used, in the words an operator acts on (never with
the URL's password)."""

from __future__ import annotations

import asyncpg

from bot.jobs.ports import StoreUnavailableError
from bot.storage.postgres.db import shown


class SchemaBehindError(Exception):
    """The database's schema is older than this version's (``version`` None: never created)."""

    def __init__(self, version: int | None, latest: int) -> None:
        found = "missing" if version is None else f"at version {version} of {latest}"
        super().__init__(f"the PostgreSQL schema is {found}; run `python -m bot migrate`")
        self.version = version
        self.latest = latest


class PgOpenError(Exception):
    """The database at ``DATABASE_URL`` cannot be used: ``problem`` says why, ``fix`` what to
    do. Every connection is closed by then."""

    def __init__(self, url: str, problem: str, fix: str) -> None:
        super().__init__(f"database DATABASE_URL={shown(url)} {problem}: {fix}")
        self.url = shown(url)
        self.problem = problem
        self.fix = fix

    @classmethod
    def of(cls, url: str, exc: BaseException) -> PgOpenError:
        """Classify what went wrong connecting to (or migrating) ``url``."""
        if isinstance(exc, SchemaBehindError):
            found = "missing" if exc.version is None else f"{exc.version} of {exc.latest}"
            return cls(url, f"schema is {found}", "run `python -m bot migrate`")
        cause = exc.__cause__ if isinstance(exc, StoreUnavailableError) else exc
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        if isinstance(
            cause,
            asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError,
        ):
            return cls(url, "refused the login", "check the user and password in DATABASE_URL")
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return cls(url, "does not exist", "create it (createdb) or fix its name")
        if isinstance(exc, StoreUnavailableError | OSError | TimeoutError):
            return cls(
                url,
                f"cannot be reached ({reason})",
                "check that PostgreSQL runs and the host and port in DATABASE_URL",
            )
        return cls(url, f"cannot be used ({reason})", "check DATABASE_URL")
