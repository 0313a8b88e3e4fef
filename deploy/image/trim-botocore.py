"""Drop the API models of the AWS services the reconciler never calls from botocore's data.

botocore ships a model for each of ~450 services (28 MiB of the image's venv); a client loads
only its own service's, so the others are dead weight. Run by the Dockerfile's builder stage
with the venv's interpreter; tests/test_image.py checks that every service the reconciler calls
(the calls scan of tests/test_deploy_files.py) is kept.

    python trim-botocore.py            # trims the botocore this interpreter imports
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# Every service reconciler.aws is asked for (the daemon, the CLI, the lease), and STS, which the
# SDK's credential chain uses (AssumeRole, web identity).
KEEP = frozenset({"autoscaling", "cloudwatch", "dynamodb", "ec2", "ecr", "elbv2", "iam", "sts"})


def trim(data: Path) -> tuple[int, int]:
    """Removes every service directory under ``data`` not in KEEP; (removed, kept)."""
    removed = kept = 0
    for entry in sorted(data.iterdir()):
        if not entry.is_dir():  # endpoints.json, partitions.json, _retry.json, ...: all needed
            continue
        if entry.name in KEEP:
            kept += 1
        else:
            shutil.rmtree(entry)
            removed += 1
    missing = KEEP - {e.name for e in data.iterdir()}
    if missing:
        raise SystemExit(f"trim-botocore: not in {data}: {sorted(missing)}")
    return removed, kept


if __name__ == "__main__":
    import botocore

    data = Path(botocore.__file__).parent / "data"
    removed, kept = trim(data)
    print(f"trim-botocore: {data}: kept {kept} services, removed {removed}", file=sys.stderr)
