ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE} AS builder
# The reconciler daemon as a container (deploy/compose.yaml runs it). BASE_IMAGE is any Debian-based
# image with python3 >= 3.11.4 (tarfile's extraction filters) and its venv module: python:3.12-slim
# by default, a debootstrap'd Debian trixie in deploy/smoke-container.sh. This stage builds a
# virtualenv; the final stage copies it.

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/reconciler
WORKDIR /src
COPY pyproject.toml README.md ./
# reconciler/schemas and reconciler/examples are symlinks to these two: the wheel needs their files.
COPY schemas ./schemas
COPY desired ./desired
COPY reconciler ./reconciler
RUN /opt/reconciler/bin/pip install --no-compile . \
 && /opt/reconciler/bin/reconciler validate /src/desired


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="asg-reconciler" \
      org.opencontainers.image.description="GitOps reconciler for EC2 Auto Scaling deployments" \
      org.opencontainers.image.licenses="Apache-2.0"

# git fetches the desired state; openssh-client lets it fetch over SSH and check SSH signatures
# (--verify-commits). No compiler, no pip cache, no apt lists.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 reconciler \
 && useradd --no-log-init --uid 10001 --gid reconciler --home-dir /home/reconciler --create-home \
        --shell /usr/sbin/nologin reconciler \
 && install -d -o reconciler -g reconciler -m 0750 /var/lib/asg-reconciler

COPY --from=builder /opt/reconciler /opt/reconciler

# `reconciler run` reads these when its flags are not given (see `reconciler run --help`).
# RECONCILER_REPO has no default: set it (a git URL, or a path mounted into the container).
ENV PATH=/opt/reconciler/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RECONCILER_BRANCH=main \
    RECONCILER_PATH=desired/ \
    RECONCILER_INTERVAL=30s \
    RECONCILER_LISTEN=0.0.0.0:9090 \
    RECONCILER_CACHE_DIR=/var/lib/asg-reconciler/git

USER 10001:10001
WORKDIR /home/reconciler
EXPOSE 9090

# Liveness only (/readyz says whether the desired revision has been reconciled). No curl in slim
# images: the interpreter that is there anyway makes the request, on the port RECONCILER_LISTEN names.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; port = os.environ.get('RECONCILER_LISTEN', '0.0.0.0:9090').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

ENTRYPOINT ["reconciler"]
CMD ["run"]
