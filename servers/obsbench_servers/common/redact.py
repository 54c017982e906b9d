"""Redaction: no secret or personal datum in a tool result ever reaches a model.

Every tool result passes through ``register_tool``'s wrapper, which hands both
channels — the text and ``structured_content`` — to the ``Redactor`` of the
server (``redactor_for``): any MCP client may give either to a model, so both
are redacted. What is found is replaced by a pseudonym such as
``<redacted:email#3f9a2c1b>``: the same value always becomes the same token
within one ``PseudonymMap`` (an investigation: the hub shares one map across
its five servers), so the model can still correlate "the same user in the logs
and in the trace". The token is a keyed hash of the value (HMAC-SHA-256 with the
map's random key): it cannot be reversed or dictionary-attacked without the
key, and two processes given the same key agree. Only the workbench, which
holds the map in memory, can turn tokens back into values (``reveal``) for the
engineer's own screen.

What is found (rules below, all in one compiled alternation so a string is
scanned once): cloud provider keys (AWS key ids and secret keys in context,
Google API keys and OAuth tokens, Azure account keys and SAS signatures),
Slack, GitHub, Stripe, OpenAI/Anthropic and npm tokens, JWTs, bearer and basic
``Authorization`` credentials, passwords in URLs and ``key=value`` / JSON
pairs named like secrets (connection strings included), PEM private keys,
e-mail addresses, phone numbers, card numbers that pass the Luhn check, IP
addresses when a profile asks, and each profile's own patterns. In structured
content a string under a key named like a secret (``password``, ``api_key``,
``authorization``...) is redacted whole.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

TOKEN_PREFIX = "<redacted:"
TOKEN_RE = re.compile(r"<redacted:([a-z_]+)#([0-9a-f]{8})>")

# Key names whose value is a secret, in text (key=value, key: value, "key": "value") and
# as structured-content keys.
_SECRET_KEYS = (
    r"(?:aws_)?secret_?access_?key|aws_session_token|secret_?key|client_?secret|"
    r"pass(?:word|wd|phrase)?|db_?pass(?:word)?|"
    r"api[_-]?key|apikey|api[_-]?token|access[_-]?token|refresh[_-]?token|auth[_-]?token|"
    r"id[_-]?token|session[_-]?(?:id|token)|private[_-]?key|account[_-]?key|"
    r"shared[_-]?access[_-]?key|credentials?|secret|token"
)
SECRET_KEY_RE = re.compile(rf"(?i)^(?:[\w.-]*[_.-])?(?:{_SECRET_KEYS}|pwd)$")
# Key names that look like secrets but hold none (counts, ids of tokens in LLM usage...).
_NOT_SECRET_KEYS = re.compile(r"(?i)(?:^|_)(?:tokens?_?(?:count|total|used|budget)|"
                              r"max_tokens|input_tokens|output_tokens|token_type)$")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(value: str) -> bool:
    digits = re.sub(r"[ -]", "", value)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _phone_ok(value: str) -> bool:
    return 8 <= sum(c.isdigit() for c in value) <= 15


def _basic_ok(value: str) -> bool:
    """A basic credential is base64 of ``user:password``; English words after "basic" are not."""
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in raw


@dataclass(frozen=True)
class Rule:
    """One kind of sensitive value: a pattern whose group ``v`` (or whole match) is secret.

    ``triggers``: lower-case strings one of which a line must contain for the rule to
    run at all (most log lines contain none: scanning stays cheap); empty: always run.
    """

    kind: str
    pattern: str
    validate: Callable[[str], bool] | None = None
    triggers: tuple[str, ...] = ()
    flags: int = 0


_V = r"[^\s\"',;&}\]<>\\]"  # a value character in key=value text
_KEY_TRIGGERS = ("pass", "pwd", "secret", "key", "token", "credential", "session")
# (?<![...]X) after a leading character class X: a lookbehind at the very start would stop
# the regex engine from skipping quickly to candidate first characters.
RULES: tuple[Rule, ...] = (
    Rule("private_key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)"
                        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", triggers=("-----begin",)),
    # tools clip long values ("eyJhbGci...eyJzdWIi… [+128 chars]"): a JWT cut after its
    # payload began, or a key cut short, is still caught by its prefix
    Rule("jwt", r"eyJ(?<![\w-]eyJ)[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?",
         triggers=("eyj",)),
    Rule("authorization",
         r"(?i:authorization(?<![\w-]authorization)(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?)"
         r"(?P<v>(?i:(?:bearer|basic|token|digest|negotiate|apikey)\s+)?[^\s\"',;\\]{4,})",
         triggers=("authorization",)),
    Rule("bearer", r"(?i:bearer\s+)(?P<v>[A-Za-z0-9\-._~+/]{8,}=*)", triggers=("bearer",)),
    Rule("basic_auth", r"(?i:basic\s+)(?P<v>[A-Za-z0-9+/]{6,}={0,2})(?![\w+/=])", _basic_ok,
         triggers=("basic",)),
    Rule("url_password", r"(?i:[a-z0-9+.-]{2,20}://[^\s/:@\"'<>]+:)"
                         r"(?P<v>[^\s@/\"'<>]+)(?=@)", triggers=("://",)),
    Rule("aws_key", r"A(?<![A-Z0-9]A)(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|ROA|PKA|SCA)"
                    r"[A-Z0-9]{16}(?![A-Za-z0-9])",
         triggers=("akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva",
                   "aroa", "apka", "asca")),
    Rule("gcp_key", r"AIza[0-9A-Za-z_-]{16,}", triggers=("aiza",)),
    Rule("gcp_oauth", r"ya29\.[0-9A-Za-z_-]{12,}", triggers=("ya29.",)),
    Rule("slack_token", r"xox[abposre]-[A-Za-z0-9-]{10,}", triggers=("xox",)),
    Rule("slack_token", r"xapp-\d-[A-Za-z0-9-]{10,}", triggers=("xapp-",)),
    Rule("slack_webhook", r"(?i:hooks\.slack\.com/services/)(?P<v>[A-Za-z0-9/_-]{10,})",
         triggers=("hooks.slack.com",)),
    Rule("github_token", r"gh[pousr]_[A-Za-z0-9]{16,251}|github_pat_[A-Za-z0-9_]{12,255}",
         triggers=("gh", "github_pat_")),
    Rule("api_token", r"(?:[sr]k_(?:live|test)_[A-Za-z0-9]{12,}"
                      r"|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|npm_[A-Za-z0-9]{16,}|glpat-[A-Za-z0-9_-]{16,})",
         triggers=("k_live_", "k_test_", "sk-", "npm_", "glpat-")),
    Rule("sas_signature", r"(?i:[?&]sig=)(?P<v>[A-Za-z0-9%+/=]{16,})", triggers=("sig=",)),
    Rule("password",
         rf"(?<![A-Za-z0-9])(?:{_SECRET_KEYS})(?:\\?[\"'])?\s*(?:[:=]|=>)\s*(?:\\?[\"'])?"
         rf"(?P<v>(?<=[\"'])[^\"'\n]{{3,256}}?(?=\\?[\"'])|(?<![\"']){_V}{{3,}})",
         triggers=_KEY_TRIGGERS, flags=re.IGNORECASE),
    # PWD=/home/x in sudo logs is a working directory, not a password
    Rule("password", rf"(?<![A-Za-z0-9])pwd(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?"
                     rf"(?P<v>(?![/~]){_V}{{3,}})", triggers=("pwd",), flags=re.IGNORECASE),
    Rule("secret", r"(?i:\\?\"name\\?\"\s*:\s*\\?\"[\w.-]*(?:pass|secret|token|key|credential|pwd)"
                   r"[\w.-]*\\?\"\s*,\s*\\?\"value\\?\"\s*:\s*\\?\")(?P<v>[^\"\\\n]{1,512})",
         triggers=("value",)),
    Rule("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
         triggers=("@",)),
    Rule("card", r"[2-6](?<![\w.\-+][2-6])\d{3}(?:[ -]?\d){9,15}(?![\w-]|\.\d)",
         lambda v: _card_ok(v) and _card_prefix_ok(v)),
    Rule("phone", r"\+(?<![\w.+\-/:]\+)\d{1,3}[ .-]?(?:\(\d{1,4}\)|\d{1,4})"
                  r"(?:[ .-]?\d{2,4}){2,4}(?![\w-]|\.\d)", _phone_ok, triggers=("+",)),
    Rule("phone", r"\((?<![\w.\-/:]\()\d{3}\)[ .-]?\d{3}[ .-]\d{4}(?![\w-]|\.\d)",
         triggers=("(",)),
    Rule("phone", r"\d(?<![\w.\-/:]\d)\d{2}[.-]\d{3}[.-]\d{4}(?![\w-]|\.\d)"),
)
IP_RULES: tuple[Rule, ...] = (
    Rule("ip", r"\d(?<![\w.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w]|\.\d)",
         lambda v: all(int(p) <= 255 for p in v.split("."))),
    Rule("ip", r"(?<![\w:])(?P<v>(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|"
               r"(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}:?){1,6})(?![\w:])",
         lambda v: v.count(":") >= 2 and not v.replace(":", "").isdigit(), triggers=(":",)),
)
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9])")


def _card_prefix_ok(value: str) -> bool:
    return _CARD_PREFIX.match(value) is not None


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    regex: re.Pattern[str]
    has_v: bool


def _compile(rules: Iterable[Rule]) -> list[_Compiled]:
    out = []
    for rule in rules:
        rx = re.compile(rule.pattern, rule.flags)
        out.append(_Compiled(rule, rx, "v" in rx.groupindex))
    return out


KEY_ENV = "OBSBENCH_PSEUDONYM_KEY"
# A value once redacted is redacted wherever it shows up again, even with no context
# around it (a password echoed bare in an error message): from this length on.
MIN_KNOWN_LEN = 6
MIN_PIECE_LEN = 10
_PIECE = re.compile(r"[A-Za-z0-9_+/=]+")
_MAX_PIECES = 40


def _replace_known(text: str, value: str, token: str) -> str:
    """Replace ``value`` in ``text``, and any clipped start of it (10+ characters).

    Tools clip long values in messages ("near 'ASIAW7B3PDKH'"): a known value's
    beginning is as sensitive as the whole.
    """
    head = value[:MIN_PIECE_LEN]
    out = []
    pos = 0
    while True:
        i = text.find(head, pos)
        if i < 0:
            break
        k = len(head)
        while k < len(value) and i + k < len(text) and text[i + k] == value[k]:
            k += 1
        out.append(text[pos:i])
        out.append(token)
        pos = i + k
    out.append(text[pos:])
    return "".join(out)


def _pieces(value: str) -> list[str]:
    """Runs of consecutive pieces of ``value`` (split at punctuation), 10+ characters long."""
    parts = [(m.start(), m.end()) for m in _PIECE.finditer(value)]
    if len(parts) > _MAX_PIECES:  # a long text: single pieces only
        return [value[a:b] for a, b in parts if b - a >= MIN_PIECE_LEN]
    out = []
    for i in range(len(parts)):
        for j in range(i, len(parts)):
            piece = value[parts[i][0]:parts[j][1]]
            if (len(piece) >= MIN_PIECE_LEN and piece != value
                    and piece.lower() not in _TOKEN_WORDS):
                out.append(piece)
    return out
_TOKEN_WORDS = ("<redacted:private_key#jwt#authorization#bearer#basic_auth#url_password#"
                "aws_key#gcp_key#gcp_oauth#slack_token#slack_webhook#github_token#api_token#"
                "sas_signature#password#secret#email#card#phone#ip#custom#")


class PseudonymMap:
    """Value -> token, consistently for one investigation; token -> value for the workbench."""

    @classmethod
    def from_env(cls) -> PseudonymMap:
        """A map keyed by ``$OBSBENCH_PSEUDONYM_KEY`` (hex; set by a hub for its children)."""
        raw = os.environ.get(KEY_ENV, "")
        try:
            key = bytes.fromhex(raw) if raw else None
        except ValueError:
            key = None
        return cls(key)

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or os.urandom(32)
        self._values: dict[str, str] = {}
        self._known: dict[str, str] = {}
        self._known_sorted: list[tuple[str, str]] | None = None
        self._lock = threading.Lock()

    def token(self, kind: str, value: str) -> str:
        digest = hmac.new(self.key, value.encode("utf-8", "surrogatepass"),
                          hashlib.sha256).hexdigest()[:8]
        token = f"{TOKEN_PREFIX}{kind}#{digest}>"
        with self._lock:
            if token not in self._values:
                self._values[token] = value
                # (a value that is part of a token's own text, such as "password", would
                # rewrite tokens: it is redacted where found in context, not bare)
                if len(value) >= MIN_KNOWN_LEN and value.lower() not in _TOKEN_WORDS:
                    self._known[value] = token
                    # a parser may split the value at punctuation or spaces and echo a
                    # run of its pieces ("near '151072 81530'" of a card number)
                    for piece in _pieces(value):
                        self._known.setdefault(piece, token)
                    self._known_sorted = None
        return token

    def known(self) -> list[tuple[str, str]]:
        """(value, token) of every value redacted so far, longest first."""
        with self._lock:
            if self._known_sorted is None:
                self._known_sorted = sorted(self._known.items(), key=lambda kv: -len(kv[0]))
            return self._known_sorted

    def value(self, token: str) -> str | None:
        with self._lock:
            return self._values.get(token)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def reveal(self, obj: Any) -> Any:
        """Tokens back to their values (in strings, dicts, lists): the engineer's own view."""
        if isinstance(obj, str):
            if TOKEN_PREFIX not in obj:
                return obj
            return TOKEN_RE.sub(lambda m: self.value(m.group(0)) or m.group(0), obj)
        if isinstance(obj, dict):
            return {self.reveal(k): self.reveal(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.reveal(v) for v in obj)
        return obj


class Redactor:
    """Finds secrets and PII in text and structured data and replaces them with pseudonyms."""

    def __init__(self, *, patterns: Iterable[str] = (), ip_addresses: bool = False,
                 pseudonyms: PseudonymMap | None = None) -> None:
        self.pseudonyms = pseudonyms or PseudonymMap()
        self.ip_addresses = ip_addresses
        self.patterns = list(patterns)
        rules = [*RULES, *(IP_RULES if ip_addresses else ()),
                 *(Rule("custom", p) for p in self.patterns)]
        self._compiled = _compile(rules)
        # every distinct trigger is looked for once per line (a C-speed substring test)
        self._triggers = sorted({t for r in rules for t in r.triggers})
        self._multiline = [c for c in self._compiled if c.rule.kind == "private_key"]
        self._per_line = [c for c in self._compiled if c.rule.kind != "private_key"]

    @classmethod
    def from_config(cls, config: Any, pseudonyms: PseudonymMap | None = None) -> Redactor:
        """From a profile's ``redaction`` settings (``patterns``, ``ip_addresses``) or None."""
        if config is None:
            return cls(pseudonyms=pseudonyms)
        return cls(patterns=getattr(config, "patterns", ()) or (),
                   ip_addresses=bool(getattr(config, "ip_addresses", False)),
                   pseudonyms=pseudonyms)

    # -- text ----------------------------------------------------------------------------------
    def _replace(self, c: _Compiled, m: re.Match[str]) -> str:
        value = m.group("v") if c.has_v else m.group(0)
        if not value or value.startswith(TOKEN_PREFIX):
            return m.group(0)
        inner = value
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
            inner = inner[1:-1]
        if c.rule.validate is not None and not c.rule.validate(inner):
            return m.group(0)
        out = self.pseudonyms.token(c.rule.kind, inner)
        if inner is not value:
            out = value[0] + out + value[-1]
        if not c.has_v:
            return out
        s0 = m.start(0)
        start, end = m.span("v")
        whole = m.group(0)
        return whole[: start - s0] + out + whole[end - s0:]

    def _apply(self, compiled: list[_Compiled], text: str) -> str:
        lowered = text.lower()
        present = {t for t in self._triggers if t in lowered}
        for c in compiled:
            trig = c.rule.triggers
            if trig and present.isdisjoint(trig):
                continue
            text = c.regex.sub(functools.partial(self._replace, c), text)
        return text

    def text(self, text: str) -> str:
        """``text`` with every sensitive value replaced by its pseudonym."""
        if len(text) < 6:
            return text
        if "-----" in text:
            text = self._apply(self._multiline, text)
        if "\n" not in text:
            text = self._apply(self._per_line, text)
        else:
            text = "\n".join(self._apply(self._per_line, line) for line in text.split("\n"))
        for value, token in self.pseudonyms.known():
            head = value[:MIN_PIECE_LEN]
            if head in text:
                text = _replace_known(text, value, token)
        return text

    # -- structured data -----------------------------------------------------------------------
    def value(self, obj: Any, key: str | None = None,
              _memo: dict[str, str] | None = None) -> Any:
        """A copy of ``obj`` (JSON-like) with every string redacted; secret-named keys whole.

        Strings repeat a lot in tool payloads (service names, span names, ids), so each
        distinct one is redacted once per call.
        """
        memo = {} if _memo is None else _memo
        if isinstance(obj, str):
            if (key is not None and obj and not obj.startswith(TOKEN_PREFIX)
                    and SECRET_KEY_RE.match(key) and not _NOT_SECRET_KEYS.search(key)):
                return self.pseudonyms.token("secret", obj)
            done = memo.get(obj)
            if done is None:
                done = memo[obj] = self.text(obj)
            return done
        if isinstance(obj, dict):
            name = obj.get("name")
            if (isinstance(name, str) and isinstance(obj.get("value"), str)
                    and SECRET_KEY_RE.match(name) and not _NOT_SECRET_KEYS.search(name)):
                # {"name": "DB_PASSWORD", "value": "..."}: Kubernetes env vars, headers
                obj = {**obj, "value": self.value(obj["value"], name, memo)}
            return {(self.value(k, None, memo) if isinstance(k, str) else k):
                    self.value(v, k if isinstance(k, str) else None, memo)
                    for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.value(v, None, memo) for v in obj]
        return obj

    def call_result(self, result: Any) -> Any:
        """A ``CallToolResult`` with its text contents and ``structured_content`` redacted."""
        updates: dict[str, Any] = {}
        content = []
        changed = False
        for item in result.content:
            text = getattr(item, "text", None)
            if isinstance(text, str):
                red = self.text(text)
                if red != text:
                    item = item.model_copy(update={"text": red})  # noqa: PLW2901
                    changed = True
            content.append(item)
        if changed:
            updates["content"] = content
        if result.structured_content is not None:
            updates["structured_content"] = self.value(result.structured_content)
        return result.model_copy(update=updates) if updates else result


# -- which redactor a server uses ------------------------------------------------------------
_default: Redactor | None = None
_by_server: weakref.WeakKeyDictionary[Any, Redactor] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def default_redactor() -> Redactor:
    """The process's redactor (built-in rules, a fresh key) unless one was installed."""
    global _default
    with _lock:
        if _default is None:
            _default = Redactor()
        return _default


def set_default_redactor(redactor: Redactor | None) -> None:
    """Install the process's redactor (``obsbench serve`` does, from the profile)."""
    global _default
    with _lock:
        _default = redactor


def attach_redactor(server: Any, redactor: Redactor) -> None:
    """Give one server its own redactor (the hub: one pseudonym map per investigation)."""
    # not weak-referenceable (a test double): the process's redactor applies
    with _lock, contextlib.suppress(TypeError):
        _by_server[server] = redactor


def redactor_for(server: Any) -> Redactor:
    """The server's redactor, else the process's: every result is redacted, whatever the path."""
    if server is not None:
        with _lock:
            found = _by_server.get(server)
        if found is not None:
            return found
    return default_redactor()
