"""Operator commands that author commits in a checkout of the desired repository.

``reconciler rollback SERVICE`` and ``reconciler pause SERVICE`` never touch AWS: they write the
change into the desired file as a commit (optionally pushed), and the daemon rolls it out like
any other commit. So a rollback is reviewed, recorded and reverted like a deploy.

- **rollback** finds the image the service had at an earlier revision (``previous``: the newest
  commit before HEAD in which the service's image differed from HEAD's; or any git revision),
  shows the change, rewrites only the image fields of the service's document in place (comments
  and formatting stay), checks the result validates, and commits with a message saying what was
  rolled back, from what, to what and why.
- **pause** sets ``spec.paused: true`` (``--resume`` removes it): the reconciler then still shows
  the diff but applies nothing for the service.

Both are one algorithm: given an ``Authoring`` (which service in which checkout, and how to
commit), the command builds an ``Edit`` (what to change in which desired file, and how to tell
and record it), and ``author`` applies the edit, validates and commits it. Both refuse a work
tree with uncommitted changes, and edit only block-style YAML (``key: value`` lines); a document
written in flow style is refused rather than re-dumped.

Modules: ``edit`` (the values), ``locate`` (the service's document and its history),
``yamltext`` (editing YAML text in place), ``worktree`` (git in the checkout), ``author`` and
``commands``.
"""

from reconciler.cli.operator.author import author
from reconciler.cli.operator.commands import PREVIOUS, pause, rollback
from reconciler.cli.operator.edit import Authored, Authoring, Edit, Image, Located
from reconciler.cli.operator.locate import image_at, locate, previous_image
from reconciler.cli.operator.worktree import WorkTree
from reconciler.cli.operator.yamltext import set_image, set_paused

__all__ = [
    "PREVIOUS",
    "Authored",
    "Authoring",
    "Edit",
    "Image",
    "Located",
    "WorkTree",
    "author",
    "image_at",
    "locate",
    "pause",
    "previous_image",
    "rollback",
    "set_image",
    "set_paused",
]
