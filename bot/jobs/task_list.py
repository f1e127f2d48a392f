"""Reading a provider's task list: the states of many waiting jobs for one request.

Polling reads one task per request, so finding every job within seconds of its completion
costs each job a read every few seconds: no schedule, however well it learns, does that with
much fewer reads than a fixed poll when completion times are spread. A provider that lists its
tasks (:attr:`~providers.base.Capabilities.lists_tasks`: Magnific documents a list per model,
though a live list has been seen to answer 404) tells one request's worth of them at once.

While at least ``list_min_waiting`` jobs of one model wait at such a provider and may have
finished by now (their kind's learned completion times say so: before that a job needs no read
at all), its list is read every ``list_interval`` seconds, each page one request from the
provider's status budget and a read taking at most ``list_budget_share`` of it (a list longer
than that is read on over the next turns, from the page where the last one stopped). Then:

- a job the list shows finished is polled at once, as a callback would have it (its own status
  read brings the results: the list has none), ranked first by the budget;
- a job shown queued or running needs no read of its own (it is shown generating, as a read
  would show it): its next poll is put off until a little after the list should have been
  read twice more (never one a callback hinted), so
  while the list is read its jobs are not, and if it stops being read (a failure, too few
  jobs waiting) they are polled on their own schedule again soon after;
- a job the list does not show (beyond the pages read) keeps its schedule;
- once a model's list is no longer read (too few jobs left, or it stopped answering), the
  jobs whose polls it put off are polled at once, then each on its own schedule.

A provider that calls back on its tasks (a callback URL configured) is not listed: its
callbacks tell each change as it happens, and the list would only add requests. Nor is any
with a fixed poll interval configured (``POLL_INTERVAL_SECONDS``: each task read that often).

A list the provider does not answer (not offered, or not as documented) is left alone for
``list_retry`` seconds; after any other failure it is left for two turns, twice as long after
each failure in a row (a minute at most), its jobs polled on their own meanwhile. Every
process sharing the store reads the lists, each within its share of the budget; the store's
moves of a job's poll are idempotent.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict

from bot.jobs.context import EngineContext, failure_kind
from bot.jobs.ports import WaitingTask
from bot.jobs.states import TRACKED, JobStatus
from bot.jobs.tracking import Tracking
from providers.base import Completion, Provider, TaskState
from providers.errors import ListingUnavailableError, ProviderError

log = logging.getLogger(__name__)

#: pages of one model's list read in one turn at most (without a budget)
MAX_PAGES = 50
#: seconds added to a deferred poll beyond the next two turns of the list
COVER_SLACK = 1.0
#: the longest a list that failed is left before it is tried again (seconds)
FAILED_WAIT_MAX = 60.0
#: a job the list shows at the provider is shown generating at most this often (seconds),
#: and at most this many jobs a turn
TELL_EVERY = 5.0
TELL_AT_ONCE = 10


class TaskLists:
    """Reads the task lists of the providers that have them, when due."""

    def __init__(self, ctx: EngineContext, tracking: Tracking) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.providers = [n for n, p in ctx.providers.items() if self._lists(p)]
        self._next: dict[str, float] = {}
        #: per (provider, model): the page the next turn starts from
        self._page: dict[tuple[str, str], int] = {}
        #: per (provider, model): until when its list is left alone (not answered)
        self._off: dict[tuple[str, str], float] = {}
        #: per (provider, model): the most tasks it was seen to put on one page
        self._size: dict[tuple[str, str], int] = {}
        #: per provider: when each job its list showed there was last shown generating
        self._told: defaultdict[str, dict[str, float]] = defaultdict(dict)
        #: per provider: the pages its lists may still read (their share of the budget saved
        #: between turns), and when that was reckoned
        self._saved: dict[str, tuple[float, float]] = {}
        #: per (provider, model): pages not read in a row (other than "not offered")
        self._failures: dict[tuple[str, str], int] = {}
        #: the (provider, model) lists read at their last turn (the loop wakes for the next)
        self._listing: set[tuple[str, str]] = set()

    def _lists(self, provider: Provider) -> bool:
        """Whether to read ``provider``'s list: it has one, does not call back on its tasks
        here (callbacks tell each change as it happens; a list would add requests), and no
        fixed poll interval is configured (the operator's choice: each task read that often)."""
        config = self.ctx.config
        capabilities = provider.capabilities
        calls_back = bool(config.callback_base_url) and (
            capabilities.completion is Completion.CALLBACK
        )
        fixed = config.poll_interval is not None
        return capabilities.lists_tasks and not calls_back and not fixed

    def due(self) -> None:
        """Start reading each list whose time has come (each pass of the engine loop)."""
        interval = self.ctx.config.list_interval
        if interval is None:
            return
        now = self.ctx.clock()
        for name in self.providers:
            if now >= self._next.get(name, 0.0) and not self.ctx.tasks.busy("list", name):
                self._next[name] = now + interval
                self.ctx.spawn("list", name, self.read(name))

    def next_at(self) -> float | None:
        """When the next turn of a list being read is due (None: no list is being read)."""
        active = {name for name, _ in self._listing}  # the engine loop wakes for them
        times = [self._next[name] for name in active if name in self._next]
        return min(times) if times else None

    async def read(self, name: str) -> None:
        """One turn: the lists of the provider's models with enough jobs that may be done."""
        ctx = self.ctx
        now = ctx.clock()
        models: defaultdict[str, dict[str, WaitingTask]] = defaultdict(dict)
        for task in await ctx.store.jobs.waiting(name):
            models[task.model][task.task_id] = task
        waiting = {t.job_id for tasks in models.values() for t in tasks.values()}
        told = self._told[name]
        for job_id in [j for j in told if j not in waiting]:
            del told[job_id]  # no longer waiting
        left = self._allowance(name, now)
        for model, tasks in models.items():
            key = (name, model)
            miss = ctx.config.poll_miss
            likely = sum(1 for t in tasks.values() if self.tracking.done_by_now(t, now) >= miss)
            if now >= self._off.get(key, 0.0) and likely >= ctx.config.list_min_waiting:
                self._listing.add(key)
                left -= await self._read_model(ctx.providers[name], model, tasks, left)
            elif key in self._listing:
                # no longer read (too few jobs left, or it stopped answering): the jobs whose
                # polls it put off are read now, then each on its own schedule
                self._listing.discard(key)
                await ctx.store.jobs.hasten_polls([t.job_id for t in tasks.values()], now)
                ctx.wake()
        for key in [k for k in self._listing if k[0] == name and k[1] not in models]:
            self._listing.discard(key)  # nothing of it waits any more
        if name in self._saved:  # pages not read are kept (within a budget)
            saved, at = self._saved[name]
            self._saved[name] = (saved + left, at)

    def _pages_rate(self, name: str) -> float | None:
        """Pages a second the lists of ``name`` may take: their share of the provider's status
        budget (this process's part of it; None: no budget, no limit)."""
        budget = self.tracking.budgets.get(name)
        if budget is None:
            return None
        return budget.rate * self.ctx.config.list_budget_share

    def _allowance(self, name: str, now: float) -> int:
        """Pages this turn may read: the share of the budget saved since the last turn (at
        most a turn's worth, and one page at least once saved)."""
        rate = self._pages_rate(name)
        if rate is None:
            return MAX_PAGES
        interval = self.ctx.config.list_interval or 0.0
        saved, at = self._saved.get(name, (1.0, now))
        saved = min(max(1.0, rate * interval), saved + (now - at) * rate)
        pages = int(saved)
        self._saved[name] = (saved - pages, now)
        return min(MAX_PAGES, pages)

    async def _read_model(
        self, provider: Provider, model: str, tasks: dict[str, WaitingTask], allowed: int
    ) -> int:
        """Read up to ``allowed`` pages of the model's list and act on what they show;
        returns the pages asked for."""
        ctx = self.ctx
        config = ctx.config
        name = provider.name
        key = (name, model)
        asked = max(1, config.list_page_size)
        budget = self.tracking.budgets.get(name)
        page = self._page.get(key, 1)
        unseen = set(tasks)
        seen_running: list[str] = []
        finished: list[str] = []
        started: list[str] = []
        first_ids: set[str] = set()
        asked_pages = 0
        while asked_pages < allowed:
            now = ctx.clock()
            if budget is not None and not budget.take(now):
                break
            asked_pages += 1
            try:
                with ctx.meters.provider_call(name, model, "list"):
                    listed = await provider.list_tasks(model, page=page, per_page=asked)
            except ListingUnavailableError as exc:
                self._off[key] = now + config.list_retry
                page = 1
                log.info(
                    "%s does not answer its task list for %s (%s): its tasks are read one by "
                    "one; trying the list again in %.0f s",
                    name,
                    model,
                    exc,
                    config.list_retry,
                )
                break
            except ProviderError as exc:
                ctx.meters.provider_error(name, "list", failure_kind(exc), exc)
                self._failed(key, now, exc)
                break
            if self._failures.pop(key, 0):
                log.info("%s answers its task list for %s again", name, model)
            # the provider's own page size (it may hold fewer than asked; not documented)
            self._size[key] = max(self._size.get(key, 0), len(listed))
            ids = [item.task_id for item in listed]
            repeated = bool(ids) and ids[0] in first_ids  # the page number is not honoured
            first_ids.update(ids[:1])
            for item in listed:
                task = tasks.get(item.task_id)
                if task is None:
                    continue
                unseen.discard(item.task_id)
                (finished if item.state.terminal else seen_running).append(task.job_id)
                if item.state is TaskState.RUNNING and task.status is JobStatus.SUBMITTED:
                    started.append(task.job_id)
            # only an empty page surely ends a list (a short one may be the provider's size)
            if not listed or repeated or not unseen or page >= self._wanted(key, len(tasks)):
                page = 1  # start again from the newest
                break
            page += 1
        self._page[key] = page
        # a list longer than a turn's pages is read over several: put polls off past two rounds
        interval = config.list_interval or 0.0
        rate = self._pages_rate(name)
        wanted = self._wanted(key, len(tasks))
        rounds = max(interval, wanted / rate) if rate else interval
        cover = 2 * rounds + COVER_SLACK
        await self._apply(finished, seen_running, cover)
        self._tell(name, seen_running, started)
        return asked_pages

    def _failed(self, key: tuple[str, str], now: float, exc: ProviderError) -> None:
        """A page was not read: the list is left for a while, longer after each failure in a
        row (its jobs are polled on their own meanwhile); said once per streak."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        interval = self.ctx.config.list_interval or 0.0
        wait = min(FAILED_WAIT_MAX, interval * 2**failures)
        self._off[key] = now + wait
        if failures == 1:
            log.info(
                "%s task list for %s not read (%s): its tasks are read one by one until it answers",
                *key,
                exc,
            )
        else:
            log.debug("%s task list for %s not read again (%s): next in %.0f s", *key, exc, wait)

    def _wanted(self, key: tuple[str, str], waiting: int) -> int:
        """Pages enough to hold every waiting task, at the page size the provider was seen to
        use (or asked for), and one for other tasks of the account in between."""
        size = self._size.get(key) or max(1, self.ctx.config.list_page_size)
        return min(MAX_PAGES, math.ceil(waiting / size) + 1)

    def _tell(self, name: str, running: list[str], started: list[str]) -> None:
        """Show the jobs the list shows at the provider as generating (in the background), as
        a status read would; each job at most every :data:`TELL_EVERY` seconds (a status
        edit the shared edit budget skipped is shown by the next), and at most
        :data:`TELL_AT_ONCE` a turn, those never told first: status lines share a budget of a
        few edits a second, which hundreds of reports at once would spend on a few and skip
        for the rest."""
        ctx = self.ctx
        now = ctx.clock()
        told = self._told[name]
        due = [j for j in running if now - told.get(j, -TELL_EVERY) >= TELL_EVERY]
        due.sort(key=lambda job_id: told.get(job_id, -math.inf))
        for job_id in due[:TELL_AT_ONCE]:
            told[job_id] = now
            ctx.spawn("progress", job_id, self._generating(job_id, job_id in started))

    async def _generating(self, job_id: str, started: bool) -> None:
        """A job the list shows queued or running: ``started`` (its task runs, the job is
        still ``submitted``) moves it to ``running``, as a status read would; its requester
        is told it is generating."""
        ctx = self.ctx
        job = None
        if started:
            job = await ctx.transition(
                job_id, JobStatus.RUNNING, now=ctx.clock(), only_from=[JobStatus.SUBMITTED]
            )
        if job is None:
            job = await ctx.store.jobs.get(job_id, images=False)
        if job is not None and job.status in TRACKED:
            await self.tracking.generating(job)

    async def _apply(self, finished: list[str], running: list[str], cover: float) -> None:
        ctx = self.ctx
        now = ctx.clock()
        if finished:
            for job_id in finished:
                ctx.hint(job_id, "list")
            await ctx.store.jobs.hasten_polls(finished, now)
            ctx.wake()
        running = [job_id for job_id in running if job_id not in ctx.hinted]
        if running:
            await ctx.store.jobs.defer_polls(running, now + cover)
