"""The job engine: accept → submit → track (webhook or poll) → deliver. No ``import discord``."""
