"""The bot's HTTP side: the callback receiver, and /healthz and /metrics on their own listener."""
