"""The ``/usage`` chart: credits spent per day and the top users of a period, as one PNG.

Pure: no Discord, no database. The caller builds a :class:`UsageReport` from the ledger and
gets PNG bytes back (1200 × 700 px, dark theme, tens of kilobytes).

How it stays safe to run in the bot:

* **Off the event loop.** Importing matplotlib takes about 0.5 s (up to 1 s the first time on
  a machine, while it builds its font cache) and a render 0.1–0.3 s, so async code calls
  :func:`render_usage_chart_async`, which runs in the bounded CPU pool (:mod:`providers.cpu`).
  matplotlib is imported inside the renderer, that is in a pool thread on first use, never
  when this module is imported. If its config directory is not writable, matplotlib itself
  falls back to a temporary one (logging a warning); nothing here sets ``MPLCONFIGDIR``.
* **No global state.** A :class:`~matplotlib.figure.Figure` drawn by its own
  :class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`; ``pyplot`` (its figure manager,
  the interactive backend) is never imported and ``rcParams`` are never changed, so renders
  can run in several threads at once (matplotlib keeps its font objects per thread).
* **Hostile names.** Display names are text from strangers: every string drawn is cleaned
  (:func:`clean_text`: control and format characters removed, glyphs the font lacks shown as
  ``?``, length capped) and drawn with mathtext and TeX off, so ``$\\frac{1}{0}$`` is drawn
  as written instead of being parsed. Text in an image pings nobody.

Right-to-left names: matplotlib 3.11 shapes and orders Arabic and Hebrew (it lays text out
with libraqm); older versions draw them in stored (logical) order, so they read reversed
there. Characters DejaVu Sans lacks (CJK, many emoji) are drawn as ``?``; the embed that
accompanies the chart shows the names as they are.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from providers import cpu

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

WIDTH_PX, HEIGHT_PX, DPI = 1200, 700, 100
MAX_USERS = 10  # the top users shown; more in a report are cut to the highest
MAX_DAYS = 366  # the longest period a report may cover
LABEL_CHARS = 32  # a user's label is cut to this many characters (an ellipsis last)
TITLE_CHARS = 80
EMPTY_TEXT = "No usage in this period"

# Discord's dark theme: the chat background, its text and muted text, blurple, banana yellow
BACKGROUND = "#313338"
TEXT = "#dbdee1"
MUTED = "#949ba4"
GRID = "#4e5058"
DAY_BAR = "#5865f2"
USER_BAR = "#fee75c"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: at most this many day labels on the x axis (every day is labelled up to this many days)
MAX_DAY_TICKS = 16
#: bars carry their value when the period has at most this many days
VALUE_LABELS_UP_TO = 31

#: every Text this module draws: never mathtext, never TeX, whatever matplotlibrc says
PLAIN: dict[str, Any] = {"parse_math": False, "usetex": False}


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """What one UTC day cost: credits spent (committed, after refunds) and jobs run."""

    day: date
    spent: int
    jobs: int = 0

    def __post_init__(self) -> None:
        if self.spent < 0 or self.jobs < 0:
            raise ValueError(
                f"negative usage on {self.day}: {self.spent} credits, {self.jobs} jobs"
            )


@dataclass(frozen=True, slots=True)
class UserUsage:
    """One member's credits spent over the period; ``label`` is their display name, any text."""

    label: str
    spent: int

    def __post_init__(self) -> None:
        if self.spent < 0:
            raise ValueError(f"negative usage: {self.spent} credits")


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The period ``first_day`` … ``last_day`` (inclusive, UTC days). ``daily`` lists the days
    with use, in any order (at most one entry a day; the others count as 0); ``top_users`` may
    be longer than :data:`MAX_USERS` (only the highest are drawn) and in any order."""

    title: str
    first_day: date
    last_day: date
    daily: tuple[DailyUsage, ...] = ()
    top_users: tuple[UserUsage, ...] = ()

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(f"the period ends ({self.last_day}) before it starts")
        if self.days > MAX_DAYS:
            raise ValueError(f"a report covers at most {MAX_DAYS} days, not {self.days}")
        seen: set[date] = set()
        for entry in self.daily:
            if not self.first_day <= entry.day <= self.last_day:
                raise ValueError(f"{entry.day} is outside {self.first_day} … {self.last_day}")
            if entry.day in seen:
                raise ValueError(f"{entry.day} is listed twice")
            seen.add(entry.day)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def spent_by_day(self) -> list[int]:
        """Credits for every day of the period, first to last; days without use are 0."""
        spent = [0] * self.days
        for entry in self.daily:
            spent[(entry.day - self.first_day).days] = entry.spent
        return spent

    def leaders(self) -> tuple[UserUsage, ...]:
        """The users drawn: at most :data:`MAX_USERS` who spent something, highest first."""
        spending = [user for user in self.top_users if user.spent > 0]
        return tuple(sorted(spending, key=lambda user: -user.spent)[:MAX_USERS])

    @property
    def is_empty(self) -> bool:
        return not self.leaders() and all(e.spent == 0 and e.jobs == 0 for e in self.daily)


# --- text ----------------------------------------------------------------------------------

#: dropped: controls, format characters (zero-width, bidi overrides), surrogates, private use,
#: unassigned
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_MAX_MARKS = 2  # combining marks kept on one letter (no towers of "Zalgo" text)


@cache
def _font_codepoints() -> frozenset[int]:
    """The characters the default font (DejaVu Sans, shipped with matplotlib) can draw."""
    from matplotlib.font_manager import FontProperties, findfont
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(findfont(FontProperties())).get_charmap())


def clean_text(text: str, limit: int) -> str:
    """``text`` made safe and legible to draw: whitespace runs become one space, control and
    format characters are dropped, characters the font lacks become ``?``, and the result is
    at most ``limit`` characters (cut with an ellipsis). Never empty (``?`` at worst)."""
    drawable = _font_codepoints()
    out: list[str] = []
    marks = 0
    # a generous prefix is enough: at most ``limit`` characters survive
    for char in unicodedata.normalize("NFC", text[: limit * 8]):
        category = unicodedata.category(char)
        if char.isspace():
            out.append(" ")
            marks = 0
            continue
        if category in _DROPPED_CATEGORIES:
            continue
        is_mark = category.startswith("M")
        if ord(char) not in drawable:
            if is_mark:
                continue
            char = "?"
        if is_mark:
            marks += 1
            if marks > _MAX_MARKS or not out or out[-1] in " ?":
                continue  # too many, or a mark on nothing or on a replaced character
        else:
            marks = 0
        out.append(char)
    cleaned = " ".join("".join(out).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned or "?"


def day_label(day: date, with_year: bool) -> str:
    label = f"{day.day} {MONTHS[day.month - 1]}"
    return f"{label} {day.year}" if with_year else label


def period_text(report: UsageReport) -> str:
    with_year = report.first_day.year != report.last_day.year
    first = day_label(report.first_day, with_year)
    last = day_label(report.last_day, True)
    span = last if report.days == 1 else f"{first} – {last}"
    days = "1 day" if report.days == 1 else f"{report.days} days"
    return f"{span} ({days})"


def totals_text(report: UsageReport) -> str:
    spent = sum(entry.spent for entry in report.daily)
    jobs = sum(entry.jobs for entry in report.daily)
    credits = "1 credit" if spent == 1 else f"{spent} credits"
    runs = "1 job" if jobs == 1 else f"{jobs} jobs"
    return f"{credits} spent, {runs}"


# --- drawing ---------------------------------------------------------------------------------


def render_usage_chart(report: UsageReport) -> bytes:
    """The report as a PNG (:data:`WIDTH_PX` × :data:`HEIGHT_PX`). CPU-bound (matplotlib):
    from async code use :func:`render_usage_chart_async`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(
        figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI),
        dpi=DPI,
        facecolor=BACKGROUND,
        layout="constrained",
    )
    canvas = FigureCanvasAgg(figure)
    if report.is_empty:
        _draw_empty(figure, report)
    else:
        _draw_report(figure, report)
    buffer = io.BytesIO()
    # no "Software" tag: the bytes depend only on the report (and matplotlib's version)
    # (backend_agg has no type hints; print_png draws without savefig's rcParams handling)
    canvas.print_png(buffer, metadata={"Software": None})  # type: ignore[no-untyped-call]
    return buffer.getvalue()


