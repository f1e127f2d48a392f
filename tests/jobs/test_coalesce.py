"""Coalescing callbacks: one status check per window, except once for a "finished" claim."""

from __future__ import annotations

from bot.jobs.coalesce import Coalescer


def test_repeats_within_a_window_fold_into_one_check_at_its_end() -> None:
    c = Coalescer(2.0)
    assert c.when("j", None, 0.0) == 0.0
    assert c.when("j", None, 0.5) == 2.0
    assert c.when("j", None, 1.0) is None  # the check at 2.0 covers it
    assert c.when("j", "msg_1", 3.0) == 4.0  # at least a window after the last
    assert c.when("j", "msg_1", 6.0) is None  # a delivery seen before


def test_the_first_finished_claim_is_checked_at_once_and_only_once() -> None:
    c = Coalescer(2.0)
    assert c.when("j", "started", 0.0) == 0.0
    # the task finished 0.5 s after it started: checked now, not when the window ends
    assert c.when("j", "done", 0.5, finished=True) == 0.5
    # more "finished" claims (forged or repeated with new ids) are coalesced as any others
    assert c.when("j", "done2", 0.6, finished=True) == 2.0
    assert c.when("j", "done3", 0.7, finished=True) is None
    assert c.when("j", "done", 5.0, finished=True) is None  # seen before


def test_a_first_callback_that_says_finished_uses_up_the_exception() -> None:
    c = Coalescer(2.0)
    assert c.when("j", None, 0.0, finished=True) == 0.0
    assert c.when("j", None, 0.5, finished=True) == 2.0
