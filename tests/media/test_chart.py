"""The /usage chart: a PNG of the expected size for any period and any names, drawn off the
event loop, with display names drawn as plain text (never mathtext)."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.media import chart
from bot.media.chart import (
    HEIGHT_PX,
    LABEL_CHARS,
    MAX_USERS,
    WIDTH_PX,
    DailyUsage,
    UsageReport,
    UserUsage,
    clean_text,
    render_usage_chart,
    render_usage_chart_async,
)

FIRST = date(2025, 1, 1)
MAX_BYTES = 300 * 1024

HOSTILE = [
    "$\\frac{1}{0}$",
    "$\\undefinedcommand{$",  # mathtext would raise on this
    "price: $5 or $$",
    "x" * 500,
    "שלום עולם",
    "مرحبا بالعالم",
    "\u202eevil\u202c reversed",
    "🍌🍌 banana 😀",
    "@everyone @here <@123456789>",
    "ctl\x00\x07\x1b[31m\r\n\tchars\u200b\ufeff",
    "山田太郎",
    "Z̷̢̛̤̰̓a̴̧̱͑l̶̨̛̫g̵̖̈o̸̺͆",
    "\ud800 lone surrogate",
    "",
    "   ",
    "\\text{x} ^_^ {}%#&~",
]


def report(days: int, users: int, *, title: str = "Usage · Test server") -> UsageReport:
    daily = tuple(
        DailyUsage(FIRST + timedelta(days=i), spent=(i * 7) % 13, jobs=i % 5)
        for i in range(days)
        if i % 4  # every fourth day unused
    )
    top = tuple(UserUsage(f"member {i}", spent=100 - i * 7) for i in range(users))
    return UsageReport(title, FIRST, FIRST + timedelta(days=days - 1), daily, top)


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def assert_chart(png: bytes) -> Image.Image:
    image = decode(png)
    assert image.size == (WIDTH_PX, HEIGHT_PX)
    assert len(png) < MAX_BYTES
    return image


def render_strictly(usage: UsageReport) -> bytes:
    """Render with every warning an error (a missing glyph, a mathtext complaint)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return render_usage_chart(usage)


@pytest.mark.parametrize("days", [1, 7, 30, 90])
@pytest.mark.parametrize("users", [0, 10])
def test_every_period_renders_a_png_of_the_expected_size(days, users):
    assert_chart(render_strictly(report(days, users)))


def test_an_empty_report_is_a_readable_image():
    empty = UsageReport("Quiet server", FIRST, FIRST + timedelta(days=29))
    assert empty.is_empty
    image = assert_chart(render_strictly(empty))
    # the notice is drawn: the image is not a single flat colour
    shades = image.convert("L").getcolors(256)
    assert shades is not None
    assert len(shades) > 2
    # days listed with nothing on them, and users who spent nothing, are still "no usage"
    zeros = UsageReport(
        "Quiet server",
        FIRST,
        FIRST + timedelta(days=29),
        (DailyUsage(FIRST, 0, 0),),
        (UserUsage("idle", 0),),
    )
    assert zeros.is_empty
    assert render_usage_chart(zeros) == render_usage_chart(empty)


def test_days_without_use_count_as_zero():
    usage = UsageReport(
        "t",
        FIRST,
        FIRST + timedelta(days=4),
        (DailyUsage(FIRST + timedelta(days=3), 5, 2), DailyUsage(FIRST, 1, 1)),
    )
    assert usage.days == 5
    assert usage.spent_by_day() == [1, 0, 0, 5, 0]
    assert not usage.is_empty


