"""Job rows (:class:`bot.jobs.ports.JobStore`) on any :class:`~bot.storage.sql.Database`:
admission, reads, and compare-and-set status changes with their audit events and ledger
effects, each in one transaction.

Image bytes never enter a transaction: they are written first (:mod:`bot.storage.blobs`) and
the rows name them (:mod:`bot.storage.images`); reads never wait behind a writer."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Unpack

from bot.jobs.models import FailureKind, Job, NewJob
from bot.jobs.ports import CompletionTime, JobFields, StoreUnavailableError, WaitingTask
from bot.jobs.quota import ServerBudget
from bot.jobs.states import AT_PROVIDER, FINAL, REFUNDED, TRACKED, JobStatus, sources
from bot.storage import quota
from bot.storage.admission import admit_rows, record_event
from bot.storage.images import JobImages
from bot.storage.rows import in_list, job_from_row, marks
from bot.storage.sql import Database, Row, Transaction
from providers.base import ResultImage

_COLUMNS = frozenset(JobFields.__annotations__)
#: job ids in one ``IN`` list at most (SQLite allows 32,766 parameters, PostgreSQL 65,535)
_IDS_PER_STATEMENT = 500

#: a job's row once per image (once without any), references then results, each in order
_WITH_IMAGES = (
    "SELECT jobs.*, i.image_of, i.image_url, i.image_data_file, i.image_mime_type, "
    "i.image_caption FROM jobs LEFT JOIN ("
    "SELECT 'ref' AS image_of, job_id, position, url AS image_url, data_file AS image_data_file, "
    "mime_type AS image_mime_type, caption AS image_caption FROM job_references "
    "WHERE job_id = ? UNION ALL SELECT 'res', job_id, position, url, data_file, mime_type, NULL "
    "FROM job_results WHERE job_id = ?"
    ") AS i ON i.job_id = jobs.id WHERE jobs.id = ? ORDER BY i.image_of, i.position"
)


def _params(fields: JobFields) -> dict[str, Any]:
    """Bind values for ``fields``; only known column names ever reach the SQL text."""
    unknown = set(fields) - _COLUMNS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    params: dict[str, Any] = dict(fields)
    kind = params.get("failure_kind")
    if isinstance(kind, FailureKind):
        params["failure_kind"] = kind.value
    return params


class SqlJobs:
    """SQL for the ``jobs`` table and its children."""

    def __init__(self, db: Database, images: JobImages) -> None:
        self.db = db
        self.images = images

    # ------------------------------------------------------------------ writes

    async def admit(
        self,
        job: NewJob,
        *,
        active_limit: int,
        allowance: int | None,
        budget: ServerBudget | None = None,
    ) -> Job:
        """Check the user's active jobs, reserve the credits and store the queued job, at once
        (its reference images written to files first, outside the transaction)."""
        (admitted,) = await self.admit_group(
            [job], active_limit=active_limit, allowance=allowance, budget=budget
        )
        return admitted

    async def admit_group(
        self,
        jobs: Sequence[NewJob],
        *,
        active_limit: int,
        allowance: int | None,
        budget: ServerBudget | None = None,
    ) -> list[Job]:
        """:meth:`admit` for the members of a group, all or none (a group counts as one
        active job)."""
        staged: list[list[str | None]] = []
        try:
            for job in jobs:
                staged.append(await self.images.stage(job.id, "ref", job.request.references))
            rows = await admit_rows(
                self.db,
                self.images,
                jobs,
                staged,
                active_limit=active_limit,
                allowance=allowance,
                budget=budget,
            )
        except StoreUnavailableError:  # it failed, commit included: no row names the files
            for names in staged:
                await self.images.remove(names)
            raise
        except BaseException:
            for job, names in zip(jobs, staged, strict=False):
                await asyncio.shield(self.images.discard(job.id, names))
            raise
        return [job_from_row(row) for row in rows]

    async def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        now: float,
        note: str | None = None,
        results: Iterable[ResultImage] = (),
        only_from: Iterable[JobStatus] | None = None,
        **fields: Unpack[JobFields],
    ) -> Job | None:
        """Move the job to ``to`` if its current status allows it; the row as written, or None.

        In the same transaction: the field updates, the results (if any), an audit event, and
        the ledger effect (commit on delivery, refund on failure / timeout / cancel). Result
        bytes are written to files before it, and removed after it once the job has ended.
        """
        results = list(results)
        allowed = set(sources(to))
        if only_from is not None:
            allowed &= set(only_from)
        params = {**_params(fields), "to": to.value, "now": now, "id": job_id}
        assignments = "".join(f", {name} = :{name}" for name in fields)
        staged = await self.images.stage(job_id, "res", results)
        try:
            # a result found is on its way to its post: it goes before the other writes
            row, previous, dropped = await self.db.run(
                lambda tx: self._transition(
                    tx, allowed, assignments, params, note, results, staged
                ),
                urgent=to is JobStatus.SUCCEEDED,
            )
        except StoreUnavailableError:  # it failed, commit included: no row names the files
            await self.images.remove(staged)
            raise
        except BaseException:
            await asyncio.shield(self.images.discard(job_id, staged))
            raise
        if row is None:
            await self.images.remove(staged)
            return None
        await self.images.remove(dropped)
        return dataclasses.replace(job_from_row(row), previous_status=previous)

    async def _transition(
        self,
        tx: Transaction,
        allowed: set[JobStatus],
        assignments: str,
        params: dict[str, Any],
        note: str | None,
        results: list[ResultImage],
        staged: list[str | None],
    ) -> tuple[Row | None, JobStatus | None, list[str]]:
        job_id, to, now = params["id"], JobStatus(params["to"]), params["now"]
        if len(allowed) == 1:  # the compare-and-set needs no read first (most moves)
            params["previous"] = next(iter(allowed)).value
        else:
            current = await tx.fetchone("SELECT status FROM jobs WHERE id = ?", (job_id,))
            if current is None or JobStatus(current["status"]) not in allowed:
                return None, None, []
            params["previous"] = current["status"]
        row = await tx.fetchone(
            f"UPDATE jobs SET status = :to, updated_at = :now{assignments} "
            "WHERE id = :id AND status = :previous RETURNING *",
            params,
        )
        if row is None:
            return None, None, []
        previous = JobStatus(params["previous"])
        await self.images.insert(tx, "job_results", job_id, results, staged)
        await record_event(tx, job_id, previous.value, to, note, now)
        if to is JobStatus.DELIVERED:
            await quota.settle(tx, job_id, "commit", now)
        elif to in REFUNDED:
            await quota.settle(tx, job_id, "refund", now)
        # an ended job's results are never shown again (delivered: they live on in the post);
        # its references are kept for re-rolls only when it was delivered (see retention.py)
        dropped = await self.images.drop_results(tx, job_id) if to in FINAL else []
        if to in FINAL and to is not JobStatus.DELIVERED:
            dropped += await self.images.drop_references(tx, [job_id], now)
        return row, previous, dropped

    async def update(
        self, job_id: str, *, when: Iterable[JobStatus], **fields: Unpack[JobFields]
    ) -> bool:
        """Set fields without a status change, only while the job is in one of ``when``."""
        if not fields:
            raise ValueError("nothing to update")
        params = {**_params(fields), "id": job_id}
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        changed = await self.db.execute(
            f"UPDATE jobs SET {assignments} WHERE id = :id AND status IN ({in_list(when)})",
            params,
        )
        return changed == 1

    async def hint(self, job_id: str, now: float, *, held_until: float | None = None) -> None:
        """A callback said something changed: poll at ``now`` or sooner (or right after the
        submit lands); ``held_until``: a read has just started instead, no poll before then."""
        tracked = f"status IN ({in_list(TRACKED)})"
        if held_until is not None:
            await self.db.execute(
                "UPDATE jobs SET callback_hinted = 1, "
                f"next_poll_at = CASE WHEN {tracked} THEN :until ELSE next_poll_at END "
                "WHERE id = :id",
                {"until": held_until, "id": job_id},
            )
            return
        await self.db.execute(
            "UPDATE jobs SET callback_hinted = 1, "
            f"next_poll_at = CASE WHEN NOT {tracked} THEN next_poll_at "
            "WHEN next_poll_at < :now THEN next_poll_at ELSE :now END WHERE id = :id",
            {"now": now, "id": job_id},
        )

    async def defer_polls(self, job_ids: Sequence[str], until: float) -> int:
        """Put the next poll of these tracked jobs off to ``until`` (later ones stay, and so
        does any job a callback hinted: what it said may be newer than what put it off)."""
        return await self._move_polls(job_ids, until, "next_poll_at < :at AND callback_hinted = 0")

    async def hasten_polls(self, job_ids: Sequence[str], at: float) -> int:
        """Make the next poll of these tracked jobs due at ``at`` (sooner ones stay)."""
        return await self._move_polls(job_ids, at, "(next_poll_at IS NULL OR next_poll_at > :at)")

    async def _move_polls(self, job_ids: Sequence[str], at: float, where: str) -> int:
        moved = 0
        for start in range(0, len(job_ids), _IDS_PER_STATEMENT):
            places, ids = marks("j", job_ids[start : start + _IDS_PER_STATEMENT])
            moved += await self.db.execute(
                f"UPDATE jobs SET next_poll_at = :at WHERE id IN ({places}) "
                f"AND status IN ({in_list(TRACKED)}) AND {where}",
                {**ids, "at": at},
            )
        return moved

    async def count_delivery_attempt(self, job_id: str) -> int:
        """Record that a delivery is about to be attempted; return the attempt number."""
        row = await self.db.run(
            lambda tx: tx.fetchone(
                "UPDATE jobs SET delivery_attempts = delivery_attempts + 1 WHERE id = ? "
                "RETURNING delivery_attempts",
                (job_id,),
            )
        )
        return int(row["delivery_attempts"]) if row else 0

    # ------------------------------------------------------------------ reads

    async def get(
        self, job_id: str, *, images: bool = True, reference_bytes: bool = True
    ) -> Job | None:
        """The job (with its reference and result images unless ``images`` is False;
        ``reference_bytes`` False: its references without their bytes), or None."""
        if not images:
            row = await self.db.lookup_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
            return job_from_row(row) if row is not None else None
        # the row and its images in one statement: one state of the database, one round trip
        rows = await self.db.lookup(_WITH_IMAGES, (job_id, job_id, job_id))
        if not rows:
            return None
        found: dict[str, list[dict[str, Any]]] = {"ref": [], "res": []}
        for row in rows:
            if row["image_of"] is not None:
                found[row["image_of"]].append(
                    {
                        name: row[f"image_{name}"]
                        for name in ("url", "data_file", "mime_type", "caption")
                    }
                )
        refs = found["ref"]
        loaded = (
            await self.images.load(refs) if reference_bytes else [{**r, "data": None} for r in refs]
        )
        return job_from_row(rows[0], loaded, await self.images.load(found["res"]))

    async def group(self, group_id: str, *, images: bool = True) -> list[Job]:
        """Every member of a group, in order (with their images unless ``images`` is False)."""
        if not images:
            return await self._jobs(
                "SELECT * FROM jobs WHERE group_id = ? ORDER BY group_index", (group_id,)
            )
        rows = await self.db.fetchall(
            "SELECT id FROM jobs WHERE group_id = ? ORDER BY group_index", (group_id,)
        )
        found = [await self.get(str(row["id"])) for row in rows]
        return [job for job in found if job is not None]

    async def with_status(self, statuses: Iterable[JobStatus], limit: int = 500) -> list[Job]:
        """Jobs in any of ``statuses``, oldest first — without reference or result images
        (listings stay cheap however large the images; :meth:`get` loads them)."""
        return await self._jobs(
            f"SELECT * FROM jobs WHERE status IN ({in_list(statuses)}) "
            "ORDER BY created_at, id LIMIT ?",
            (limit,),
        )

    async def due_for_poll(self, now: float, limit: int = 100) -> list[Job]:
        """Tracked jobs whose next poll time has come (without images)."""
        return await self._jobs(
            f"SELECT * FROM jobs WHERE status IN ({in_list(TRACKED)}) "
            "AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?",
            (now, limit),
        )

    async def completion_times(self, limit: int = 5000) -> list[CompletionTime]:
        """Seconds from create to completion of the latest successes, with their kinds (the
        ``resolution`` and ``reference_count`` columns: no request is decoded)."""
        sql = "SELECT provider, model, completed_at - submitted_at AS s, resolution, "
        sql += "reference_count FROM jobs WHERE status IN ('succeeded', 'delivered') "
        sql += "AND completed_at IS NOT NULL AND submitted_at IS NOT NULL "
        sql += "ORDER BY completed_at DESC LIMIT ?"
        rows = await self.db.fetchall(sql, (limit,))
        return [
            CompletionTime(
                str(r[0]), str(r[1]), float(r[2]), None if r[3] is None else str(r[3]), int(r[4])
            )
            for r in reversed(rows)
        ]

    async def waiting(self, provider: str, limit: int = 10_000) -> list[WaitingTask]:
        """The provider's tracked jobs that have a task there, oldest first."""
        rows = await self.db.fetchall(
            "SELECT id, task_id, model, submitted_at, resolution, reference_count, status "
            "FROM jobs "
            f"WHERE status IN ({in_list(TRACKED)}) AND provider = ? AND task_id IS NOT NULL "
            "ORDER BY created_at LIMIT ?",
            (provider, limit),
        )
        return [
            WaitingTask(
                job_id=str(r[0]),
                task_id=str(r[1]),
                provider=provider,
                model=str(r[2]),
                status=JobStatus(r[6]),
                submitted_at=None if r[3] is None else float(r[3]),
                resolution=None if r[4] is None else str(r[4]),
                reference_count=int(r[5]),
            )
            for r in rows
        ]

    async def due_for_delivery(self, now: float, limit: int = 100) -> list[Job]:
        """Succeeded jobs whose next delivery attempt is due (without images)."""
        return await self._jobs(
            "SELECT * FROM jobs WHERE status = 'succeeded' "
            "AND COALESCE(next_delivery_at, 0) <= ? ORDER BY COALESCE(next_delivery_at, 0) LIMIT ?",
            (now, limit),
        )

    async def next_due_at(self) -> float | None:
        """The earliest scheduled poll or delivery attempt, if any."""
        row = await self.db.fetchone(
            "SELECT MIN(due) FROM ("
            f"SELECT MIN(next_poll_at) AS due FROM jobs WHERE status IN ({in_list(TRACKED)}) "
            "UNION ALL SELECT MIN(COALESCE(next_delivery_at, 0)) FROM jobs "
            "WHERE status = 'succeeded') AS due_times"
        )
        return float(row[0]) if row and row[0] is not None else None

    async def at_provider_counts(self) -> dict[str, int]:
        """How many jobs each provider is working on."""
        rows = await self.db.fetchall(
            f"SELECT provider, COUNT(*) FROM jobs WHERE status IN ({in_list(AT_PROVIDER)}) "
            "GROUP BY provider"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def events(self, job_id: str) -> list[tuple[str | None, str]]:
        """The job's status history as (from, to) pairs."""
        rows = await self.db.fetchall(
            "SELECT from_status, to_status FROM job_events WHERE job_id = ? ORDER BY id",
            (job_id,),
        )
        return [(r[0], r[1]) for r in rows]

    async def status_counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, number of jobs), ordered."""
        rows = await self.db.fetchall(
            "SELECT provider, status, COUNT(*) FROM jobs GROUP BY provider, status ORDER BY 1, 2"
        )
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def _jobs(self, sql: str, params: tuple[Any, ...]) -> list[Job]:
        rows = await self.db.fetchall(sql, params)
        return [job_from_row(row) for row in rows]
