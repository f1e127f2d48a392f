"""bot.logs: text or JSON lines, and the secret filter on every record."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from pydantic import SecretStr

from bot.logs import SecretFilter, configure, register_secrets, secret_values
from bot.settings import Settings
from providers.magnific import MagnificSettings
from providers.scrub import MASK, Scrubber
from tests.logcapture import captured_logs

KEY = "sk-test-SECRET-123"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (f"POST https://api.example/v1?key={KEY}&x=1", KEY),
        (
            "PATCH https://discord.com/api/v10/webhooks/123/tok-SECRET-abc/messages/@original",
            "tok-SECRET-abc",
        ),
        (
            "POST https://discord.com/api/v10/interactions/456/itok-SECRET-def/callback",
            "itok-SECRET-def",
        ),
        ("POST http://bot.example/callbacks/9f8e7d6c5b4a/cb-SECRET-ghi", "cb-SECRET-ghi"),
        ("{'Authorization': 'Bot MTIz.SECRET.xyz', 'Accept': 'json'}", "MTIz.SECRET.xyz"),
        ("Authorization: Bearer abc-SECRET-123", "abc-SECRET-123"),
        ('{"x-goog-api-key": "AIza-SECRET-456"}', "AIza-SECRET-456"),
        ("x-magnific-api-key: mg-SECRET-789", "mg-SECRET-789"),
        (
            "{'t': 'INTERACTION_CREATE', 'd': {'token': 'zz-SECRET-000', 'id': '1'}}",
            "zz-SECRET-000",
        ),
        ('{"webhook_secret": "whsec-SECRET-1"}', "whsec-SECRET-1"),
        ("args ('aW50ZXJhY3Rpb246MTIzOmFiYw-SECRET', 'x')", "aW50ZXJhY3Rpb246MTIzOmFiYw-SECRET"),
    ],
)
def test_patterns_are_masked_without_being_registered(text, hidden):
    scrubbed = SecretFilter().scrub(text)
    assert hidden not in scrubbed
    assert MASK in scrubbed


def test_registered_values_are_masked_anywhere_and_short_ones_ignored():
    secrets = SecretFilter(Scrubber([KEY, "abc", None, ""]))
    assert secrets.scrub(f"the key {KEY} and its quoted form sk%2Dtest ok abc") == (
        f"the key {MASK} and its quoted form sk%2Dtest ok abc"
    )
    secrets.add("p@ss/word+1")
    assert secrets.scrub("u=p%40ss%2Fword%2B1 p@ss/word+1") == f"u={MASK} {MASK}"


def test_every_part_of_a_record_is_masked():
    secrets = SecretFilter(Scrubber([KEY]))
    try:
        raise RuntimeError(f"failed with {KEY}")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "using %s", (KEY,), sys.exc_info(), sinfo=f"at {KEY}"
        )
    record.__dict__["field"] = f"url /callbacks/j/{KEY}"
    record.__dict__["nested"] = {"key": KEY}
    assert secrets.filter(record)
    formatted = logging.Formatter().format(record)
    assert KEY not in formatted and "RuntimeError" in formatted
    assert KEY not in record.__dict__["field"] and KEY not in record.__dict__["nested"]
    assert record.getMessage() == f"using {MASK}"


def test_aiosqlite_statement_lines_are_dropped():
    secrets = SecretFilter()
    debug = logging.LogRecord("aiosqlite", logging.DEBUG, __file__, 1, "executing %s", ("x",), None)
    warning = logging.LogRecord("aiosqlite", logging.WARNING, __file__, 1, "closed", (), None)
    assert not secrets.filter(debug)
    assert secrets.filter(warning)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_configure_writes_one_line_per_record_through_the_filter(fmt):
    with captured_logs(fmt, logging.INFO) as stream:
        register_secrets(KEY)
        log = logging.getLogger("bot.test")
        log.debug("not shown")
        log.info("two\nlines with %s", KEY, extra={"job_id": "j1", "seconds": 1.5})
        try:
            raise ValueError(KEY)
        except ValueError:
            log.exception("failed")
    text = stream.getvalue()
    assert KEY not in text and "not shown" not in text
    if fmt == "json":
        first, second = (json.loads(line) for line in text.splitlines())
        assert first["level"] == "INFO" and first["logger"] == "bot.test"
        assert first["message"] == f"two\nlines with {MASK}"
        assert (first["job_id"], first["seconds"]) == ("j1", 1.5)
        assert first["time"].endswith("+00:00")
        assert second["message"] == "failed" and "ValueError" in second["exc_info"]
    else:
        assert "INFO bot.test: two" in text and "ERROR bot.test: failed" in text


def test_configure_replaces_its_own_handler_and_refuses_unknown_formats():
    root = logging.getLogger()
    level = root.level
    try:
        first = configure(logging.INFO, "text")
        second = configure(logging.INFO, "json")
        assert first not in root.handlers and second in root.handlers
        with pytest.raises(ValueError, match="LOG_FORMAT"):
            configure(logging.INFO, "yaml")
    finally:
        root.removeHandler(second)
        root.setLevel(level)


def test_secret_values_are_read_from_settings():
    settings = Settings(_env_file=None, discord_token=SecretStr("discord-token-1"))
    magnific = MagnificSettings.from_values(
        api_key=SecretStr("mg-key-1"), webhook_secret=SecretStr("whsec-1")
    )
    assert set(secret_values(settings, magnific)) == {"discord-token-1", "mg-key-1", "whsec-1"}


def test_log_format_setting(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert Settings(_env_file=None).log_format == "json"
