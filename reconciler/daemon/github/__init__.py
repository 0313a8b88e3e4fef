"""GitHub commit statuses and deployments for each service's rollout.

``settings`` reads the token and the repository, ``reporter`` turns each tick into the posts it
calls for (pure: each transition once), ``client`` sends one post with GitHub's retry rules, and
``worker`` sends them in order on a thread of its own, from a bounded queue, so the tick never
waits for GitHub.
"""
