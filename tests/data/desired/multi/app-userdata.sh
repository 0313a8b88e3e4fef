#!/bin/bash
set -euo pipefail
echo "starting ${SERVICE} (tag ${IMAGE_TAG}, digest ${IMAGE_DIGEST})"
docker run -d --name ${SERVICE} --restart always -p 8080:8080 ${IMAGE}
