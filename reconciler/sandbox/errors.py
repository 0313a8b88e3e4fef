"""AWS error codes the sandbox answers with, as moto service exceptions.

moto serializes a ``ServiceException`` with the code and HTTP status that botocore's service model
gives the matching fault, so boto3 raises exactly what it would against AWS. They are emulated
AWS answers, not the reconciler's errors: the sandbox's own failure (it cannot serve) is
``reconciler.errors.SandboxError``, in the product's exception tree.
"""

from __future__ import annotations

from moto.autoscaling.exceptions import AutoscalingClientError
from moto.ec2.exceptions import EC2ClientError
from moto.elbv2.exceptions import ELBClientError


class ValidationError(AutoscalingClientError):
    code = "ValidationError"


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"


class IrreversibleInstanceRefresh(AutoscalingClientError):
    code = "IrreversibleInstanceRefresh"


class InvalidNextToken(AutoscalingClientError):
    code = "InvalidNextToken"


class IdempotentParameterMismatch(EC2ClientError):
    code = "IdempotentParameterMismatch"


class ElbError(ELBClientError):
    """An ELB error with AWS's code and message: ``ElbError("TargetGroupNotFound", "…")``."""
