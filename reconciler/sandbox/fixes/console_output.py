"""GetConsoleOutput says why an instance's app never started, as an EC2 console would.

On EC2 the console output ("Get system log") carries cloud-init's run of the UserData, so a
failed ``docker pull`` shows there: for ECR without a login, docker's ``no basic auth
credentials``. moto 5.2.5 answers every instance with a fixed kernel log; this appends what the
sandbox found when the instance booted (``behaviour.boot_failure``), so an operator debugging a
rollout against the sandbox looks where they would on AWS. The sandbox reads the script rather
than running it, and the line says so.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.core.types import Base64EncodedString
from moto.core.utils import utcnow
from moto.ec2.responses.general import SAMPLE_CONSOLE_OUTPUT, General

from reconciler.sandbox import behaviour
from reconciler.sandbox.patching import patch


def install() -> None:
    patch(General, "get_console_output", _get_console_output)


def console_text(instance: object) -> str:
    """The console output of ``instance``: the boot, then the boot script's failure if any."""
    failure = behaviour.boot_failure(instance)
    if failure is None:
        return SAMPLE_CONSOLE_OUTPUT
    return (
        f"{SAMPLE_CONSOLE_OUTPUT}cloud-init: running the instance's UserData\n"
        "cloud-init: Error response from daemon: no basic auth credentials\n"
        f"cloud-init: sandbox: the boot script never started the app: {failure}\n"
        "cloud-init: Failed to run module scripts_user\n"
    )


def _get_console_output(self: General) -> ActionResult:
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    result = {
        "InstanceId": instance.id,
        "Timestamp": utcnow(),
        "Output": Base64EncodedString.from_raw_string(console_text(instance)),
    }
    return ActionResult(result)
