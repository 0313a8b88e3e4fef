"""The daemon: follow a git branch, tick, lease, serve health, status, metrics and the webhook.

    run        ``reconciler run``: build the daemon from its configuration, serve, stop on a signal
    daemon     the tick: lease → fetch → load → compute → apply → record
    revisions  following the source: the newest revision, the last good one, refusals
    backoff    when the fetch and each service may be tried again
    gate       the clean stop: no new AWS call once stopping
    report     what is told: /status, /readyz, metrics and the log line of each pass
    ticker     when ticks run: APScheduler's triggers, and a poke for the webhook
    lease      the DynamoDB leader lease: one writer
    server     HTTP: health, readiness, status, metrics, the webhook
    metrics    the Prometheus series
    source     where desired state comes from: a git branch or a directory
    git        the one runner of git: timeouts, no prompts, redaction, safe archive extraction

Nothing is imported here, so ``from reconciler.daemon import source`` stays cheap for the CLI.
"""
