"""A server's policy applied to one request: each rule refuses with a reason and a way out."""

from __future__ import annotations

from bot.moderation.access import Asked, Refusal, RefusalReason, Requester, check_access
from bot.moderation.policy import Ban, GuildPolicy

ME = Requester(user_id="u1", channel_id="c1", role_ids=frozenset({"r1"}))
A_FOX = Asked("a fox")


def no_terms(prompt: str) -> str | None:
    return None


def refused(policy: GuildPolicy, asked: Asked = A_FOX, who: Requester = ME) -> Refusal:
    refusal = check_access(policy, who, asked, no_terms)
    assert refusal is not None
    return refusal


def test_the_defaults_allow_everything():
    assert (
        check_access(
            GuildPolicy(), ME, Asked("a fox", edit=True, resolution="4K", grounding=True), no_terms
        )
        is None
    )


def test_each_rule_refuses_with_its_reason():
    assert refused(GuildPolicy(bans={"u1": Ban(reason="spam")})).reason is RefusalReason.BANNED
    assert "spam" in refused(GuildPolicy(bans={"u1": Ban(reason="spam")})).message
    assert refused(GuildPolicy(allowed_channels=("c9",))).reason is RefusalReason.CHANNEL
    assert "<#c9>" in refused(GuildPolicy(allowed_channels=("c9",))).message
    assert refused(GuildPolicy(required_role="r9")).reason is RefusalReason.ROLE
    assert (
        refused(GuildPolicy(edit_allowed=False), Asked("x", edit=True)).reason is RefusalReason.EDIT
    )
    assert (
        refused(GuildPolicy(max_resolution="2K"), Asked("x", resolution="4K")).reason
        is RefusalReason.RESOLUTION
    )
    assert (
        refused(GuildPolicy(grounding_allowed=False), Asked("x", grounding=True)).reason
        is RefusalReason.GROUNDING
    )


def test_a_thread_follows_its_parent_channel():
    policy = GuildPolicy(allowed_channels=("c1",))
    thread = Requester(user_id="u1", channel_id="t1", parent_id="c1")
    assert check_access(policy, thread, Asked("x"), no_terms) is None
    elsewhere = Requester(user_id="u1", channel_id="t2", parent_id="c2")
    assert refused(policy, who=elsewhere).reason is RefusalReason.CHANNEL


def test_lower_resolutions_and_the_default_pass_the_limit():
    policy = GuildPolicy(max_resolution="2K")
    for resolution in (None, "1K", "2K"):
        assert check_access(policy, ME, Asked("x", resolution=resolution), no_terms) is None


def test_a_blocked_term_is_recorded_but_never_named_to_the_member():
    def finds(prompt: str) -> str | None:
        return "secret-term" if "bad" in prompt else None

    refusal = check_access(GuildPolicy(), ME, Asked("a bad fox"), finds)
    assert refusal is not None and refusal.reason is RefusalReason.BLOCKED_TERM
    assert refusal.term == "secret-term" and "secret-term" not in refusal.message


def test_role_quotas_give_the_highest_that_applies():
    policy = GuildPolicy(role_quotas={"r1": 5, "r2": 50, "r3": 500})
    assert policy.allowance({"r1", "r2"}, 20) == 50
    assert policy.allowance({"r9"}, 20) == 20
    assert policy.allowance((), None) is None
    assert GuildPolicy().budget() is None
    assert GuildPolicy(budget_monthly=9).budget() is not None
