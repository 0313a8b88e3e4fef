"""A process that fetches over SSH with a 1 s timeout, then lists the zombies left to it.

Run by tests/test_zombies.py, either as the subreaper itself (``--subreaper``: what Python is
as a container's PID 1, orphans re-parented to it and never waited for) or under
``tini -s`` (tini the subreaper, as it is PID 1 in the image). The fake ``ssh`` outlives the git
that started it: git is killed at the timeout, ``ssh`` exits a moment later, orphaned.

    python -m tests.zombie_fetch [--subreaper] CACHE_DIR
Prints one JSON line: {"error": ..., "zombies": [[pid, ppid, comm], ...]}.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time
from pathlib import Path

from reconciler import errors
from reconciler.daemon.source import GitSettings, GitSource

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def zombies(parents: set[int]) -> list[tuple[int, int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state == "Z" and int(ppid) in parents:
            found.append((int(entry.name), int(ppid), comm))
    return found


def main(argv: list[str]) -> int:
    subreaper = argv[0] == "--subreaper"
    cache = Path(argv[-1])
    if subreaper and ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    settings = GitSettings(
        repo="ssh://git@127.0.0.1/desired.git", branch="main", path="desired",
        cache_dir=cache, timeout=1.0,
    )  # fmt: skip
    error = None
    try:
        GitSource(settings).fetch()
    except errors.ReconcilerError as exc:
        error = str(exc)
    time.sleep(3.0)  # the orphaned ssh exits after 2 s
    print(json.dumps({"error": error, "zombies": zombies({os.getpid(), os.getppid()})}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
