"""Notifications: ``reconciler run --notify KIND:TARGET``.

``events`` derives what to tell from each tick (pure), ``sinks`` reads ``--notify`` and builds
each receiver's request (signed JSON, or Slack's format), ``delivery`` sends them from a thread
per sink, and ``notifier`` is the daemon's listener that ties them together.
"""
