"""Runbooks for an alert: the team's markdown files, or the alert's ``runbook_url``.

Sources, in order: the profile's ``runbooks_dir`` (``*.md`` files with front matter
``alerts: [NAME, ...]``) and the runbooks of a bundle (the store's ``runbooks``
table). Alert names are matched exactly, then loosely (case, ``-``/``_``, small typos),
then by title and file name, so ``high_error_rate`` finds the runbook of
``HighErrorRate``. When no runbook matches, an alert's ``runbook_url`` annotation is
fetched — only from hosts listed in ``allowed_runbook_hosts`` (a URL in an alert
annotation is data from the monitored system, and must not make obsbench reach
arbitrary hosts), without following redirects to other hosts, with a size cap and a
timeout.
"""

from __future__ import annotations

import difflib
import html
import re
import tomllib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson
import yaml

from obsbench_servers.common.errors import BackendError, BadInputError, GuardError
from obsbench_servers.common.http import USER_AGENT, read_capped, redact_url

MAX_RUNBOOK_BYTES = 1 << 20
FETCH_MAX_BYTES = 512 * 1024
FETCH_TIMEOUT_S = 10.0
MAX_REDIRECTS = 3
MATCH_THRESHOLD = 0.6
SOURCE_RANK = {"runbooks_dir": 0, "bundle": 1, "url": 2}


@dataclass
class Runbook:
    title: str
    path: str
    alerts: list[str]
    body: str
    source: str  # runbooks_dir | bundle | url
    services: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "path": self.path, "alerts": self.alerts,
                "services": self.services, "source": self.source}


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value)]


def parse_runbook(text: str, path: str, source: str) -> Runbook:
    """A markdown runbook with optional YAML (``---``) or TOML (``+++``) front matter."""
    from obsbench_servers.store.importers.runbooks import split_front_matter  # noqa: PLC0415

    kind, fm, body = split_front_matter(text.lstrip("\ufeff"))
    front: dict[str, Any] = {}
    if kind:
        try:
            loaded = yaml.safe_load(fm) if kind == "yaml" else tomllib.loads(fm)
        except (yaml.YAMLError, tomllib.TOMLDecodeError):
            loaded = {}
        front = loaded if isinstance(loaded, dict) else {}
    title = front.get("title")
    if not title:
        title = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("# ")),
                     Path(path).stem)
    return Runbook(str(title), path, _names(front.get("alerts") or front.get("alert")),
                   body.strip("\n"), source,
                   _names(front.get("services") or front.get("service")))


