"""Slash commands and context menus, each module a discord.py extension with ``setup(bot)``."""
