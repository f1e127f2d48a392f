"""The Discord side: the only package that imports ``discord``.

``client`` (the bot: extensions, buttons, command sync), ``cogs/`` (slash commands and the
context menu, loaded as extensions), ``buttons`` and ``modals`` (persistent result buttons, the
edit modal), ``intake`` (interaction → admitted job), ``notifier`` (progress, results and
failures as Discord messages), ``texts`` (what the bot says), ``errors`` (unexpected errors
with a reference), ``services`` (what the composition root hands in), ``endpoints``
(Discord-compatible servers).
"""
