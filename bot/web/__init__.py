"""The aiohttp app inside the bot process: provider callbacks and /healthz."""
