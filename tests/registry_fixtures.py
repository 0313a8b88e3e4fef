"""A real distribution registry (Debian's docker-registry) on 127.0.0.1, for tests of images.

- ``RegistryServer``: runs ``/usr/bin/docker-registry`` with a config in a temp dir, in one of
  three modes: anonymous, htpasswd basic auth, or token auth against a ``TokenService``. Images
  are pushed through the registry HTTP API (monolithic blob uploads, then a manifest PUT).
- ``TokenService``: a small token server issuing real ES256 JWTs signed with a key whose
  self-signed certificate the registry trusts (``rootcertbundle``), the ``kid`` header in
  libtrust's fingerprint format that distribution 2.8 looks trusted keys up by.
- ``Proxy``: a reverse proxy in front of a registry that can drop ``Docker-Content-Digest`` or
  answer 503, for the behaviours of registries other than distribution.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

REGISTRY_BIN = Path("/usr/bin/docker-registry")
HTPASSWD_BIN = "htpasswd"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

Mode = Literal["anonymous", "htpasswd", "token"]


def require_tools(*tools: str) -> None:
    """Skip when a system tool is missing, but fail in CI, where the install script runs."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (scripts/install-system-packages.sh installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


# -- the token service -------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """distribution 2.8 finds trusted keys by this: sha256 of the DER key, 240 bits, base32."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass
class TokenService:
    directory: Path
    service: str = "test-registry"
    issuer: str = "test-token-issuer"
    users: dict[str, str] = field(default_factory=dict)
    # OAuth2 refresh tokens (docker login's identity tokens) -> user.
    identity_tokens: dict[str, str] = field(default_factory=dict)
    expires_in: int = 300
    requests: list[str] = field(default_factory=list)  # "GET user" / "POST user" per token

    def __post_init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = libtrust_key_id(self._key.public_key())
        self.cert_path = self.directory / "token-signer.crt"
        self.cert_path.write_bytes(_self_signed(self._key, name=self.issuer))
        self.port = free_port()
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> None:
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                service._answer(self, query, self.headers.get("Authorization", ""), "token")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                service._answer_oauth(self, form)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def mint(self, *, subject: str, scope: str) -> str:
        """A JWT granting ``scope``'s actions to ``subject`` (empty access when anonymous)."""
        now = int(time.time())
        access = _access(scope) if subject else []
        header = {"typ": "JWT", "alg": "ES256", "kid": self.key_id}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = f"{_b64url(canonical(header))}.{_b64url(canonical(claims))}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        # JWS wants the raw r || s, not the DER sequence cryptography produces.
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64url(signature)}"

    def _answer(
        self,
        handler: http.server.BaseHTTPRequestHandler,
        query: dict[str, list[str]],
        authorization: str,
        field_name: str,
    ) -> None:
        user = ""
        if authorization.startswith("Basic "):
            name, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if self.users.get(name) != password:
                self.requests.append("GET refused")
                _send_json(handler, 401, {"errors": [{"code": "UNAUTHORIZED"}]})
                return
            user = name
        self.requests.append(f"GET {user or '-'}")
        scope = (query.get("scope") or [""])[0]
        token = self.mint(subject=user, scope=scope)
        _send_json(handler, 200, {field_name: token, "expires_in": self.expires_in})

    def _answer_oauth(
        self, handler: http.server.BaseHTTPRequestHandler, form: dict[str, list[str]]
    ) -> None:
        grant = (form.get("grant_type") or [""])[0]
        refresh = (form.get("refresh_token") or [""])[0]
        user = self.identity_tokens.get(refresh, "") if grant == "refresh_token" else ""
        if not user:
            self.requests.append("POST refused")
            _send_json(handler, 401, {"error": "invalid_grant"})
            return
        self.requests.append(f"POST {user}")
        token = self.mint(subject=user, scope=(form.get("scope") or [""])[0])
        # OAuth2 answers carry `access_token`, not `token`.
        _send_json(handler, 200, {"access_token": token, "expires_in": self.expires_in})


def _access(scope: str) -> list[dict[str, Any]]:
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if kind != "repository" or not name:
        return []
    granted = [a for a in actions.split(",") if a in ("pull", "push")]
    return [{"type": "repository", "name": name, "actions": granted}]


