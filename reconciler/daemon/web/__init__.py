"""The daemon's web status page, served at ``/`` on its listen address.

Modules: ``view`` and ``history`` (statuses, diffs and revisions → what the page shows; pure),
``commits`` (git's author and subject per revision), ``state`` (the tick listener that keeps it),
``actions`` (the action token, CSRF and the checks), ``routes`` (the paths) and ``static``
(the page's HTML, JS and CSS: ours, no build, no other origin).
"""

from __future__ import annotations

from reconciler.daemon.daemon import Daemon
from reconciler.daemon.source import GitSource
from reconciler.daemon.web.actions import Acted, Actor, Guard, action_token
from reconciler.daemon.web.commits import CommitLog
from reconciler.daemon.web.routes import Actions, WebPage
from reconciler.daemon.web.state import PageState

__all__ = ["Acted", "Actions", "Actor", "Guard", "PageState", "WebPage", "action_token", "attach"]


def attach(
    daemon: Daemon,
    *,
    actor: Actor | None = None,
    token: bytes | None = None,
    external_url: str | None = None,
) -> WebPage:
    """The page for ``daemon``, told of each of its ticks; actions only with both an actor and a
    token, from the page's own origin or ``external_url``'s."""
    source = daemon.source
    repo = source.settings.repo if isinstance(source, GitSource) else ""
    acting = actor is not None and token is not None
    state = PageState(report=daemon.report, commits=CommitLog.of(source), repo=repo, actions=acting)
    daemon.listeners.add(state.listen)
    actions = None
    if actor is not None and token is not None:
        guard = Guard(token=token, external_url=external_url)
        actions = Actions(actor=_retrying(actor, daemon), guard=guard, after=daemon.trigger)
    return WebPage(state, actions=actions)


def _retrying(actor: Actor, daemon: Daemon) -> Actor:
    """``actor`` with retry done by the daemon, as ``reconciler retry`` does it: it forgets a
    failure recorded in AWS (a tag), which is no commit, so no checkout is involved."""

    def act(action: str, service: str, reason: str) -> Acted:
        if action == "retry":
            return Acted(commit=None, summary=daemon.retry(service))
        return actor(action, service, reason)

    return act
