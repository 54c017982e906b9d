"""OAuth 2.1 resource server: metadata, challenges, JWT validation, JWKS fetching.

``obsbench serve metrics --transport http --profile oauth`` runs in a child process
on a free loopback port, configured through a real config file (``serve.auth =
"oauth"``). The authorization server's JWKS is served over HTTPS by a small
server in this process, with a self-signed certificate the profile trusts through
``serve.oauth.ca_file``; RSA and EC keys are generated here and tokens minted with
PyJWT. Every check goes over real HTTP; a valid token drives a real MCP session.
The audit test runs the guard in-process (uvicorn in a thread) with the JWKS from
an ``httpx.MockTransport``, to see the caller reach the tool handler.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from tests.livestack import free_port
from tests.security.test_serve_http import HEADERS, INIT, INSPECTOR
from typer.testing import CliRunner

from obsbench.cli.main import app
from obsbench.config import ConfigValidationError, load_config
from obsbench_servers.common.httpguard import HttpGuard
from obsbench_servers.common.oauth import OAuthResourceServer, OAuthSettings

ISSUER = "https://auth.obsbench.test"
SCOPE = "obsbench:read"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROGUE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROTATED_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    doc = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
    return {**doc, "kid": kid, "alg": alg, "use": "sig"}


def mint(resource: str, *, key: Any = RSA_KEY, kid: str | None = "k1", alg: str = "RS256",
         **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": resource, "sub": "alice", "client_id": "cli-42",
            "scope": f"{SCOPE} other", "iat": now, "exp": now + 300, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(resource: str, alg: str, secret: bytes) -> str:
    """A token whose header says ``alg``: unsigned (none) or HMAC with ``secret``."""
    now = int(time.time())
    head = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": resource, "sub": "mallory", "scope": SCOPE,
                           "exp": now + 300}).encode())
    signing = f"{head}.{body}".encode()
    sig = "" if alg == "none" else b64(hmac.new(secret, signing, hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "jwks-cert.pem", tmp / "jwks-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Jwks:
    """An HTTPS JWKS endpoint whose key set the tests change, counting the fetches."""

    url: str
    ca_file: Path
    keys: list[dict[str, Any]]
    hits: list[float] = field(default_factory=list)


@pytest.fixture(scope="module")
def jwks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jwks]:
    cert, key = self_signed(tmp_path_factory.mktemp("jwks-tls"))
    no_alg = {k: v for k, v in jwk(EC_KEY, "e2", "ES256").items() if k != "alg"}
    state = Jwks("", cert, [jwk(RSA_KEY, "k1", "RS256"), jwk(EC_KEY, "e1", "ES256"), no_alg])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(time.monotonic())
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    state.url = f"https://127.0.0.1:{server.server_address[1]}/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Served:
    base: str
    resource: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/.well-known/oauth-protected-resource/mcp"


def write_profile(path: Path, bundle_dir: Path, *, jwks_url: str, ca_file: Path,
                  resource: str | None, extra: str = "") -> None:
    res = f'resource = "{resource}"\n' if resource else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'default_profile = "oauth"\n[profiles.oauth]\nbundle = "{bundle_dir}"\n'
        f'[profiles.oauth.serve]\nauth = "oauth"\n[profiles.oauth.serve.oauth]\n'
        f'issuer = "{ISSUER}"\njwks_url = "{jwks_url}"\n{res}scopes = ["{SCOPE}"]\n'
        f'ca_file = "{ca_file}"\njwks_refetch_interval_s = 600\njwks_timeout_s = 2\n{extra}')


def start(tmp: Path, bundle_dir: Path, jwks_url: str, ca_file: Path) -> Served:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp / "config.toml"
    write_profile(config, bundle_dir, jwks_url=jwks_url, ca_file=ca_file,
                  resource=f"{base}/mcp")
    log = tmp / "stderr.txt"
    env = {**os.environ, "OBSBENCH_CONFIG": str(config), "OBSBENCH_CACHE_DIR": str(tmp / "c"),
           "OBSBENCH_STATE_DIR": str(tmp / "state")}
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "obsbench", "serve", "metrics", "--transport", "http",
             "--port", str(port), "--profile", "oauth"],
            env=env, stdout=subprocess.DEVNULL, stderr=err)
    return Served(base, f"{base}/mcp", proc, log)


def wait_ready(s: Served) -> Served:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if s.proc.poll() is not None:
            raise AssertionError(s.log.read_text())
        try:
            if httpx.get(s.metadata_url, timeout=1).status_code == 200:
                return s
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not start: {s.log.read_text()}")


def stop(s: Served) -> None:
    s.proc.terminate()
    try:
        s.proc.wait(10)
    except subprocess.TimeoutExpired:
        s.proc.kill()
        s.proc.wait()


@pytest.fixture(scope="module")
def servers(bundle: Callable[..., object], jwks: Jwks,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Served]]:
    """The server under test, and one whose JWKS endpoint is down (started together)."""
    bundle_dir = bundle("bad-deploy-db-pool").out_dir  # type: ignore[attr-defined]
    ok = start(tmp_path_factory.mktemp("oauth-ok"), bundle_dir, jwks.url, jwks.ca_file)
    down = start(tmp_path_factory.mktemp("oauth-down"), bundle_dir,
                 f"https://127.0.0.1:{free_port()}/jwks.json", jwks.ca_file)
    try:
        yield wait_ready(ok), wait_ready(down)
    finally:
        stop(ok)
        stop(down)


@pytest.fixture(scope="module")
def served(servers: tuple[Served, Served]) -> Served:
    return servers[0]


def post_init(s: Served, token: str | None) -> httpx.Response:
    auth = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(s.mcp, json=INIT, headers={**HEADERS, **auth}, timeout=30)


# --------------------------------------------------------------------------- metadata, challenge


def test_protected_resource_metadata_is_served_without_auth(served: Served) -> None:
    expected = {"resource": served.resource, "authorization_servers": [ISSUER],
                "scopes_supported": [SCOPE], "bearer_methods_supported": ["header"],
                "resource_name": "obsbench"}
    for url in (served.metadata_url, f"{served.base}/.well-known/oauth-protected-resource"):
        r = httpx.get(url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.json() == expected
    # the metadata is read-only; a foreign Host is refused here too (DNS rebinding)
    assert httpx.post(served.metadata_url, json={}).status_code == 405
    assert httpx.get(served.metadata_url, headers={"host": "evil.example"}).status_code == 421


def test_no_token_gets_401_pointing_at_the_metadata(served: Served) -> None:
    r = post_init(served, None)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{served.metadata_url}", scope="{SCOPE}"')
    r = httpx.post(served.mcp, json=INIT, headers={**HEADERS, "authorization": "Basic dTpw"})
    assert r.status_code == 401 and "error=" not in r.headers["www-authenticate"]


# --------------------------------------------------------------------------- valid tokens


def test_a_valid_rs256_token_opens_an_mcp_session_and_lists_tools(served: Served) -> None:
    token = mint(served.resource)

    async def go() -> tuple[list[str], str]:
        http = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=60)
        async with http, Client(streamable_http_client(served.mcp, http_client=http)) as c:
            tools = [t.name for t in (await c.list_tools()).tools]
            r = await c.call_tool("list_metrics", {"match": "http_server"})
            return tools, "\n".join(getattr(x, "text", "") for x in r.content)

    tools, text = asyncio.run(go())
    assert "query" in tools and "list_metrics" in tools
    assert "http_server" in text


def test_a_valid_es256_token_is_accepted(served: Served) -> None:
    r = post_init(served, mint(served.resource, key=EC_KEY, kid="e1", alg="ES256"))
    assert r.status_code == 200, r.text


def test_a_session_is_bound_to_the_principal_that_opened_it(served: Served) -> None:
    """mcp binds a session to the AuthenticatedUser the guard sets: another subject is refused."""
    opened = post_init(served, mint(served.resource))
    assert opened.status_code == 200
    session = opened.headers["mcp-session-id"]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    other = mint(served.resource, sub="bob")
    r = httpx.post(served.mcp, json=call, headers={
        **HEADERS, "authorization": f"Bearer {other}", "mcp-session-id": session,
        "mcp-protocol-version": "2025-06-18"})
    assert r.status_code == 404


# --------------------------------------------------------------------------- refused tokens


def _public_pem() -> bytes:
    return RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


REFUSED: dict[str, tuple[Callable[[str], str], str]] = {
    "expired": (lambda r: mint(r, exp=int(time.time()) - 120), "expired"),
    "not_yet_valid": (lambda r: mint(r, nbf=int(time.time()) + 600), "not valid yet"),
    "wrong_audience": (lambda r: mint(r, aud="https://other.example/mcp"), "another resource"),
    "audience_list_with_another_resource": (
        lambda r: mint(r, aud=[r, "https://other.example/mcp"]), "another resource"),
    "no_audience": (lambda r: mint(r, aud=None), "no aud claim"),
    "wrong_issuer": (lambda r: mint(r, iss="https://evil.example"), "another issuer"),
    "bad_signature": (lambda r: mint(r, key=ROGUE_KEY), "signature does not verify"),
    "alg_none": (lambda r: forged(r, "none", b""), "alg none"),
    "hs256_signed_with_the_public_key": (lambda r: forged(r, "HS256", _public_pem()),
                                         "HS256 is not accepted"),
    "garbage": (lambda r: "not.a.jwt", "not a well-formed JWT"),
    "ec_key_claimed_as_rs256": (lambda r: mint(r, key=RSA_KEY, kid="e1"), "is for ES256"),
    "ec_key_without_alg_used_for_rs256": (lambda r: mint(r, key=RSA_KEY, kid="e2"),
                                          "does not fit algorithm RS256"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_invalid_tokens_are_refused_with_invalid_token(served: Served, case: str) -> None:
    make, reason = REFUSED[case]
    token = make(served.resource)
    r = post_init(served, token)
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer resource_metadata="{served.metadata_url}"')
    assert 'error="invalid_token"' in challenge
    assert r.json()["error"] == "invalid_token"
    assert reason in r.json()["error_description"]
    assert token not in r.text and token not in challenge


def test_a_token_without_the_required_scope_gets_403(served: Served) -> None:
    r = post_init(served, mint(served.resource, scope="something:else"))
    assert r.status_code == 403
    challenge = r.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{SCOPE}"' in challenge
    assert f'resource_metadata="{served.metadata_url}"' in challenge
    # scp as a list (as some authorization servers issue) counts too
    assert post_init(served, mint(served.resource, scope=None, scp=[SCOPE])).status_code == 200


def test_unknown_kid_refetches_the_jwks_once_then_is_rate_limited(served: Served,
                                                                  jwks: Jwks) -> None:
    assert post_init(served, mint(served.resource)).status_code == 200  # keys are cached
    before = len(jwks.hits)
    jwks.keys = [*jwks.keys, jwk(ROTATED_KEY, "k2", "RS256")]  # the AS rotates in a key
    r = post_init(served, mint(served.resource, key=ROTATED_KEY, kid="k2"))
    assert r.status_code == 200, r.text
    assert len(jwks.hits) == before + 1
    # another unknown kid right after: refused without hammering the AS
    r = post_init(served, mint(served.resource, key=ROTATED_KEY, kid="k3"))
    assert r.status_code == 401 and "no signing key k3" in r.json()["error_description"]
    assert len(jwks.hits) == before + 1
    assert post_init(served, mint(served.resource, key=ROTATED_KEY, kid="k2")).status_code == 200
    assert len(jwks.hits) == before + 1


def test_jwks_down_gives_503_and_the_server_keeps_serving(
        servers: tuple[Served, Served]) -> None:
    down = servers[1]
    token = mint(down.resource)
    for _ in range(2):
        r = post_init(down, token)
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "temporarily_unavailable"
        assert "signing keys could not be fetched" in r.json()["error_description"]
        assert r.headers["retry-after"] == "5"
    assert httpx.get(down.metadata_url).status_code == 200
    assert post_init(down, None).status_code == 401
    assert down.proc.poll() is None


def test_tokens_never_reach_the_server_log(servers: tuple[Served, Served]) -> None:
    served, down = servers
    tokens = [mint(served.resource, sub="log-probe"), mint(served.resource, iss="https://x.test")]
    for t in tokens:
        post_init(served, t)
    post_init(down, tokens[0])
    for s in servers:
        text = s.log.read_text()
        assert all(t not in text for t in tokens)
        assert all(t.split(".")[2] not in text for t in tokens)  # nor the signature alone


# --------------------------------------------------------------------------- config and CLI


def test_serve_config_is_validated_strictly(tmp_path: Path) -> None:
    config = Path(os.environ["OBSBENCH_CONFIG"])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"jwks_url": "http://auth.example/jwks"}, "is not an https URL"),
        ({"resource": "http://obsbench.example.com/mcp"}, "plain http on a non-loopback host"),
        ({"resource": "https://obsbench.example.com/mcp#x"}, "not a usable resource URI"),
        ({"extra": 'algorithms = ["HS256"]\n'}, "algorithms"),
        ({"extra": "leeway_s = 3600\n"}, "leeway_s"),
        ({"extra": "audience = 1\n"}, "audience"),
    ]
    for change, problem in cases:
        args: dict[str, Any] = {"jwks_url": "https://auth.example/jwks", "resource": None,
                                "ca_file": tmp_path / "ca.pem", **change}
        write_profile(config, tmp_path, **args)
        with pytest.raises(ConfigValidationError) as err:
            load_config()
        assert problem in str(err.value), (change, str(err.value))
    config.write_text('[profiles.p]\nbundle = "/x"\n[profiles.p.serve]\nauth = "oauth"\n')
    with pytest.raises(ConfigValidationError, match="needs an \\[oauth\\] table"):
        load_config()
    config.write_text('[profiles.p]\nbundle = "/x"\n[profiles.p.serve]\n'
                      'token_ref = "env:X"\n')
    with pytest.raises(ConfigValidationError, match="token_ref is set but auth"):
        load_config()
    write_profile(config, tmp_path, jwks_url="https://auth.example/jwks",
                  ca_file=tmp_path / "ca.pem", resource=None)
    serve = load_config().config.profiles["oauth"].serve
    assert serve.oauth is not None and serve.oauth.algorithms == ["RS256", "ES256"]


def test_cli_refuses_ambiguous_or_incomplete_oauth_serving(tmp_path: Path) -> None:
    config = Path(os.environ["OBSBENCH_CONFIG"])
    write_profile(config, tmp_path, jwks_url="https://auth.example/jwks",
                  ca_file=tmp_path / "ca.pem", resource=None)
    res = CliRunner().invoke(app, ["serve", "metrics", "--transport", "http", "--host",
                                   "0.0.0.0", "--profile", "oauth"])
    assert res.exit_code == 2 and "canonical URI" in res.stderr
    res = CliRunner().invoke(app, ["serve", "metrics", "--transport", "http", "--profile",
                                   "oauth", "--token-ref", "env:WHATEVER"])
    assert res.exit_code == 2 and "use one" in res.stderr


def test_guard_takes_one_auth_mode() -> None:
    settings = OAuthSettings(resource="http://127.0.0.1:1/mcp", issuer=ISSUER,
                             jwks_url="https://127.0.0.1:2/jwks")
    with pytest.raises(ValueError, match="one auth mode"):
        HttpGuard(lambda *a: None, tokens=["x" * 20],  # type: ignore[arg-type]
                  oauth=OAuthResourceServer(settings))
    with pytest.raises(ValueError, match="https"):
        OAuthSettings(resource="http://127.0.0.1:1/mcp", issuer=ISSUER,
                      jwks_url="http://127.0.0.1:2/jwks")


# --------------------------------------------------------------------------- audit


def test_the_audit_names_the_token_subject_and_client(tmp_path: Path) -> None:
    """The guard's principal reaches the tool handler; the write audit records it."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    from obsbench_servers.common.audit import AuditTrail
    from obsbench_servers.common.confirm import WriteGate

    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    keys = {"keys": [jwk(RSA_KEY, "k1", "RS256")]}
    transport = httpx.MockTransport(lambda req: httpx.Response(200, json=keys))
    trail = AuditTrail(tmp_path / "audit.jsonl")
    server = MCPServer("probe")

    @server.tool()
    def probe_write() -> str:
        """Record a write attempt."""
        WriteGate("probe", "p", trail).record(tool="probe_write", arguments={},
                                              outcome="refused", decision=None)
        return "ok"

    oauth = OAuthResourceServer(OAuthSettings(resource=resource, issuer=ISSUER,
                                              jwks_url="https://as.test/jwks", scopes=(SCOPE,)),
                                transport=transport)
    hosts = [f"127.0.0.1:{port}"]
    guarded = HttpGuard(server.streamable_http_app(host="127.0.0.1"), allowed_hosts=hosts,
                        allowed_origins=[f"http://127.0.0.1:{port}"], oauth=oauth)
    uv = uvicorn.Server(uvicorn.Config(guarded, host="127.0.0.1", port=port,
                                       log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not uv.started and time.monotonic() < deadline:
            time.sleep(0.05)
        token = mint(resource, sub="alice@example.com", client_id="claude-desktop")

        async def go() -> None:
            http = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30)
            async with http, Client(streamable_http_client(resource, http_client=http)) as c:
                await c.call_tool("probe_write", {})

        asyncio.run(go())
    finally:
        uv.should_exit = True
        thread.join(10)
    (record,) = list(trail.records())
    assert record["actor"]["oauth"] == {"sub": "alice@example.com",
                                        "client_id": "claude-desktop", "iss": ISSUER}
    assert token not in (tmp_path / "audit.jsonl").read_text()


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_mcp_inspector_cli_with_an_access_token_lists_tools(served: Served) -> None:
    """An independent MCP client (the MCP Inspector CLI) with a valid access token."""
    token = mint(served.resource, sub="inspector")
    res = subprocess.run(
        ["npx", "-y", f"@modelcontextprotocol/inspector@{INSPECTOR}", "--cli", served.mcp,
         "--transport", "http", "--method", "tools/list",
         "--header", f"Authorization: Bearer {token}"],
        capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "list_metrics" in [t["name"] for t in json.loads(res.stdout)["tools"]]


def test_jwks_fetch_failures_are_clear_and_not_retried_in_a_storm() -> None:
    """The JWKS fetcher on a mock transport: 500, HTML, an oversized body, then recovery."""
    from obsbench_servers.common.oauth import MAX_JWKS_BYTES, JwksCache, JwksUnavailableError

    answers: list[httpx.Response] = []
    transport = httpx.MockTransport(lambda req: answers.pop(0))

    async def attempt(cache: JwksCache, kid: str) -> str:
        try:
            return str((await cache.key(kid) or {}).get("kid"))
        except JwksUnavailableError as exc:
            return f"unavailable: {exc}"

    async def go() -> list[str]:
        out = []
        for bad in (httpx.Response(500, text="oops"),
                    httpx.Response(200, text="<html>login</html>"),
                    httpx.Response(200, content=b" " * (MAX_JWKS_BYTES + 1))):
            cache = JwksCache("https://as.test/jwks", transport=transport)
            answers.append(bad)
            out.append(await attempt(cache, "k1"))
            out.append(await attempt(cache, "k1"))  # within 5 s: no second fetch
            assert cache.fetches == 1
        cache = JwksCache("https://as.test/jwks", transport=transport, refetch_interval_s=600)
        answers.append(httpx.Response(200, json={"keys": [jwk(RSA_KEY, "k1", "RS256")]}))
        out.append(await attempt(cache, "k1"))
        answers.append(httpx.Response(503))
        out.append(await attempt(cache, "k9"))  # unknown kid: one refetch, which fails
        out.append(await attempt(cache, "k8"))  # and no other for refetch_interval_s
        assert cache.fetches == 2
        out.append(await attempt(cache, "k1"))  # the cached keys still serve
        return out

    out = asyncio.run(go())
    assert out[0].startswith("unavailable: ") and "HTTP 500" in out[0]
    assert "retrying in a few seconds" in out[1]
    assert "not a JWK Set" in out[2]
    assert f"over {MAX_JWKS_BYTES} bytes" in out[4]
    assert out[6] == "k1"
    assert "HTTP 503" in out[7] and out[8] == "None" and out[9] == "k1"
    assert not answers
