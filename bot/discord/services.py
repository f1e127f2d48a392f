"""What the composition root hands the Discord side: the services every command, button and
modal uses, reached from an interaction through its client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, cast

import discord

from bot.discord.intake import JobIntake
from bot.jobs.engine import JobEngine
from bot.jobs.metrics import Metrics
from bot.jobs.ports import MetaStore
from bot.moderation.ports import GuildStore


@dataclass(frozen=True)
class Services:
    """The bot's collaborators, built once by the composition root."""

    engine: JobEngine
    intake: JobIntake
    #: where the hash of the last application-command sync is kept
    sync_record: MetaStore
    #: each server's settings, audit log and usage
    guilds: GuildStore
    #: where the Discord side measures (acknowledgement latency); the runtime's registry
    metrics: Metrics = field(default_factory=Metrics)


class HasServices(Protocol):
    """A client carrying :class:`Services` (the bot does)."""

    @property
    def services(self) -> Services:
        """The bot's collaborators."""


def services_of(client: discord.Client) -> Services:
    """The services of the client an interaction arrived on."""
    return cast(HasServices, client).services
