"""A server's rules applied to an interaction: its policy read once per request, the
requester's roles and channel (a thread's parent), and the blocked-term matcher compiled once
per list of terms. Refusals are recorded in the server's audit log."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import discord

from bot.discord.audit import AuditLog
from bot.jobs.models import Limits
from bot.moderation.access import Asked, Refusal, Requester, TermFinder, check_access
from bot.moderation.audit import AuditEvent, AuditKind
from bot.moderation.policy import GuildPolicy
from bot.moderation.ports import GuildStore
from bot.moderation.terms import TermMatcher, parse_term
from providers.base import GenerationRequest, Mode

#: compiled term lists kept, at most (one per server in use)
MAX_MATCHERS = 1000


@dataclass(frozen=True)
class Screened:
    """What a server's rules say about one request: a refusal, or the requester's limits."""

    refusal: Refusal | None
    limits: Limits | None = None


def requester_of(interaction: discord.Interaction) -> Requester:
    """Who asks and where, as the policy sees it."""
    channel = interaction.channel
    parent = channel.parent_id if isinstance(channel, discord.Thread) else None
    user = interaction.user
    roles = frozenset(str(r.id) for r in user.roles) if isinstance(user, discord.Member) else None
    return Requester(
        user_id=str(user.id),
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        parent_id=str(parent) if parent else None,
        role_ids=roles or frozenset(),
    )


class ServerRules:
    """Reads each server's policy and applies it to requests."""

    def __init__(self, guilds: GuildStore, default_allowance: int | None) -> None:
        self.guilds = guilds
        self.default_allowance = default_allowance
        self._matchers: OrderedDict[tuple[str, ...], TermFinder] = OrderedDict()

    async def policy(self, interaction: discord.Interaction) -> GuildPolicy | None:
        """The policy of the server the interaction came from (None in a DM)."""
        if interaction.guild_id is None:
            return None
        return await self.guilds.policy(str(interaction.guild_id))

    def finder(self, terms: tuple[str, ...]) -> TermFinder:
        """The compiled matcher of a list of blocked terms (cached)."""
        found = self._matchers.get(terms)
        if found is None:
            matcher = TermMatcher([parse_term(term) for term in terms])

            def found(prompt: str) -> str | None:
                match = matcher.first_match(prompt)
                return match.text if match is not None else None

            self._matchers[terms] = found
            while len(self._matchers) > MAX_MATCHERS:
                self._matchers.popitem(last=False)
        else:
            self._matchers.move_to_end(terms)
        return found

    async def screen(
        self,
        interaction: discord.Interaction,
        request: GenerationRequest,
        audit: AuditLog | None,
        policy: GuildPolicy | None = None,
    ) -> Screened:
        """Apply the server's rules to ``request`` (nothing to apply in a DM); a refusal is
        recorded in ``audit``."""
        policy = policy or await self.policy(interaction)
        if policy is None:
            return Screened(refusal=None)
        requester = requester_of(interaction)
        asked = Asked(
            prompt=request.prompt,
            edit=request.mode is Mode.EDIT,
            resolution=request.resolution,
            grounding=request.grounding,
        )
        refusal = check_access(policy, requester, asked, self.finder(policy.blocked_terms))
        if refusal is not None:
            if audit is not None:
                await audit.record(self._refusal_event(interaction, requester, asked, refusal))
            return Screened(refusal=refusal)
        allowance = policy.allowance(requester.role_ids, self.default_allowance)
        return Screened(refusal=None, limits=Limits(allowance=allowance, budget=policy.budget()))

    @staticmethod
    def _refusal_event(
        interaction: discord.Interaction, requester: Requester, asked: Asked, refusal: Refusal
    ) -> AuditEvent:
        return AuditEvent(
            guild_id=str(interaction.guild_id),
            kind=AuditKind.REFUSED,
            at=time.time(),
            actor_id=requester.user_id,
            channel_id=requester.channel_id,
            detail={"reason": refusal.reason.value, "term": refusal.term, "prompt": asked.prompt},
        )
