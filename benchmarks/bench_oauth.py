"""OAuth resource-server benchmark: what checking an access token costs per request.

One command:  python benchmarks/bench_oauth.py [--n 2000]

Measures, in one process, (1) ``JwtTokenVerifier.authenticate`` on RS256 (2048-bit)
and ES256 tokens with the JWKS already cached (the steady state: signature, claims,
audience, scopes), and (2) a whole request through ``HttpGuard`` to a trivial ASGI
app over ``httpx.ASGITransport`` with no auth, a static token and OAuth, so the
difference is the auth cost a client sees. The JWKS comes from an
``httpx.MockTransport`` (one fetch). Best of 3 runs each; the load average is
recorded because the machine is shared. Writes results/oauth.json and results/oauth.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from _harness import write_results
from obsbench_servers.common.httpguard import HttpGuard
from obsbench_servers.common.oauth import OAuthResourceServer, OAuthSettings

RESOURCE = "http://127.0.0.1:8765/mcp"
ISSUER = "https://auth.bench.test"


def _jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    doc = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
    return {**doc, "kid": kid, "alg": alg}


def _token(key: Any, kid: str, alg: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": RESOURCE, "sub": "bench", "client_id": "b",
                       "scope": "obsbench:read", "exp": now + 3600}, key, algorithm=alg,
                      headers={"kid": kid})


async def _best_per_call(fn: Any, n: int) -> float:
    """Best of 3 runs of ``n`` awaited calls: seconds per call."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            await fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


async def run(n: int) -> dict[str, float]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = {"keys": [_jwk(rsa_key, "r", "RS256"), _jwk(ec_key, "e", "ES256")]}
    jwks = httpx.MockTransport(lambda _req: httpx.Response(200, json=keys))
    oauth = OAuthResourceServer(OAuthSettings(resource=RESOURCE, issuer=ISSUER,
                                              jwks_url="https://auth.bench.test/jwks",
                                              scopes=("obsbench:read",)), transport=jwks)
    rs, es = _token(rsa_key, "r", "RS256"), _token(ec_key, "e", "ES256")
    out: dict[str, float] = {}
    out["verify_rs256_us"] = 1e6 * await _best_per_call(
        lambda: oauth.verifier.authenticate(rs), n)
    out["verify_es256_us"] = 1e6 * await _best_per_call(
        lambda: oauth.verifier.authenticate(es), n)

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    hosts = ["127.0.0.1:8765"]
    static = "s" * 32
    guards = {
        "none": (HttpGuard(ok, allowed_hosts=hosts), {}),
        "static": (HttpGuard(ok, tokens=[static], allowed_hosts=hosts),
                   {"authorization": f"Bearer {static}"}),
        "oauth_rs256": (HttpGuard(ok, allowed_hosts=hosts, oauth=oauth),
                        {"authorization": f"Bearer {rs}"}),
    }
    for name, (guard, headers) in guards.items():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guard),
                                     base_url="http://127.0.0.1:8765") as client:
            async def one(c: httpx.AsyncClient = client, h: dict[str, str] = headers) -> None:
                r = await c.get("/mcp", headers=h)
                assert r.status_code == 200, r.text

            out[f"request_{name}_us"] = 1e6 * await _best_per_call(one, n)
    out["jwks_fetches"] = float(oauth.verifier.jwks.fetches)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    res = asyncio.run(run(args.n))
    table = [
        f"# OAuth resource server (n={args.n} per run, best of 3; load average {load:.1f})",
        "",
        "| what | per call |",
        "|---|---|",
        f"| verify RS256 token (JWKS cached) | {res['verify_rs256_us']:.0f} µs |",
        f"| verify ES256 token (JWKS cached) | {res['verify_es256_us']:.0f} µs |",
        f"| request through HttpGuard, no auth | {res['request_none_us']:.0f} µs |",
        f"| request through HttpGuard, static token | {res['request_static_us']:.0f} µs |",
        f"| request through HttpGuard, OAuth RS256 | {res['request_oauth_rs256_us']:.0f} µs |",
        f"| JWKS fetches over all runs | {res['jwks_fetches']:.0f} |",
    ]
    write_results("oauth", {"n": args.n, "load_average_1m": load, **res}, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