async def render_usage_chart_async(report: UsageReport) -> bytes:
    """:func:`render_usage_chart` in the bounded CPU pool; the event loop stays free."""
    return await cpu.run(render_usage_chart, report)


def _draw_empty(figure: Figure, report: UsageReport) -> None:
    title = clean_text(report.title, TITLE_CHARS)
    figure.text(0.5, 0.62, title, ha="center", va="center", fontsize=20, color=TEXT, **PLAIN)
    figure.text(0.5, 0.48, EMPTY_TEXT, ha="center", va="center", fontsize=30, color=TEXT, **PLAIN)
    figure.text(
        0.5, 0.38, period_text(report), ha="center", va="center", fontsize=14, color=MUTED, **PLAIN
    )


def _draw_report(figure: Figure, report: UsageReport) -> None:
    grid = figure.add_gridspec(2, 1, height_ratios=[1.15, 1], hspace=0)
    top = figure.add_subfigure(grid[0], facecolor=BACKGROUND)
    bottom = figure.add_subfigure(grid[1], facecolor=BACKGROUND)
    # the title belongs to the top subfigure, so the layout makes room for it
    top.suptitle(clean_text(report.title, TITLE_CHARS), fontsize=16, color=TEXT, **PLAIN)
    _draw_daily(top, report)
    _draw_users(bottom, report)


