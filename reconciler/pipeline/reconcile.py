"""One pass of the pipeline for a set of services: resolve, observe, diff, plan, and apply.

Each service is independent: an error in one (an image that does not exist, a resource owned by
someone else) is recorded on that service and the others go on.

Services are observed per account (``spec.aws``: the reconciler's own credentials, or a role it
assumes), each account with an ``Observer`` of its own, which batches its reads per region: so
the batched Describe calls are per (account, region), and an account that fails (AssumeRole
refused) stops only its own services.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler import errors
from reconciler.aws import Aws
from reconciler.images import userdata
from reconciler.images.resolver import ImageResolver
from reconciler.model import (
    DEFAULT_OWNER,
    AwsAccess,
    DesiredService,
    ObservedService,
    ServiceOutcome,
    ServiceSpec,
)
from reconciler.pipeline.apply import apply
from reconciler.pipeline.diff import diff
from reconciler.pipeline.observe import Observer
from reconciler.pipeline.pins import record_pins
from reconciler.pipeline.plan import plan
from reconciler.pipeline.writers import Writer, check_and_stamp

# ServiceOutcome lives in the model; importers of it from here keep working.
__all__ = ["Reconciler", "ServiceOutcome", "prepare"]


@dataclass
class Reconciler:
    aws: Aws
    resolver: ImageResolver
    owner: str = DEFAULT_OWNER
    # Who writes, judged against the group's writer tag before each write (``writers``); None
    # writes unchecked (tests of the pipeline alone).
    writer: Writer | None = None
    observer: Observer = field(init=False)  # the reconciler's own account's
    _observers: dict[AwsAccess, Observer] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.observer = Observer(self.aws)

    def aws_for(self, spec: ServiceSpec) -> Aws:
        """The clients of ``spec``'s account."""
        return self.aws.assumed(spec.aws)

    def observer_for(self, access: AwsAccess) -> Observer:
        """The account's Observer, kept for the process's life: its write listeners are on the
        account's clients, so one per account (accounts are few; each forgets its services)."""
        if access.role_arn is None:
            return self.observer
        if access not in self._observers:
            self._observers[access] = Observer(self.aws.assumed(access))
        return self._observers[access]

    def compute(self, specs: Sequence[ServiceSpec]) -> list[ServiceOutcome]:
        """Resolve, observe, diff and plan every service; writes nothing."""
        outcomes = [self._prepare(spec) for spec in specs]
        by_account: dict[AwsAccess, list[ServiceOutcome]] = {}
        for outcome in outcomes:
            if outcome.error is None:
                by_account.setdefault(outcome.spec.aws, []).append(outcome)
        for access, ready in by_account.items():
            self._observe(self.observer_for(access), ready)
        return outcomes

    def _observe(self, observer: Observer, ready: Sequence[ServiceOutcome]) -> None:
        try:
            observed = observer.observe(
                [o.spec for o in ready],
                # A group about to be rolled out needs its refresh history read this tick.
                fingerprints={o.name: o.desired.fingerprint for o in ready if o.desired},
            )
        except errors.ReconcilerError as exc:
            for outcome in ready:
                outcome.error = exc
            return
        for outcome in ready:
            self._diff_and_plan(outcome, observed[outcome.name])

    def apply(self, outcomes: Sequence[ServiceOutcome]) -> None:
        """Apply each planned service; a failure is recorded on its service only. A service
        seen in sync gets its pinned record instead (``pins``), once."""
        record_pins(self.aws, [o for o in outcomes if o.plan is not None and o.plan.empty])
        for outcome in outcomes:
            if outcome.error is not None or outcome.plan is None or outcome.plan.empty:
                continue
            try:
                if self.writer is not None:
                    check_and_stamp(outcome, self.writer)
                    assert outcome.plan is not None
                outcome.applied = apply(
                    self.aws_for(outcome.spec), outcome.plan, region=outcome.spec.region
                )
            except errors.ReconcilerError as exc:
                outcome.error = exc

    def _prepare(self, spec: ServiceSpec) -> ServiceOutcome:
        outcome = ServiceOutcome(spec=spec)
        try:
            outcome.desired = prepare(spec, self.resolver)
        except errors.ReconcilerError as exc:
            outcome.error = exc
        return outcome

    def _diff_and_plan(self, outcome: ServiceOutcome, observed: ObservedService) -> None:
        assert outcome.desired is not None
        outcome.observed = observed
        outcome.diff = diff(outcome.desired, observed, owner=self.owner)
        outcome.plan = plan(
            outcome.desired,
            observed,
            outcome.diff,
            owner=self.owner,
            revision=outcome.spec.source.revision,
        )


def prepare(spec: ServiceSpec, resolver: ImageResolver) -> DesiredService:
    """Pin the image to a digest and render the UserData: the desired state to compare."""
    image = resolver.resolve(spec.image, region=spec.region, max_age=spec.image_poll_interval)
    rendered = userdata.render_service(spec, image)
    return DesiredService(
        spec=spec,
        image=image,
        user_data=rendered,
        fingerprint=userdata.fingerprint(
            launch_template_name=spec.launch_template.name, user_data=rendered
        ),
    )
