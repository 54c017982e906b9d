"""Stack-trace reassembly and parsing for Java, Python, Go, Node.js and .NET."""

from __future__ import annotations

import pytest

from obsbench_servers.logs.backend import LogRecord
from obsbench_servers.logs.stacktraces import group_traces, parse_trace, reassemble

JAVA = ("2026-03-26T09:26:08.100Z ERROR 1 --- [orders] [nio-8080-exec-1] "
        "o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() threw exception\n" + """
java.lang.NullPointerException: Cannot invoke "GiftCard.getBalance()" because "giftCard" is null
\tat com.shop.orders.pricing.PricingV2.applyGiftCards(PricingV2.java:142)
\tat com.shop.orders.pricing.PricingV2.price(PricingV2.java:88)
\tat com.shop.orders.service.OrderService.create(OrderService.java:61)
\tat com.shop.orders.api.OrderController.create(OrderController.java:47)
\t... 87 common frames omitted
Caused by: org.postgresql.util.PSQLException: ERROR: canceling statement
\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2713)""")

DOTNET = "\n".join([
    "Failed to handle message from order-events",
    "System.InvalidOperationException: Message handler failed for order-events",
    "   at Shop.Notification.Email.SmtpSender.SendAsync(EmailMessage message, "
    "CancellationToken ct) in /src/Notification/Email/SmtpSender.cs:line 57",
    "   at Shop.Notification.Worker.ExecuteAsync(CancellationToken stoppingToken) in "
    "/src/Notification/Worker.cs:line 71"])

GO = """upstream call timed out
github.com/shop/checkout/internal/http.(*Server).handle
\t/src/internal/http/server.go:142
net/http.HandlerFunc.ServeHTTP
\t/usr/local/go/src/net/http/server.go:2171"""

GO_PANIC = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x8a41f2]

goroutine 48213 [running]:
github.com/shop/inventory/internal/cache.(*SKUCache).Get(0x0, {0xc0004a2f30, 0x9})
\t/src/internal/cache/sku.go:61 +0x32"""

NODE = """FetchError: request to http://user-api:8080/v1/session failed, reason: socket hang up
    at ClientRequest.<anonymous> (/app/node_modules/node-fetch/lib/index.js:1505:11)
    at ClientRequest.emit (node:events:519:28)
    at async renderProduct (/app/dist/server/routes/product.js:41:19)"""

PYTHON = """Traceback (most recent call last):
  File "/app/user_api/routes/users.py", line 58, in get_user
    prefs = await load_preferences(session, user.id)
  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/impl.py", line 168, in _do_get
    raise exc.TimeoutError(
sqlalchemy.exc.TimeoutError: QueuePool limit of size 10 overflow 10 reached"""


@pytest.mark.parametrize(("text", "labels", "lang", "exc", "frame0"), [
    (JAVA, {}, "java", "java.lang.NullPointerException",
     "com.shop.orders.pricing.PricingV2.applyGiftCards"),
    (DOTNET, {}, "dotnet", "System.InvalidOperationException",
     "Shop.Notification.Email.SmtpSender.SendAsync"),
    (GO, {"error": "context deadline exceeded"}, "go", "error",
     "github.com/shop/checkout/internal/http.(*Server).handle"),
    (GO_PANIC, {}, "go", "panic", "github.com/shop/inventory/internal/cache.(*SKUCache).Get"),
    (NODE, {}, "nodejs", "FetchError", "ClientRequest.<anonymous>"),
    ("head\n" + PYTHON, {}, "python", "sqlalchemy.exc.TimeoutError",
     "_do_get (/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/impl.py:168)"),
])
def test_parse_each_language(text: str, labels: dict[str, str], lang: str, exc: str,
                             frame0: str) -> None:
    st = parse_trace(text, labels)
    assert st is not None
    assert (st.language, st.exc_type, st.frames[0]) == (lang, exc, frame0)


def test_java_message_and_root_cause() -> None:
    st = parse_trace(JAVA)
    assert st is not None
    assert st.message.startswith('Cannot invoke "GiftCard.getBalance()"')
    assert st.root_cause == "org.postgresql.util.PSQLException: ERROR: canceling statement"
    go = parse_trace(GO, {"error": "context deadline exceeded"})
    assert go is not None and go.message == "context deadline exceeded"


def test_otlp_exception_attributes() -> None:
    labels = {"exception.type": "System.InvalidOperationException",
              "exception.message": "Message handler failed",
              "exception.stacktrace": DOTNET.split("\n", 1)[1],
              "telemetry.sdk.language": "dotnet"}
    st = parse_trace("Failed to handle message", labels)
    assert st is not None and st.language == "dotnet" and len(st.frames) == 2


def test_plain_lines_are_not_traces() -> None:
    assert parse_trace("GET /v1/items 200") is None
    assert parse_trace("two\nplain lines") is None


def _rec(ts: int, msg: str, level: str | None = "error", pod: str = "p1") -> LogRecord:
    return LogRecord(ts, "user-api", level, msg, "t1" if level else None, None, pod)


def test_reassembly_joins_continuations_per_pod_and_groups() -> None:
    recs = []
    for k, base in enumerate((1_000, 5_000_000_000)):
        recs.append(_rec(base, f"request {k} failed"))
        for j, line in enumerate(PYTHON.split("\n")):
            recs.append(_rec(base + j + 1, line, level=None))
    recs.append(_rec(6_000_000_000, "Traceback (most recent call last):", None, pod="p2"))
    recs.append(_rec(6_000_000_001, "unrelated info", "info"))
    events = reassemble(recs)
    assert [len(e.lines) for e in events] == [6, 6, 0, 0]
    assert events[0].text.endswith("QueuePool limit of size 10 overflow 10 reached")
    groups, seen = group_traces(events)
    assert seen == 4 and groups[0].count == 2 and groups[0].first_ns == 1_000
    assert groups[0].services == {"user-api": 2} and groups[0].trace_ids == ["t1"]


def test_continuation_too_late_is_its_own_event() -> None:
    recs = [_rec(0, "boom"), _rec(10_000_000_000, "Traceback (most recent call last):", None)]
    assert len(reassemble(recs)) == 2


def test_huge_trace_is_read_in_bounded_time() -> None:
    frames = "\n".join(["\tat a.B.c(B.java:1)"] * 5000)
    text = "head\n" + "    at " + "x" * (1 << 20) + "\n" + frames
    st = parse_trace(text)
    assert st is not None and st.language == "java" and len(st.frames) < 500
