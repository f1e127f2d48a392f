"""Signed Discord attachment URLs: expiry from the ``ex`` parameter."""

from bot.media.cdn import expired_urls, url_expires_at

URL = "https://cdn.discordapp.com/attachments/1/2/a.png?ex=6740a1b2&is=673f5032&hm=ff"


def test_expiry_is_read_from_ex():
    assert url_expires_at(URL) == float(0x6740A1B2)
    assert url_expires_at("https://example.com/a.png") is None
    assert url_expires_at("https://x/a.png?ex=zz") is None


def test_expired_includes_a_margin():
    at = float(0x6740A1B2)
    assert expired_urls([URL], at - 3600) == []
    assert expired_urls([URL], at - 60) == [URL]
    assert expired_urls(["https://example.com/a.png"], at + 10**6) == []
