"""When the daemon ticks: an APScheduler ``BackgroundScheduler`` and its triggers.

- The tick job runs on an ``IntervalTrigger``, first at once. Its jitter keeps several daemons
  started together (a deploy) from ticking in lockstep.
- A tick returns the seconds until something is due again (a backoff that ends before the
  interval); the job's next run moves there with ``modify_job``, and the interval goes on
  from that run.
- ``poke()`` (the webhook) moves the next run to now. The tick job may have two instances, one
  running and one waiting behind it, so a poke during a tick is run right after that tick:
  the scheduler submits it, and a lock runs the two one after the other.
- Other periodic jobs (the lease's renewal) get an ``IntervalTrigger`` of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

TICK_JOB = "tick"
# A run missed while the process was busy is run once, however late.
_JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}


class Ticker:
    """Runs ``tick`` every ``interval`` seconds, sooner when it asks or when poked.

    ``tick`` returns the seconds until it is due again, or None when no sooner run is wanted
    (the daemon is stopping). Ticks never overlap.
    """

    def __init__(
        self, tick: Callable[[], float | None], *, interval: float, jitter: float = 0.0
    ) -> None:
        self.interval = interval
        self._tick = tick
        self._one_at_a_time = threading.Lock()
        self._lock = threading.Lock()  # held while changing the schedule, so stop() can end it
        self._stopped = False
        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults=_JOB_DEFAULTS)
        self._scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=interval, jitter=jitter or None, timezone=UTC),
            id=TICK_JOB,
            next_run_time=datetime.now(UTC),
            max_instances=2,  # the one running and the one a poke asked for
        )

    def every(self, seconds: float, job: Callable[[], None], *, name: str) -> None:
        """Run ``job`` every ``seconds`` too, on the same scheduler."""
        self._scheduler.add_job(job, IntervalTrigger(seconds=seconds, timezone=UTC), id=name)

    def start(self) -> None:
        self._scheduler.start()

    def poke(self) -> None:
        """Tick now, or right after the tick in flight."""
        self._run_in(0.0)

    def stop(self) -> None:
        """No more runs; waits for the ones in flight."""
        with self._lock:
            self._stopped = True
        self._scheduler.shutdown(wait=True)

    def _run(self) -> None:
        with self._one_at_a_time:
            delay = self._tick()
        if delay is not None and delay < self.interval:
            self._run_in(delay)

    def _run_in(self, delay: float) -> None:
        with self._lock:
            if not self._stopped:
                when = datetime.now(UTC) + timedelta(seconds=delay)
                self._scheduler.modify_job(TICK_JOB, next_run_time=when)