def test_only_the_top_ten_spenders_are_drawn_highest_first():
    users = tuple(UserUsage(f"u{i}", spent=i) for i in range(15))
    leaders = UsageReport("t", FIRST, FIRST, (), users).leaders()
    assert len(leaders) == MAX_USERS
    assert [u.spent for u in leaders] == list(range(14, 4, -1))
    assert UsageReport("t", FIRST, FIRST, (), (UserUsage("none", 0),)).leaders() == ()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: UsageReport("t", FIRST, FIRST - timedelta(days=1)), "before it starts"),
        (lambda: UsageReport("t", FIRST, FIRST + timedelta(days=400)), "at most"),
        (
            lambda: UsageReport("t", FIRST, FIRST, (DailyUsage(FIRST + timedelta(1), 1),)),
            "outside",
        ),
        (
            lambda: UsageReport("t", FIRST, FIRST, (DailyUsage(FIRST, 1), DailyUsage(FIRST, 2))),
            "twice",
        ),
        (lambda: DailyUsage(FIRST, -1), "negative"),
        (lambda: UserUsage("x", -1), "negative"),
    ],
)
def test_inconsistent_reports_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("label", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_render(label):
    users = (UserUsage(label, 9), UserUsage("plain", 3))
    assert_chart(render_strictly(replace(report(30, 0, title=label), top_users=users)))


def test_all_hostile_names_in_one_chart():
    users = tuple(UserUsage(label, 50 - i) for i, label in enumerate(HOSTILE[:MAX_USERS]))
    assert_chart(render_strictly(replace(report(90, 0), top_users=users)))


@pytest.mark.parametrize("label", HOSTILE, ids=range(len(HOSTILE)))
def test_names_are_cleaned_to_plain_short_text(label):
    cleaned = clean_text(label, LABEL_CHARS)
    assert 1 <= len(cleaned) <= LABEL_CHARS
    assert cleaned == cleaned.strip()
    assert not any(ord(c) < 32 or c in "\u200b\u202e\u202c\ufeff" for c in cleaned)


def test_cleaning_keeps_ordinary_names_and_dollars():
    assert clean_text("Ann  $\\frac{1}{0}$", 32) == "Ann $\\frac{1}{0}$"
    assert clean_text("a\nb\tc", 32) == "a b c"
    assert clean_text("x" * 500, 32) == "x" * 31 + "…"
    assert clean_text("山田", 32) == "??"  # not in the font: shown as such, no warning
    assert clean_text("\x00\u200b", 32) == "?"


async def test_rendering_happens_in_the_cpu_pool(monkeypatch):
    threads: list[str] = []
    original = chart.render_usage_chart

    def spy(usage: UsageReport) -> bytes:
        threads.append(threading.current_thread().name)
        return original(usage)

    monkeypatch.setattr(chart, "render_usage_chart", spy)
    assert_chart(await render_usage_chart_async(report(7, 3)))
    assert threads and threads[0].startswith("bananabot-cpu")
    assert threads[0] != threading.current_thread().name


async def test_the_event_loop_keeps_ticking_while_a_90_day_chart_renders():
    await render_usage_chart_async(report(1, 1))  # matplotlib imported, fonts loaded
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.001)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    started = time.perf_counter()
    png = await render_usage_chart_async(report(90, 10))
    elapsed = time.perf_counter() - started
    stop.set()
    await beating
    assert_chart(png)
    # on the loop the heartbeat could not have run at all while the chart was drawn
    assert ticks >= 3, f"{ticks} heartbeats in {elapsed:.3f} s"


def test_renders_in_several_threads_at_once_are_identical():
    usage = report(30, 10, title="$x$ שלום 😀")
    expected = render_usage_chart(usage)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(render_usage_chart, [usage] * 8))
    assert all(result == expected for result in results)


def test_importing_the_module_does_not_import_matplotlib_nor_ever_pyplot():
    code = (
        "import sys, datetime\n"
        "from bot.media import chart\n"
        "assert 'matplotlib' not in sys.modules, 'imported eagerly'\n"
        "d = datetime.date(2025, 1, 1)\n"
        "chart.render_usage_chart(chart.UsageReport('t', d, d, (chart.DailyUsage(d, 1),)))\n"
        "assert 'matplotlib.figure' in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


NAMES = st.text(max_size=80) | st.sampled_from(HOSTILE)


@st.composite
def reports(draw: st.DrawFn) -> UsageReport:
    first = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 1, 1)))
    days = draw(st.integers(min_value=1, max_value=90))
    used = draw(st.sets(st.integers(min_value=0, max_value=days - 1), max_size=days))
    daily = tuple(
        DailyUsage(
            first + timedelta(days=offset),
            draw(st.integers(min_value=0, max_value=10**9)),
            draw(st.integers(min_value=0, max_value=10**6)),
        )
        for offset in sorted(used)
    )
    users = draw(
        st.lists(
            st.builds(UserUsage, NAMES, st.integers(min_value=0, max_value=10**9)), max_size=15
        )
    )
    title = draw(NAMES)
    return UsageReport(title, first, first + timedelta(days=days - 1), daily, tuple(users))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports())
def test_any_report_renders(usage):
    assert_chart(render_strictly(usage))
