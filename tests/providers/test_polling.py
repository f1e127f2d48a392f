"""The adaptive poll schedule: first near the typical time, then a capped backoff."""

from providers.polling import poll_delay, poll_delays


def test_first_check_is_a_little_before_the_typical_completion_time():
    assert poll_delay(0, 40.0) == 24.0
    assert poll_delay(0, 1.0) == 2.0  # never sooner than the floor


def test_backoff_grows_to_the_cap():
    delays = [poll_delay(n, 40.0) for n in range(1, 12)]
    assert delays[0] == 2.0
    assert delays == sorted(delays)
    assert max(delays) == 15.0
    generator = poll_delays(40.0)
    assert [next(generator) for _ in range(3)] == [24.0, 2.0, 3.0]
