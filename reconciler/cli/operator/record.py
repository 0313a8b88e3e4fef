"""What AWS records of a service's rollouts, as ``Verdict``s for ``rollback --to previous``.

The launch template versions the reconciler made say which commit each holds; the refresh
history says how each version's rollout ended, and the failed tag why one failed
(``pipeline.status.history``). Only a refresh that ended ``Successful`` with no failure recorded
counts as "ran successfully".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reconciler import desired, errors
from reconciler.aws import Aws
from reconciler.cli.operator.edit import Located
from reconciler.cli.operator.locate import image_at
from reconciler.cli.operator.targets import Verdict
from reconciler.cli.operator.worktree import WorkTree
from reconciler.model import RefreshStatus
from reconciler.pipeline.observe import Observer
from reconciler.pipeline.status import Revision, history

# What a rollback asks to learn the verdicts: the checkout, the service's document there.
Verdicts = Callable[[WorkTree, Located], Sequence[Verdict]]


def aws_verdicts(make_aws: Callable[[str], Aws], *, path: str) -> Verdicts:
    """Verdicts read from AWS for the service as the work tree at ``path`` declares it."""

    def read(work: WorkTree, located: Located) -> Sequence[Verdict]:
        try:
            loaded = desired.load([work.root / path])
        except errors.InvalidDesiredState as exc:
            raise errors.OperatorError(f"cannot read the service to look it up: {exc}") from None
        spec = next(s for s in loaded.services if s.name == located.service)
        try:
            observed = Observer(make_aws(spec.region)).observe([spec])[spec.name]
        except errors.ReconcilerError as exc:
            raise errors.OperatorError(
                f"{spec.name}: cannot read which revisions ran successfully from AWS ({exc}); "
                "name the revision with --to REV"
            ) from None
        return [_verdict(work, located, r) for r in history(observed) if r.revision]

    return read


def _verdict(work: WorkTree, located: Located, revision: Revision) -> Verdict:
    assert revision.revision is not None
    image = image_at(
        work, revision=revision.revision, file=located.relative, service=located.service
    )
    ok = revision.outcome == RefreshStatus.SUCCESSFUL and not revision.failure
    if revision.failure:
        why = f"its rollout failed: {revision.failure}"
    elif revision.outcome:
        why = f"refresh {revision.outcome}"
    else:
        why = "no refresh recorded"
    return Verdict(revision=revision.revision, image=image, ok=ok, why=why)
