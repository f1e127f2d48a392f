"""Slash commands, context menus and buttons (the only code that talks to Discord users)."""
