# The reconciler daemon as a container (deploy/compose.yaml runs it).
#
# BASE_IMAGE is pinned by digest: python:3.13-slim-trixie as of 2026-09 (Python 3.13, Debian 13).
# Bump the tag and the digest together (`docker buildx imagetools inspect python:3.13-slim-trixie`).
# Any Debian-based image with python3 >= 3.11.4 (tarfile's extraction filters) and its venv module
# works; deploy/smoke-container.sh builds on a debootstrap'd Debian trixie, pinned by the digest
# of its imported root file system (see deploy/README.md).
ARG BASE_IMAGE=docker.io/library/python:3.13-slim-trixie@sha256:9d2e5553305c7c7b0097999bb17187c69b921ccd6bc9d40e4bb5ebe652c00285
FROM ${BASE_IMAGE} AS builder
# This stage builds a virtualenv from hash-locked requirements (scripts/lock.sh) and the
# reconciler's wheel; the final stage copies the virtualenv.

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# requirements.lock: the runtime dependencies only, no [sandbox] extra (no moto). --require-hashes
# refuses any file whose hash differs from the lock's, --no-deps anything the lock does not name.
COPY requirements.lock requirements-build.lock ./
RUN python3 -m venv /opt/reconciler \
 && /opt/reconciler/bin/pip install --no-compile --require-hashes --no-deps -r requirements.lock \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps -r requirements-build.lock

COPY pyproject.toml README.md ./
# reconciler/schemas and reconciler/examples are symlinks to these two: the wheel needs their files.
COPY schemas ./schemas
COPY desired ./desired
COPY reconciler ./reconciler
COPY deploy/image/trim-botocore.py /usr/local/lib/trim-botocore.py
# The build context has no .git: the version comes from the VERSION build argument (CI passes
# the git tag, or the commit's describe). pip check: the lock satisfies every requirement.
ARG VERSION=0.0.0+unknown
RUN SETUPTOOLS_SCM_PRETEND_VERSION="${VERSION}" \
      /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/reconciler/bin/pip install --no-compile --no-deps /dist/*.whl \
 && /opt/reconciler/bin/pip check \
 && /opt/reconciler/bin/python /usr/local/lib/trim-botocore.py \
 && /opt/reconciler/bin/pip uninstall --quiet --yes pip \
 && find /opt/reconciler -name __pycache__ -prune -exec rm -rf {} + \
 && /opt/reconciler/bin/reconciler validate /src/desired


FROM ${BASE_IMAGE}

ARG VERSION=0.0.0+unknown
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/johnhuh619/asg-reconciler
LABEL org.opencontainers.image.title="asg-reconciler" \
      org.opencontainers.image.description="GitOps reconciler for EC2 Auto Scaling deployments" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"

# git fetches the desired state; openssh-client lets it fetch over SSH and check SSH signatures
# (--verify-commits); tini is PID 1 (below). No compiler, no pip, no docs, no apt lists.
# uid/gid 10001: compose's file secrets and bind mounts keep the host's owner and mode, so files
# for the daemon are made group-readable for gid 10001 on the host (deploy/README.md).
RUN printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
      'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/info/*' \
      >/etc/dpkg/dpkg.cfg.d/01-no-docs \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
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

# Liveness, not readiness. /readyz is 503 until a pass has completed for the newest revision: for
# the whole of a long rollout, or while AWS refuses a call, and restarting the daemon fixes
# neither (an orchestrator that replaces unhealthy containers would interrupt the rollout it is
# waiting for). Readiness is for what routes to the daemon (a load balancer in front of the
# webhook) and for whoever waits for a deploy (deploy/smoke-container.sh checks both). No curl
# in slim images: the interpreter makes the request, on the port RECONCILER_LISTEN names.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; port = os.environ.get('RECONCILER_LISTEN', '0.0.0.0:9090').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

# tini as PID 1 reaps orphans: ssh, started by a git fetch that timed out and was killed, is
# re-parented to PID 1, which Python never waits for (zombies). It also forwards SIGTERM.
ENTRYPOINT ["/usr/bin/tini", "--", "reconciler"]
CMD ["run"]