def load_dir(directory: Path) -> list[Runbook]:
    """Every ``*.md`` under ``directory`` (recursively), each read up to 1 MiB."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise BadInputError(f"runbooks_dir {root} is not a directory",
                            "fix runbooks_dir in the profile, or remove it")
    out = []
    for path in sorted(root.rglob("*.md")):
        try:
            with path.open("rb") as f:
                raw = f.read(MAX_RUNBOOK_BYTES)
        except OSError:
            continue
        out.append(parse_runbook(raw.decode("utf-8", "replace"), str(path.relative_to(root)),
                                 "runbooks_dir"))
    return out


def from_store(rows: list[tuple[Any, ...]]) -> list[Runbook]:
    """Rows of the store's runbooks table: (path, title, alerts_json, services_json, body)."""
    out = []
    for path, title, alerts, services, body in rows:
        out.append(Runbook(title or Path(path).stem, path, orjson.loads(alerts or "[]"),
                           body or "", "bundle", orjson.loads(services or "[]")))
    return out


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _tokens(text: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return {t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t}


def match(alert_name: str, runbooks: list[Runbook]) -> list[tuple[float, Runbook, str]]:
    """Runbooks for ``alert_name``, best first, with a score in [0, 1] and why each matched."""
    want, norm, toks = alert_name.strip(), _norm(alert_name), _tokens(alert_name)
    scored: list[tuple[float, Runbook, str]] = []
    for rb in runbooks:
        best, why = 0.0, ""
        for name in rb.alerts:
            if name == want:
                best, why = 1.0, f"front matter names {name}"
                break
            if _norm(name) == norm:
                score, reason = 0.95, f"front matter names {name} (spelt differently)"
            else:
                ratio = difflib.SequenceMatcher(None, _norm(name), norm).ratio()
                score, reason = ratio * 0.9, f"front matter names {name} (close)"
            if score > best:
                best, why = score, reason
        for label in (rb.title, Path(rb.path).stem):
            lt = _tokens(label)
            if toks and lt:
                jaccard = len(toks & lt) / len(toks | lt)
                score = 0.5 + 0.3 * jaccard if jaccard >= 0.5 else 0.0
                if _norm(label) == norm:
                    score = 0.9
                if score > best:
                    best, why = score, f"title or file name {label!r}"
        if best >= MATCH_THRESHOLD:
            scored.append((round(best, 3), rb, why))
    # The team's own directory wins a tie over a bundle's copy.
    scored.sort(key=lambda x: (-x[0], SOURCE_RANK.get(x[1].source, 9), x[1].path))
    return scored


# ---------------------------------------------------------------------------- fetching


class _Text(HTMLParser):
    """HTML to readable text: block elements become line breaks, scripts and styles vanish."""

    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                       "pre", "section", "article", "table", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript"):
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
        if tag in ("h1", "h2", "h3"):
            self.parts.append("#" * int(tag[1]) + " ")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(text: str) -> str:
    parser = _Text()
    parser.feed(text)
    parser.close()
    joined = html.unescape("".join(parser.parts))
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in joined.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def host_allowed(url: str, allowed: list[str]) -> bool:
    """Exact host names, or ``*.example.com`` for its subdomains; http(s) only."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    for entry in allowed:
        e = entry.strip().lower()
        if e.startswith("*.") and host.endswith(e[1:]):
            return True
        if host == e:
            return True
    return False


def fetch_runbook(url: str, allowed: list[str], *,
                  transport: httpx.BaseTransport | None = None) -> Runbook:
    """Fetch ``url`` if its host (and every redirect's host) is allowed; text or HTML only."""
    if not host_allowed(url, allowed):
        raise GuardError(
            f"runbook_url host {urlsplit(url).hostname!r} is not in allowed_runbook_hosts",
            "add the host to allowed_runbook_hosts in the profile to let obsbench fetch it, "
            "or open the URL yourself",
        )
    current = url
    with httpx.Client(timeout=httpx.Timeout(FETCH_TIMEOUT_S), follow_redirects=False,
                      headers={"User-Agent": USER_AGENT, "Accept": "text/markdown, text/plain, "
                               "text/html;q=0.9"}, transport=transport) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect:
                        target = urljoin(current, resp.headers.get("location", ""))
                        if not host_allowed(target, allowed):
                            raise GuardError(
                                f"{redact_url(current)} redirects to {redact_url(target)}, whose "
                                "host is not in allowed_runbook_hosts",
                                "add that host too if it is trusted")
                        current = target
                        continue
                    if resp.status_code != 200:
                        raise BackendError(f"{redact_url(current)} answered {resp.status_code}",
                                           "check the alert's runbook_url annotation")
                    body = read_capped(resp.iter_bytes(), FETCH_MAX_BYTES, url=current)
                    ctype = resp.headers.get("content-type", "")
            except httpx.HTTPError as exc:
                raise BackendError(f"cannot fetch {redact_url(current)}: {exc}",
                                   "check the URL and the network; the runbook host may be "
                                   "internal-only") from exc
            text = body.decode("utf-8", "replace")
            if "html" in ctype or text.lstrip().lower().startswith(("<!doctype", "<html")):
                text = html_to_text(text)
            elif not any(k in ctype for k in ("text/", "markdown", "json")) and ctype:
                raise BackendError(f"{redact_url(current)} is {ctype}, not a text runbook")
            title = next((ln.lstrip("# ").strip() for ln in text.splitlines() if ln.strip()),
                         current)
            return Runbook(title[:120], redact_url(current), [], text, "url")
    raise BackendError(f"{redact_url(url)} redirects more than {MAX_REDIRECTS} times")
