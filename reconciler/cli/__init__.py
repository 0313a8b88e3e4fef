"""The command line, ``reconciler COMMAND``: parsing, exit codes, printing; the work is elsewhere.

- ``main``: the entry point (the ``reconciler`` console script and ``python -m reconciler``),
- ``parser``: one function per command builds its subparser; ``options``: the shared options,
- ``commands``: the handlers; ``exits``: the exit codes,
- ``operator``: rollback and pause, which author commits; ``render``: diffs and plans for people
  and programs; ``report``: status, history and a failed rollout's aftermath for people;
  ``demo``: ``reconciler demo``; ``logs``: logging set-up.
"""

from reconciler.cli.main import main
from reconciler.cli.parser import build_parser

__all__ = ["build_parser", "main"]
