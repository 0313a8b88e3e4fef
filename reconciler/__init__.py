"""asg-reconciler: a GitOps reconciler for EC2 Auto Scaling deployments."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    # setuptools-scm writes the git tag into the installed metadata (pyproject.toml); one fact.
    __version__ = _version("asg-reconciler")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0+unknown"
