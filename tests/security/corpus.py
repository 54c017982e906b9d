"""A labelled corpus of secrets and personal data embedded in realistic telemetry.

Each sample is a text (a log line, a JSON document, a URL, a stack trace, an env
dump...) and the sensitive values planted in it. Values are random per seed and
follow the real formats (key prefixes and lengths, Luhn-valid card numbers,
base64 credentials, PEM blocks), so the corpus tests the rules, not a list.
Contexts vary independently of kinds: every kind appears in every context that
could carry it.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

ALNUM = string.ascii_letters + string.digits
UPPER_NUM = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


@dataclass(frozen=True)
class Sample:
    kind: str
    context: str
    text: str
    secrets: tuple[str, ...]


def _s(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    digits = prefix + _s(rng, string.digits, length - len(prefix) - 1)
    for check in string.digits:
        cand = digits + check
        total = 0
        for i, ch in enumerate(reversed(cand)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return cand
    raise AssertionError("unreachable")


def _password(rng: random.Random) -> str:
    return _s(rng, ALNUM + "!#$%^*-_+.", rng.randint(8, 24))


def _jwt(rng: random.Random) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    head = part({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    body = part({"sub": _s(rng, string.digits, 8), "iat": rng.randint(10**9, 2 * 10**9),
                 "scope": rng.choice(["read", "admin", "orders:write"])})
    return f"{head}.{body}.{_s(rng, URLSAFE, rng.choice([43, 86, 342]))}"


def _pem(rng: random.Random) -> str:
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY",
                        "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
    body = "\n".join(_s(rng, B64, 64) for _ in range(rng.randint(3, 8)))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def _email(rng: random.Random) -> str:
    user = rng.choice([
        f"{_s(rng, string.ascii_lowercase, rng.randint(3, 9))}."
        f"{_s(rng, string.ascii_lowercase, rng.randint(3, 9))}",
        f"{_s(rng, string.ascii_lowercase, 6)}{rng.randint(1, 999)}",
        f"{_s(rng, string.ascii_lowercase, 5)}+{_s(rng, string.ascii_lowercase, 4)}",
    ])
    domain = rng.choice(["example.com", "corp.example.org", "mail.co.uk", "acme.io",
                         "shop-example.de", "gmail.com"])
    return f"{user}@{domain}"


def _phone(rng: random.Random) -> str:
    d = lambda n: _s(rng, string.digits, n)  # noqa: E731
    area = str(rng.randint(201, 989))
    return rng.choice([
        f"+1 {area}-{d(3)}-{d(4)}",
        f"+1{area}{d(7)}",
        f"({area}) {d(3)}-{d(4)}",
        f"{area}-{d(3)}-{d(4)}",
        f"{area}.{d(3)}.{d(4)}",
        f"+44 20 {d(4)} {d(4)}",
        f"+49 30 {d(8)}",
        f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"+91 {d(5)} {d(5)}",
        f"+61 4{d(2)} {d(3)} {d(3)}",
    ])


def _card(rng: random.Random) -> str:
    brand = rng.choice(["visa", "mc", "mc2", "amex", "discover", "visa19"])
    if brand == "amex":
        n = _luhn_complete(rng, rng.choice(["34", "37"]), 15)
        groups = [n[:4], n[4:10], n[10:]]
    else:
        prefix, length = {"visa": ("4", 16), "mc": (f"5{rng.randint(1, 5)}", 16),
                          "mc2": ("2221", 16), "discover": ("6011", 16),
                          "visa19": ("4", 19)}[brand]
        n = _luhn_complete(rng, prefix, length)
        groups = [n[i:i + 4] for i in range(0, length, 4)]
    sep = rng.choice(["", " ", "-"])
    return sep.join(groups)


def _basic(rng: random.Random) -> str:
    user = _s(rng, string.ascii_lowercase, rng.randint(3, 10))
    return base64.b64encode(f"{user}:{_password(rng)}".encode()).decode()


# kind -> (value generator, the contexts' way to present it)
GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "aws_key": lambda r: r.choice(["AKIA", "ASIA"]) + _s(r, UPPER_NUM, 16),
    "gcp_key": lambda r: "AIza" + _s(r, URLSAFE, 35),
    "gcp_oauth": lambda r: "ya29." + _s(r, URLSAFE, r.randint(60, 120)),
    "slack_token": lambda r: (f"xox{r.choice('bpaers')}-{_s(r, string.digits, 12)}-"
                              f"{_s(r, string.digits, 12)}-{_s(r, ALNUM, 24)}"),
    "github_token": lambda r: r.choice([f"gh{r.choice('pousr')}_{_s(r, ALNUM, 36)}",
                                        f"github_pat_{_s(r, ALNUM, 22)}_{_s(r, ALNUM, 59)}"]),
    "api_token": lambda r: r.choice([f"sk_live_{_s(r, ALNUM, 24)}",
                                     f"sk-ant-api03-{_s(r, URLSAFE, 80)}",
                                     f"sk-proj-{_s(r, URLSAFE, 48)}",
                                     f"npm_{_s(r, ALNUM, 36)}",
                                     f"glpat-{_s(r, URLSAFE, 20)}"]),
    "jwt": _jwt,
    "private_key": _pem,
    "email": _email,
    "phone": _phone,
    "card": _card,
}
# Kinds that only exist in a context (the value alone is not recognisable, by design).
CONTEXT_ONLY = ("aws_secret", "password", "bearer", "basic_auth", "url_password",
                "conn_string", "azure_key", "sas_signature", "slack_webhook", "k8s_env")

SERVICES = ["checkout", "payments", "orders", "cart", "auth", "frontend", "inventory"]
LEVELS = ["INFO", "WARN", "ERROR", "DEBUG"]


def _ts(rng: random.Random) -> str:
    return (f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z")


def _log_prefix(rng: random.Random) -> str:
    svc = rng.choice(SERVICES)
    return (f"{_ts(rng)} {rng.choice(LEVELS)} [{svc}-{_s(rng, string.ascii_lowercase, 5)}] "
            f"trace_id={_s(rng, '0123456789abcdef', 32)} ")


def _contextual(kind: str, rng: random.Random) -> tuple[str, str]:
    """(text, secret) for the kinds that are only recognisable by what surrounds them."""
    pw = _password(rng)
    host = rng.choice(["db.internal", "10.0.3.17", "pg-primary.prod.svc", "redis-0.cache"])
    if kind == "aws_secret":
        sec = _s(rng, B64, 40)
        return rng.choice([f"aws_secret_access_key = {sec}", f'"SecretAccessKey": "{sec}"',
                           f"AWS_SECRET_ACCESS_KEY={sec}"]), sec
    if kind == "password":
        key = rng.choice(["password", "passwd", "db_password", "PASSWORD", "secret",
                          "client_secret", "api_key", "apiKey", "X-Api-Key", "access_token",
                          "refresh_token", "auth_token", "session_token", "SMTP_PASSWORD"])
        fmt = rng.choice(["{k}={v}", "{k}: {v}", '"{k}": "{v}"', "{k}='{v}'", '{k}="{v}"',
                          "--{k}={v}", "{k} => {v}"])
        return fmt.format(k=key, v=pw), pw
    if kind == "bearer":
        tok = rng.choice([_s(rng, URLSAFE + ".~", rng.randint(20, 64)), _jwt(rng)])
        return rng.choice([f"Authorization: Bearer {tok}", f'"authorization": "Bearer {tok}"',
                           f"curl -H 'Authorization: Bearer {tok}'", f"bearer {tok}"]), tok
    if kind == "basic_auth":
        cred = _basic(rng)
        return rng.choice([f"Authorization: Basic {cred}", f'"Authorization":"Basic {cred}"',
                           f"proxy sent Basic {cred}"]), cred
    if kind == "url_password":
        scheme = rng.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis",
                             "amqp", "https", "ftp", "jdbc:postgresql"])
        user = _s(rng, string.ascii_lowercase, 5)
        return f"{scheme}://{user}:{pw}@{host}:{rng.randint(1000, 9999)}/app", pw
    if kind == "conn_string":
        return rng.choice([
            f"Server=tcp:{host},1433;Database=orders;User ID=app;Password={pw};Encrypt=true",
            f"Host={host};Port=5432;Username=app;Pwd={pw};",
            f"jdbc:mysql://{host}:3306/app?user=app&password={pw}&useSSL=true",
        ]), pw
    if kind == "azure_key":
        key = _s(rng, B64, 86) + "=="
        return (f"DefaultEndpointsProtocol=https;AccountName=logs{rng.randint(1, 99)};"
                f"AccountKey={key};EndpointSuffix=core.windows.net"), key
    if kind == "sas_signature":
        sig = _s(rng, ALNUM, 43) + "%3D"
        return (f"https://acct.blob.core.windows.net/c/blob.json?sv=2022-11-02&ss=b&srt=o"
                f"&sp=r&se=2026-12-01T00:00:00Z&sig={sig}"), sig
    if kind == "slack_webhook":
        path = f"T{_s(rng, UPPER_NUM, 8)}/B{_s(rng, UPPER_NUM, 10)}/{_s(rng, ALNUM, 24)}"
        return f"https://hooks.slack.com/services/{path}", path
    if kind == "k8s_env":
        return json.dumps({"name": rng.choice(["DB_PASSWORD", "STRIPE_API_KEY",
                                               "JWT_SECRET"]), "value": pw}), pw
    raise KeyError(kind)


def _embed(rng: random.Random, snippet: str, context: str) -> str:
    svc = rng.choice(SERVICES)
    if context == "log":
        return _log_prefix(rng) + rng.choice([
            f"request failed: {snippet}", f"config loaded {snippet} ok",
            f"user={snippet} action=login status=ok", f"retrying with {snippet} (attempt 2)",
            f"{snippet}",
        ])
    if context == "json":
        return json.dumps({"ts": _ts(rng), "service": svc, "level": "error",
                           "msg": f"upstream call rejected ({snippet})",
                           "attrs": {"route": "/api/v1/orders", "status": 401}})
    if context == "url":
        return (f'{_ts(rng)} 10.1.{rng.randint(0, 255)}.{rng.randint(0, 255)} "GET '
                f'/api/v1/callback?next={snippet}&x=1 HTTP/1.1" 302 0')
    if context == "stack":
        return (f"{_log_prefix(rng)}unhandled exception\nTraceback (most recent call last):\n"
                f'  File "/app/{svc}/handler.py", line {rng.randint(10, 400)}, in handle\n'
                f"    resp = client.post(url, headers=headers)\n"
                f"  File \"/app/{svc}/client.py\", line 88, in post\n"
                f"    raise UpstreamError(f'rejected: {{detail}}')\n"
                f"UpstreamError: rejected: {snippet}")
    if context == "env":
        return f"+ exec env {svc.upper()}_MODE=prod {snippet} /usr/bin/{svc}"
    raise KeyError(context)


CONTEXTS = ("log", "json", "url", "stack", "env")


def generate(n: int = 1500, seed: int = 11) -> list[Sample]:
    """``n`` samples spread evenly over every kind (and every context for each kind)."""
    rng = random.Random(seed)
    kinds = [*GENERATORS, *CONTEXT_ONLY]
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        context = CONTEXTS[(i // len(kinds)) % len(CONTEXTS)]
        if kind in GENERATORS:
            value = GENERATORS[kind](rng)
            snippet = value
        else:
            snippet, value = _contextual(kind, rng)
        out.append(Sample(kind, context, _embed(rng, snippet, context), (value,)))
    return out


def survives(secret: str, text: str, original: str) -> bool:
    """Whether any 8-character stretch of ``secret`` (not also in the template) is in ``text``."""
    template = original.replace(secret, "")
    width = min(8, len(secret))
    for i in range(len(secret) - width + 1):
        piece = secret[i:i + width]
        if piece in text and piece not in template:
            return True
    return False