def _self_signed(key: ec.EllipticCurvePrivateKey, *, name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _send_json(handler: http.server.BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


# -- the registry ------------------------------------------------------------------------------


@dataclass
class RegistryServer:
    directory: Path
    mode: Mode = "anonymous"
    users: dict[str, str] = field(default_factory=dict)
    token_service: TokenService | None = None

    def __post_init__(self) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.log_path = self.directory / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._pusher = requests.Session()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        config = self.directory / "config.yml"
        config.write_text(json.dumps(self._config(), indent=2))  # YAML is a superset of JSON
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(REGISTRY_BIN), "serve", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_ready()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.directory / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
            "health": {"storagedriver": {"enabled": False}},
        }
        if self.mode == "htpasswd":
            config["auth"] = {"htpasswd": {"realm": "test", "path": str(self._htpasswd())}}
        elif self.mode == "token":
            assert self.token_service is not None
            ts = self.token_service
            config["auth"] = {
                "token": {
                    "realm": ts.realm,
                    "service": ts.service,
                    "issuer": ts.issuer,
                    "rootcertbundle": str(ts.cert_path),
                }
            }
        return config

    def _htpasswd(self) -> Path:
        path = self.directory / "htpasswd"
        lines = []
        for user, password in self.users.items():
            # distribution accepts only bcrypt; cost 4 keeps each request fast.
            out = subprocess.run(
                [HTPASSWD_BIN, "-nbB", "-C", "4", user, password],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            lines.append(out.strip())
        path.write_text("\n".join(lines) + "\n")
        return path

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"docker-registry exited:\n{self.log()}")
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"{self.url}/v2/", timeout=1)
                return
            time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start:\n{self.log()}")

    # -- pushing -------------------------------------------------------------------------------

    def _auth(self, name: str) -> dict[str, str]:
        if self.mode == "htpasswd":
            user, password = next(iter(self.users.items()))
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        if self.mode == "token":
            assert self.token_service is not None
            token = self.token_service.mint(subject="pusher", scope=f"repository:{name}:pull,push")
            return {"Authorization": f"Bearer {token}"}
        return {}

    def push_blob(self, name: str, data: bytes) -> str:
        digest = sha256(data)
        started = self._pusher.post(
            f"{self.url}/v2/{name}/blobs/uploads/", headers=self._auth(name), timeout=10
        )
        assert started.status_code == 202, (started.status_code, started.text)
        location = started.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        sep = "&" if "?" in location else "?"
        done = self._pusher.put(
            f"{location}{sep}digest={digest}",
            data=data,
            headers={**self._auth(name), "Content-Type": "application/octet-stream"},
            timeout=10,
        )
        assert done.status_code == 201, (done.status_code, done.text)
        return digest

    def put_manifest(self, name: str, reference: str, body: bytes, *, media_type: str) -> str:
        response = self._pusher.put(
            f"{self.url}/v2/{name}/manifests/{reference}",
            data=body,
            headers={**self._auth(name), "Content-Type": media_type},
            timeout=10,
        )
        assert response.status_code == 201, (response.status_code, response.text)
        served = response.headers["Docker-Content-Digest"]
        assert served == sha256(body)
        return served

    def push_image(self, name: str, tag: str, *, seed: str, oci: bool = False) -> PushedManifest:
        """Push a config and a layer, then a manifest naming them under ``tag``."""
        config = canonical({"architecture": "amd64", "os": "linux", "seed": seed})
        layer = f"layer {seed}".encode()
        config_digest = self.push_blob(name, config)
        layer_digest = self.push_blob(name, layer)
        media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "size": len(config),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                    "size": len(layer),
                    "digest": layer_digest,
                }
            ],
        }
        body = json.dumps(manifest, indent=3).encode()  # any bytes: the digest is of these
        digest = self.put_manifest(name, tag, body, media_type=media_type)
        return PushedManifest(digest=digest, size=len(body), media_type=media_type)

    def push_index(self, name: str, tag: str, manifests: list[PushedManifest]) -> str:
        platforms = [{"architecture": a, "os": "linux"} for a in ("amd64", "arm64", "s390x")]
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": m.media_type,
                    "size": m.size,
                    "digest": m.digest,
                    "platform": platforms[i % len(platforms)],
                }
                for i, m in enumerate(manifests)
            ],
        }
        return self.put_manifest(name, tag, canonical(index), media_type=OCI_INDEX)


@dataclass(frozen=True)
class PushedManifest:
    digest: str
    size: int
    media_type: str


# -- a proxy with other registries' manners ----------------------------------------------------


@dataclass
class Proxy:
    """Forwards to ``upstream``; drops Docker-Content-Digest on HEAD, or answers ``fail``."""

    upstream: str
    strip_digest_on_head: bool = True
    fail: int | None = None
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._server: http.server.ThreadingHTTPServer | None = None
        self._session = requests.Session()

    def start(self) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                proxy._forward(self, "HEAD")

            def do_GET(self) -> None:
                proxy._forward(self, "GET")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _forward(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        self.seen.append(f"{method} {handler.path}")
        if self.fail is not None:
            handler.send_response(self.fail)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        upstream = self._session.request(
            method, self.upstream + handler.path, headers=headers, timeout=10, stream=True
        )
        body = upstream.raw.read() if method == "GET" else b""
        handler.send_response(upstream.status_code)
        for key, value in upstream.headers.items():
            if key.lower() in ("transfer-encoding", "connection"):
                continue
            if (
                method == "HEAD"
                and self.strip_digest_on_head
                and key.lower() == "docker-content-digest"
            ):
                continue
            handler.send_header(key, value)
        handler.end_headers()
        if body:
            handler.wfile.write(body)


@contextlib.contextmanager
def running(*servers: RegistryServer | TokenService | Proxy) -> Iterator[None]:
    started: list[RegistryServer | TokenService | Proxy] = []
    try:
        for server in servers:
            server.start()
            started.append(server)
        yield
    finally:
        for server in reversed(started):
            server.stop()
