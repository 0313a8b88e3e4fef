"""The daemon: follow a git branch, tick, lease, serve health, status, metrics and the webhook."""
