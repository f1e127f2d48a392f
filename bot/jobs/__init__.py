"""The core: jobs from admission to one delivery or one refund. No ``import discord``, no SQL.

``engine`` is the facade the edges use; the stages are ``admission`` (validate, price, admit
with credits), ``submission`` (dispatch within provider limits, create requests), ``tracking``
(polls and callback hints into one ``apply``), ``delivery`` (download, notify once, commit) and
``recovery`` (resume after a restart). ``ports`` declares what the core needs from a storage
backend and from whatever shows results (a notifier); ``models``, ``states``, ``quota`` and
``config`` are the types they speak in.
"""
