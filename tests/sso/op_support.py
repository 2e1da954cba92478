"""A real OpenID Provider for the SSO tests: the certified `oidc-provider` (npm), run by node
from tests/sso/op/op.mjs on a free localhost port, with a signing key the tests make and hold.

`npm ci` installs it into tests/sso/op/node_modules on first use (CI and `make test` do it
up front). People sign in on the provider's own login form; their claims are read from a JSON
file at every sign-in, so a test changes what the provider says with `OpenIDProvider.accounts`.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

OP_DIR = Path(__file__).resolve().parent / "op"
CLIENT_ID = "steward-tests"
CLIENT_SECRET = "steward-tests-client-secret-32-bytes-long"  # noqa: S105


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def npm_install() -> None:
    """Install the provider once; the two pytest-xdist workers may both get here first, so the
    second waits on a lock and finds it installed."""
    if (OP_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("The SSO tests need node and npm (apt-get install nodejs npm)")
    with open(OP_DIR / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (OP_DIR / "node_modules" / "oidc-provider").is_dir():
            return
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(OP_DIR)],
            check=True,
            timeout=300,
        )


@dataclass
class OpenIDProvider:
    issuer: str
    private_key: Any
    kid: str
    folder: Path
    process: subprocess.Popen | None = None
    _accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def accounts(self) -> dict[str, dict[str, Any]]:
        return self._accounts

    def set_account(self, login: str, **claims: Any) -> None:
        self._accounts[login] = claims
        (self.folder / "accounts.json").write_text(json.dumps(self._accounts))

    def sign(self, claims: dict[str, Any], *, key: Any = None, kid: str | None = None) -> str:
        """An ID token signed with the provider's own key (or `key`): for the refusal tests."""
        return jwt.encode(
            claims, key or self.private_key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def sign_in(self, client: Any, login: str) -> Any:
        """The authorization-code flow without a browser: Steward's start page (Django's test
        client), the provider's login form (requests), Steward's callback (the test client)."""
        start = client.get("/sso/start/")
        assert start.status_code == 302, start
        location = start["Location"]
        browser = requests.Session()
        for _ in range(10):
            if not location.startswith(self.issuer):
                break
            response = browser.get(location, allow_redirects=False, timeout=10)
            if response.status_code == 200 and 'name="login"' in response.text:
                response = browser.post(
                    location,
                    data={"prompt": "login", "login": login, "password": "any"},
                    allow_redirects=False,
                    timeout=10,
                )
            assert response.status_code in (302, 303), response.text[:500]
            location = urljoin(location, response.headers["Location"])
        callback = urlsplit(location)
        return client.get(f"{callback.path}?{callback.query}")


def start_provider(callback_path: str, post_logout_path: str) -> OpenIDProvider:
    npm_install()
    folder = Path(tempfile.mkdtemp(prefix="steward-op-"))
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.pop(
        "key_ops", None
    )  # PyJWT writes ["sign"]: the provider would not verify its hints with it
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    provider = OpenIDProvider(issuer=issuer, private_key=key, kid=kid, folder=folder)
    provider.set_account("nobody", email="nobody@example.com")
    config = {
        "port": port,
        "issuer": issuer,
        "signing_key": jwk,
        "accounts_file": str(folder / "accounts.json"),
        "callback_paths": [callback_path],
        "post_logout_paths": [post_logout_path],
        "client": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [f"http://localhost{callback_path}"],
            "post_logout_redirect_uris": [f"http://localhost{post_logout_path}"],
            "token_endpoint_auth_method": "client_secret_post",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    node = shutil.which("node") or "node"
    provider.process = subprocess.Popen(
        [node, str(OP_DIR / "op.mjs"), str(folder / "config.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                return provider
        except requests.ConnectionError:
            pass
        if provider.process.poll() is not None:
            raise RuntimeError(
                f"The test OpenID provider stopped: {provider.process.stdout.read()}"
            )
        time.sleep(0.1)
    provider.process.kill()
    raise RuntimeError("The test OpenID provider did not start within 20 s")


def stop_provider(provider: OpenIDProvider) -> None:
    if provider.process is not None:
        provider.process.terminate()
        try:
            provider.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            provider.process.kill()
    shutil.rmtree(provider.folder, ignore_errors=True)
