"""OAuth 2.1 resource server for ``obsbench serve --transport http`` (MCP authorization).

An MCP server served to a team is a protected resource: the MCP client obtains an
access token from the organisation's authorization server (AS) and presents it as
``Authorization: Bearer``; this module decides whether that token is good for *this*
server. It is the alternative to the static bearer token of ``httpguard.py``.

What it does, per the MCP authorization specification:

- **Protected Resource Metadata** (RFC 9728): ``metadata()`` is the JSON document
  served without auth at ``/.well-known/oauth-protected-resource`` and at the
  path-suffixed form for the resource (``.../oauth-protected-resource/mcp``), so a
  client that got a 401 learns which AS to ask and which scopes to request.
- **Challenges**: ``challenge()`` builds ``WWW-Authenticate: Bearer
  resource_metadata="..."`` (with ``error="invalid_token"`` when a token was
  presented and refused; ``error="insufficient_scope"`` and ``scope=`` on 403).
- **Validation** (``JwtTokenVerifier``): JWT access tokens are verified against the
  AS's JWKS (HTTPS, timeout, size cap, cached; refetched on an unknown ``kid`` at
  most once per ``refetch_interval_s``): the signature with an asymmetric algorithm
  from the allow-list (``none`` and every ``HS*`` are refused before any key is
  looked at: an HMAC "signed" with the public key is the classic confusion attack),
  ``iss``, ``aud`` equal to this resource (RFC 8707 audience binding: a token minted
  for another resource is refused, so no token passes through), ``exp``/``nbf``
  with a small leeway, and the required scopes.

The verifier implements mcp's ``TokenVerifier`` protocol and returns mcp's
``AccessToken``; the guard puts mcp's ``AuthenticatedUser`` in the ASGI scope (mcp's
session manager then binds each MCP session to the principal that opened it) and
sets mcp's ``auth_context_var`` (which mcp propagates to the tool handlers), so
``current_caller()`` names who called for the audit trail. Tokens are never logged
nor put in an error message.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # imported where used: the audit reads current_caller() on every write
    import anyio
    import httpx

log = logging.getLogger("obsbench_servers.oauth")

METADATA_PATH = "/.well-known/oauth-protected-resource"
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
DEFAULT_ALGORITHMS = ("RS256", "ES256")
MAX_JWKS_BYTES = 256 * 1024
MAX_TOKEN_BYTES = 16 * 1024
_AUTH_CONTEXT = "mcp.server.auth.middleware.auth_context"


@dataclass(frozen=True)
class OAuthSettings:
    """The resource server's configuration (``[profiles.NAME.serve.oauth]``)."""

    resource: str  # canonical URI of this MCP server; the only accepted ``aud``
    issuer: str  # the only accepted ``iss``
    jwks_url: str
    authorization_servers: tuple[str, ...] = ()  # advertised in the metadata; default: issuer
    scopes: tuple[str, ...] = ()  # every token must carry all of them
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_s: float = 30.0
    jwks_timeout_s: float = 5.0
    jwks_cache_s: float = 3600.0
    refetch_interval_s: float = 60.0
    ca_file: Path | None = None
    resource_name: str = "obsbench"

    def __post_init__(self) -> None:
        bad = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not self.algorithms:
            raise ValueError(f"algorithms must be among {', '.join(ASYMMETRIC_ALGORITHMS)}; "
                             f"got {', '.join(self.algorithms) or '(none)'}")
        if urlsplit(self.jwks_url).scheme != "https":
            raise ValueError(f"jwks_url must be https: {self.jwks_url}")


class TokenRejectedError(Exception):
    """The request must be refused: ``status`` 401 (bad/absent token) or 403 (scope)."""

    def __init__(self, description: str, *, status: int = 401,
                 error: str | None = "invalid_token") -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.error = error


class JwksUnavailableError(Exception):
    """The AS's keys could not be fetched: no token can be checked right now (503)."""


def _b64_alg_header(token: str) -> dict[str, Any]:
    import jwt  # noqa: PLC0415 - PyJWT only when OAuth is configured

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRejectedError("the token is not a well-formed JWT") from None
    return dict(header)