def _style(axes: Axes) -> None:
    axes.set_facecolor(BACKGROUND)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(GRID)
    axes.tick_params(colors=MUTED, labelcolor=TEXT, labelsize=9)
    axes.set_axisbelow(True)


def _day_ticks(report: UsageReport) -> tuple[list[int], list[str]]:
    """Positions and labels for the x axis: every ``stride``-th day, at most
    :data:`MAX_DAY_TICKS` of them, the last day always labelled."""
    stride = max(1, math.ceil(report.days / MAX_DAY_TICKS))
    positions = list(range(report.days - 1, -1, -stride))[::-1]
    with_year = report.first_day.year != report.last_day.year
    labels = [day_label(report.first_day + timedelta(days=i), with_year) for i in positions]
    return positions, labels


def _value_labels(values: Sequence[int]) -> list[str]:
    return [str(value) if value else "" for value in values]


def _draw_daily(figure: SubFigure, report: UsageReport) -> None:
    from matplotlib.ticker import MaxNLocator

    axes = figure.subplots()
    _style(axes)
    spent = report.spent_by_day()
    positions = list(range(report.days))
    bars = axes.bar(positions, spent, width=0.8 if report.days > 1 else 0.4, color=DAY_BAR)
    highest = max(spent)
    axes.set_xlim(-0.6, report.days - 0.4)
    axes.set_ylim(0, max(1, highest) * 1.18)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axes.grid(axis="y", color=GRID, linewidth=0.6, alpha=0.7)
    ticks, labels = _day_ticks(report)
    rotate = len(ticks) > 8
    axes.set_xticks(
        ticks, labels, rotation=35 if rotate else 0, ha="right" if rotate else "center", **PLAIN
    )
    axes.set_ylabel("credits", color=MUTED, fontsize=10, **PLAIN)
    if report.days <= VALUE_LABELS_UP_TO:
        axes.bar_label(bars, labels=_value_labels(spent), color=TEXT, fontsize=8, padding=2)
    axes.set_title(
        f"Credits per day · {period_text(report)} · {totals_text(report)}",
        loc="left",
        color=TEXT,
        fontsize=11,
        **PLAIN,
    )


def _draw_users(figure: SubFigure, report: UsageReport) -> None:
    from matplotlib.ticker import MaxNLocator

    axes = figure.subplots()
    _style(axes)
    leaders = report.leaders()
    axes.set_title(f"Top users (up to {MAX_USERS})", loc="left", color=TEXT, fontsize=11, **PLAIN)
    if not leaders:
        axes.set_xticks([])
        axes.set_yticks([])
        axes.text(
            0.5,
            0.5,
            "No credits spent by anyone",
            transform=axes.transAxes,
            ha="center",
            va="center",
            color=MUTED,
            fontsize=12,
            **PLAIN,
        )
        return
    rows = list(range(len(leaders)))
    spent = [user.spent for user in leaders]
    bars = axes.barh(rows, spent, height=0.7, color=USER_BAR)
    labels = [clean_text(user.label, LABEL_CHARS) for user in leaders]
    axes.set_yticks(rows, labels, **PLAIN)
    # the same bar thickness whether one user or ten, the highest at the top
    axes.set_ylim(MAX_USERS - 0.5, -0.5)
    axes.set_xlim(0, max(spent) * 1.12)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    axes.grid(axis="x", color=GRID, linewidth=0.6, alpha=0.7)
    axes.tick_params(axis="y", length=0)
    axes.bar_label(bars, labels=_value_labels(spent), color=TEXT, fontsize=8, padding=3)
