"""asg-reconciler: a GitOps reconciler for EC2 Auto Scaling deployments."""

__version__ = "0.1.0"