@dataclass
class JwksCache:
    """The AS's signing keys over HTTPS, cached; unknown ``kid`` refetches, rate-limited."""

    url: str
    timeout_s: float = 5.0
    cache_s: float = 3600.0
    refetch_interval_s: float = 60.0
    ca_file: Path | None = None
    transport: httpx.AsyncBaseTransport | None = None  # tests may inject one
    fetches: int = 0  # how many fetches were attempted (observable in tests)
    _keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    _fetched_at: float | None = None
    _last_refetch: float | None = None
    _failed_at: float | None = None
    _lock: anyio.Lock | None = None  # made in the event loop, on first use

    def _verify(self) -> ssl.SSLContext | bool:
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))

    async def _fetch(self) -> None:
        import httpx  # noqa: PLC0415

        self.fetches += 1
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout_s, verify=self._verify(),
                                  transport=self.transport, follow_redirects=False) as client,
                client.stream("GET", self.url, headers={"accept": "application/json"}) as resp,
            ):
                if resp.status_code != 200:
                    raise JwksUnavailableError(f"HTTP {resp.status_code}")
                body = b""
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksUnavailableError(f"response over {MAX_JWKS_BYTES} bytes")
        except httpx.TimeoutException:
            raise JwksUnavailableError(f"no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise JwksUnavailableError(f"{type(exc).__name__}: {exc}") from None
        except ssl.SSLError as exc:
            raise JwksUnavailableError(f"TLS: {exc}") from None
        try:
            doc = json.loads(body)
            keys = doc["keys"]
            if not isinstance(keys, list):
                raise TypeError("keys is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise JwksUnavailableError(f"not a JWK Set ({exc})") from None
        self._keys = {str(k.get("kid", "")): k for k in keys
                      if isinstance(k, dict) and k.get("use", "sig") == "sig"}
        self._fetched_at = time.monotonic()

    async def _load(self) -> None:
        try:
            await self._fetch()
            self._failed_at = None
        except JwksUnavailableError as exc:
            self._failed_at = time.monotonic()
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            raise JwksUnavailableError(
                f"the authorization server's signing keys could not be fetched from "
                f"{self.url}: {exc}") from None

    async def key(self, kid: str) -> dict[str, Any] | None:
        """The JWK for ``kid`` (``""`` when the token names none), fetching as needed."""
        if self._lock is None:
            import anyio  # noqa: PLC0415

            self._lock = anyio.Lock()
        async with self._lock:
            now = time.monotonic()
            if self._fetched_at is None or now - self._fetched_at > self.cache_s:
                if self._failed_at is not None and now - self._failed_at < min(
                        self.refetch_interval_s, 5.0):
                    # A down AS is not hammered: one attempt per few seconds.
                    raise JwksUnavailableError(
                        f"the authorization server's signing keys could not be fetched "
                        f"from {self.url} (retrying in a few seconds)")
                await self._load()
            found = self._lookup(kid)
            if found is not None or not kid:
                return found
            allowed = (self._last_refetch is None
                       or now - self._last_refetch >= self.refetch_interval_s)
            if not allowed:
                return None  # a flood of made-up kids cannot make us hammer the AS
            self._last_refetch = now  # counted even if it fails: no retry storm
            await self._load()
            return self._lookup(kid)

    def _lookup(self, kid: str) -> dict[str, Any] | None:
        if kid:
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    """``scope`` (RFC 9068: space-separated) or ``scp`` (a list, as some AS issue)."""
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [str(s) for s in raw]
    return []


class JwtTokenVerifier:
    """mcp ``TokenVerifier`` for JWT access tokens signed by the configured AS."""

    def __init__(self, settings: OAuthSettings, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.jwks = JwksCache(settings.jwks_url, timeout_s=settings.jwks_timeout_s,
                              cache_s=settings.jwks_cache_s,
                              refetch_interval_s=settings.refetch_interval_s,
                              ca_file=settings.ca_file, transport=transport)
        # Parsing a JWK into a key object costs more than verifying a signature with it.
        self._parsed: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {}

    async def verify_token(self, token: str) -> Any:
        """mcp's protocol: the ``AccessToken``, or None for any refusal."""
        try:
            return await self.authenticate(token)
        except (TokenRejectedError, JwksUnavailableError):
            return None

    async def authenticate(self, token: str) -> Any:
        """The ``AccessToken`` for a valid token; ``TokenRejectedError`` says why not."""
        import jwt  # noqa: PLC0415
        from mcp.server.auth.provider import AccessToken  # noqa: PLC0415

        s = self.settings
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRejectedError("the token is too long")
        header = _b64_alg_header(token)
        alg = str(header.get("alg", ""))
        if alg.lower() == "none":
            raise TokenRejectedError("unsigned tokens (alg none) are not accepted")
        if alg not in s.algorithms:
            raise TokenRejectedError(
                f"algorithm {alg or '(missing)'} is not accepted (allowed: "
                f"{', '.join(s.algorithms)})")
        kid = str(header.get("kid", ""))
        jwk = await self.jwks.key(kid)
        if jwk is None:
            raise TokenRejectedError(
                f"no signing key {kid or '(no kid)'} at the authorization server")
        if jwk.get("alg") not in (None, alg):
            raise TokenRejectedError(f"key {kid} is for {jwk.get('alg')}, the token says {alg}")
        cached = self._parsed.get((kid, alg))
        if cached is not None and cached[0] is jwk:  # same JWK object: not refetched since
            key = cached[1]
        else:
            try:
                key = jwt.PyJWK(jwk, algorithm=alg)
            except jwt.PyJWTError:
                raise TokenRejectedError(f"key {kid} does not fit algorithm {alg}") from None
            self._parsed[(kid, alg)] = (jwk, key)
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], issuer=s.issuer, leeway=s.leeway_s,
                options={"verify_aud": False, "require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise TokenRejectedError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejectedError("the token is not valid yet (nbf)") from None
        except jwt.InvalidIssuerError:
            raise TokenRejectedError("the token was issued by another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejectedError(f"the token has no {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenRejectedError("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenRejectedError(f"the token is not valid ({type(exc).__name__})") from None
        aud = claims.get("aud")
        if aud not in (s.resource, [s.resource]):
            # RFC 8707: only tokens minted for this resource; never pass one through.
            raise TokenRejectedError("the token was issued for another resource (aud)")
        scopes = _scopes(claims)
        missing = [sc for sc in s.scopes if sc not in scopes]
        if missing:
            raise TokenRejectedError(f"the token lacks scope {' '.join(missing)}", status=403,
                                     error="insufficient_scope")
        client_id = str(claims.get("client_id") or claims.get("azp") or claims.get("cid") or "")
        exp = claims.get("exp")
        return AccessToken(token=token, client_id=client_id, scopes=scopes,
                           expires_at=int(exp) if isinstance(exp, int | float) else None,
                           resource=s.resource,
                           subject=str(claims["sub"]) if "sub" in claims else None,
                           claims={k: v for k, v in claims.items()
                                   if k in ("iss", "sub", "client_id", "azp", "jti", "act")})


def _quote(value: str) -> str:
    """A quoted-string for a header parameter (no quote or backslash survives)."""
    return '"' + value.replace("\\", "").replace('"', "'") + '"'


class OAuthResourceServer:
    """Metadata, challenges and token checks for one served MCP endpoint."""

    def __init__(self, settings: OAuthSettings, *, endpoint_path: str = "/mcp",
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.verifier = JwtTokenVerifier(settings, transport=transport)
        parts = urlsplit(settings.resource)
        suffix = parts.path.rstrip("/")
        self.metadata_url = f"{parts.scheme}://{parts.netloc}{METADATA_PATH}{suffix}"
        self.metadata_paths = frozenset(
            {METADATA_PATH, f"{METADATA_PATH}{suffix}", f"{METADATA_PATH}{endpoint_path}"})

    def metadata(self) -> dict[str, Any]:
        """The RFC 9728 document (mcp's ``ProtectedResourceMetadata`` model)."""
        from mcp.shared.auth import ProtectedResourceMetadata  # noqa: PLC0415

        s = self.settings
        doc = ProtectedResourceMetadata.model_validate({
            "resource": s.resource,
            "authorization_servers": list(s.authorization_servers or (s.issuer,)),
            "scopes_supported": list(s.scopes) or None,
            "bearer_methods_supported": ["header"],
            "resource_signing_alg_values_supported": None,
            "resource_name": s.resource_name,
        })
        out = doc.model_dump(mode="json", exclude_none=True)
        # pydantic may add a trailing "/" to a bare origin; the document says what we compare.
        out["resource"] = s.resource
        out["authorization_servers"] = list(s.authorization_servers or (s.issuer,))
        return out

    def challenge(self, rejected: TokenRejectedError | None = None) -> str:
        """The ``WWW-Authenticate`` value for a 401/403."""
        parts = [f"resource_metadata={_quote(self.metadata_url)}"]
        if rejected is not None and rejected.error:
            parts.append(f"error={_quote(rejected.error)}")
            parts.append(f"error_description={_quote(rejected.description)}")
        if self.settings.scopes:
            parts.append(f"scope={_quote(' '.join(self.settings.scopes))}")
        return "Bearer " + ", ".join(parts)

    async def authenticate(self, authorization: str) -> Any:
        """The ``AccessToken`` for an ``Authorization`` header, else raise.

        No token at all is refused without an error code (RFC 6750 section 3.1).
        """
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRejectedError("a bearer access token is required", error=None)
        return await self.verifier.authenticate(token)


def settings_from_config(cfg: Mapping[str, Any], *, default_resource: str) -> OAuthSettings:
    """``OAuthSettings`` from the profile's ``serve.oauth`` table (already validated)."""
    def tup(key: str) -> tuple[str, ...]:
        value: Sequence[str] = cfg.get(key) or ()
        return tuple(value)

    ca = cfg.get("ca_file")
    return OAuthSettings(
        resource=str(cfg.get("resource") or default_resource),
        issuer=str(cfg["issuer"]),
        jwks_url=str(cfg["jwks_url"]),
        authorization_servers=tup("authorization_servers"),
        scopes=tup("scopes"),
        algorithms=tup("algorithms") or DEFAULT_ALGORITHMS,
        leeway_s=float(cfg.get("leeway_s", 30.0)),
        jwks_timeout_s=float(cfg.get("jwks_timeout_s", 5.0)),
        jwks_cache_s=float(cfg.get("jwks_cache_s", 3600.0)),
        refetch_interval_s=float(cfg.get("jwks_refetch_interval_s", 60.0)),
        ca_file=Path(ca) if ca else None,
    )


def current_caller() -> dict[str, Any] | None:
    """Who called, from the OAuth access token of the request being served (else None)."""
    if _AUTH_CONTEXT not in sys.modules:  # no token can be set without mcp's module loaded
        return None
    from mcp.server.auth.middleware.auth_context import get_access_token  # noqa: PLC0415

    token = get_access_token()
    if token is None:
        return None
    return {"sub": token.subject, "client_id": token.client_id or None,
            "iss": (token.claims or {}).get("iss")}
