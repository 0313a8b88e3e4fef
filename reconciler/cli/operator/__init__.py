"""Operator commands that author commits in a checkout of the desired repository.

``reconciler rollback SERVICE`` and ``reconciler pause SERVICE`` never touch AWS: they write the
change into the desired file as a commit (optionally pushed), and the daemon rolls it out like
any other commit. So a rollback is reviewed, recorded and reverted like a deploy.

- **rollback** finds the image the service had at an earlier revision (``previous``: the newest
  commit before HEAD whose image differs from HEAD's and last ran successfully, as AWS records
  it, ``targets``; or any git revision named with ``--to``), shows the change and why that
  target, asks for confirmation (``confirm``), rewrites only the image fields of the
  service's document in place (comments and formatting stay), checks the result validates, and
  commits with a message saying what was rolled back, from what, to what and why.
- **pause** sets ``spec.paused: true`` (``--resume`` removes it): the reconciler then still shows
  the diff but applies nothing for the service.

Both are one algorithm: given an ``Authoring`` (which service in which checkout, and how to
commit), the command builds an ``Edit`` (what to change in which desired file, and how to tell
and record it), and ``author`` applies the edit, validates and commits it. Both refuse a work
tree with uncommitted changes, and edit only block-style YAML (``key: value`` lines); a document
written in flow style is refused rather than re-dumped.

Modules: ``edit`` (the values), ``locate`` (the service's document and its history),
``targets`` (which revision "previous" is) and ``record`` (AWS's word on each revision),
``yamltext`` (editing YAML text in place), ``worktree`` (git in the checkout), ``author`` and
``commands``.
"""

from reconciler.cli.operator.author import author
from reconciler.cli.operator.commands import PREVIOUS, pause, rollback
from reconciler.cli.operator.edit import Authored, Authoring, Edit, Image, Located
from reconciler.cli.operator.locate import candidates, image_at, locate
from reconciler.cli.operator.record import Verdicts, aws_verdicts
from reconciler.cli.operator.targets import Candidate, Choice, Verdict, choose_previous
from reconciler.cli.operator.worktree import WorkTree
from reconciler.cli.operator.yamltext import set_image, set_paused

__all__ = [
    "PREVIOUS",
    "Authored",
    "Authoring",
    "Candidate",
    "Choice",
    "Edit",
    "Image",
    "Located",
    "Verdict",
    "Verdicts",
    "WorkTree",
    "author",
    "aws_verdicts",
    "candidates",
    "choose_previous",
    "image_at",
    "locate",
    "pause",
    "rollback",
    "set_image",
    "set_paused",
]
