"""What failures say: exception messages and stack frames per language, shared by spans and logs.

A span's exception event and the log line of the same failure carry the same
type and message, so an investigation can follow a trace id from one to the
other.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "sqlalchemy.exc.TimeoutError": "QueuePool limit of size 10 overflow 10 reached, connection "
                                   "timed out, timeout 2.00 (Background on this error at: "
                                   "https://sqlalche.me/e/20/3o7r)",
    "sqlalchemy.exc.OperationalError": "(psycopg.OperationalError) connection failed: "
                                       "connection to server at \"postgres.data.svc.cluster."
                                       "local\" (10.42.50.12), port 5432 failed: FATAL:  the "
                                       "database system is in recovery mode",
    "NullPointerException": "Cannot invoke \"com.shop.orders.pricing.GiftCard.getBalance()\" "
                            "because \"giftCard\" is null",
    "QueryTimeoutException": "PreparedStatementCallback; SQL [UPDATE orders SET status = ?, "
                             "updated_at = now() WHERE id = ?]; ERROR: canceling statement due "
                             "to statement timeout",
    "CannotCreateTransactionException": "Could not open JPA EntityManager for transaction; "
                                        "nested exception is org.hibernate.exception."
                                        "JDBCConnectionException: Unable to acquire JDBC "
                                        "Connection",
    "ResourceAccessException": "I/O error on POST request for \"https://api.paygw.example.com/"
                               "v1/charges\": Read timed out",
    "HttpServerErrorException": "503 Service Unavailable: \"{\"error\":\"upstream_unavailable\","
                                "\"retry_after\":2}\"",
    "IllegalStateException": "Order state transition not allowed: PAID -> CREATED",
    "RuntimeException": "Unexpected error while handling request",
    "RuntimeError": "unexpected state",
    "*errors.errorString": "context deadline exceeded",
    "*url.Error": "Post \"http://payment.payments.svc.cluster.local:8080/v1/payments\": "
                  "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
    "Error": "Request failed with status code 500",
    "FetchError": "request to http://user-api.shop.svc.cluster.local:8080/v1/session failed, "
                  "reason: socket hang up",
    "System.InvalidOperationException": "Message handler failed for order-events",
    "upstream_reset": "upstream connect error or disconnect/reset before headers. reset reason: "
                      "connection failure",
    "ERROR": "canceling statement due to statement timeout",
}

JAVA_FRAMES = {
    "NullPointerException": [
        "com.shop.orders.pricing.PricingV2.applyGiftCards(PricingV2.java:142)",
        "com.shop.orders.pricing.PricingV2.price(PricingV2.java:88)",
        "com.shop.orders.service.OrderService.create(OrderService.java:61)",
        "com.shop.orders.api.OrderController.create(OrderController.java:47)",
    ],
    "QueryTimeoutException": [
        "org.springframework.jdbc.support.SQLStateSQLExceptionTranslator.doTranslate"
        "(SQLStateSQLExceptionTranslator.java:107)",
        "org.springframework.jdbc.core.JdbcTemplate.update(JdbcTemplate.java:1008)",
        "com.shop.orders.repo.OrderRepository.updateStatus(OrderRepository.java:77)",
        "com.shop.orders.service.OrderService.create(OrderService.java:66)",
    ],
    "CannotCreateTransactionException": [
        "org.springframework.orm.jpa.JpaTransactionManager.doBegin(JpaTransactionManager.java:"
        "466)",
        "org.springframework.transaction.support.AbstractPlatformTransactionManager."
        "startTransaction(AbstractPlatformTransactionManager.java:531)",
        "com.shop.orders.service.OrderService$$SpringCGLIB$$0.list(<generated>)",
        "com.shop.orders.api.OrderController.list(OrderController.java:33)",
    ],
    "ResourceAccessException": [
        "org.springframework.web.client.RestTemplate.createResourceAccessException"
        "(RestTemplate.java:905)",
        "org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:885)",
        "com.shop.payment.psp.PspClient.charge(PspClient.java:58)",
        "com.shop.payment.service.PaymentService.pay(PaymentService.java:94)",
    ],
    "*": [
        "com.shop.common.web.ErrorHandling.wrap(ErrorHandling.java:31)",
        "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:"
        "1014)",
    ],
}

PYTHON_FRAMES = {
    "sqlalchemy.exc.TimeoutError": [
        ("/app/user_api/routes/users.py", 58, "get_user", "prefs = await load_preferences("
                                                         "session, user.id)"),
        ("/app/user_api/repo/preferences.py", 23, "load_preferences",
         "row = await session.execute(stmt)"),
        ("/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/impl.py", 168, "_do_get",
         "raise exc.TimeoutError("),
    ],
    "*": [
        ("/app/user_api/routes/users.py", 41, "get_user", "user = await repo.get(session, "
                                                         "user_id)"),
        ("/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/base.py", 146,
         "__init__", "self._dbapi_connection = engine.raw_connection()"),
    ],
}

GO_FRAMES = [
    "github.com/shop/{svc}/internal/http.(*Server).handle\n\t/src/internal/http/server.go:142",
    "net/http.HandlerFunc.ServeHTTP\n\t/usr/local/go/src/net/http/server.go:2171",
    "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP"
    "\n\t/go/pkg/mod/go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp@v0.53.0/"
    "handler.go:218",
]

NODE_FRAMES = [
    "at ClientRequest.<anonymous> (/app/node_modules/node-fetch/lib/index.js:1505:11)",
    "at ClientRequest.emit (node:events:519:28)",
    "at Socket.socketOnEnd (node:_http_client:524:9)",
    "at async renderProduct (/app/dist/server/routes/product.js:41:19)",
]

DOTNET_FRAMES = [
    "at Shop.Notification.Email.SmtpSender.SendAsync(EmailMessage message, CancellationToken "
    "ct) in /src/Notification/Email/SmtpSender.cs:line 57",
    "at Shop.Notification.Handlers.OrderCreatedHandler.HandleAsync(OrderCreated evt) in "
    "/src/Notification/Handlers/OrderCreatedHandler.cs:line 33",
    "at Shop.Notification.Worker.ExecuteAsync(CancellationToken stoppingToken) in "
    "/src/Notification/Worker.cs:line 71",
]


def message(exc_type: str) -> str:
    return MESSAGES.get(exc_type, "unexpected error")


def java_trace(exc_type: str) -> str:
    """A Spring-style stack trace: ``type: message`` then ``\\tat`` frames (one string)."""
    pkg = {"NullPointerException": "java.lang", "IllegalStateException": "java.lang",
           "RuntimeException": "java.lang",
           "QueryTimeoutException": "org.springframework.dao",
           "CannotCreateTransactionException": "org.springframework.transaction",
           "ResourceAccessException": "org.springframework.web.client",
           "HttpServerErrorException": "org.springframework.web.client"}.get(exc_type,
                                                                               "java.lang")
    frames = JAVA_FRAMES.get(exc_type, JAVA_FRAMES["*"])
    lines = [f"{pkg}.{exc_type}: {message(exc_type)}"] + [f"\tat {f}" for f in frames]
    lines.append("\t... 87 common frames omitted")
    if exc_type == "QueryTimeoutException":
        lines.append("Caused by: org.postgresql.util.PSQLException: ERROR: canceling statement "
                     "due to statement timeout")
        lines.append("\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse("
                     "QueryExecutorImpl.java:2713)")
    return "\n".join(lines)


def python_trace(exc_type: str) -> list[str]:
    """A Python traceback, one line per element (as container stdout collects it)."""
    frames = PYTHON_FRAMES.get(exc_type, PYTHON_FRAMES["*"])
    lines = ["Traceback (most recent call last):"]
    for path, line, fn, code in frames:
        lines.append(f'  File "{path}", line {line}, in {fn}')
        lines.append(f"    {code}")
    lines.append(f"{exc_type}: {message(exc_type)}")
    return lines


def go_trace(svc: str) -> str:
    return "\n".join(f.format(svc=svc) for f in GO_FRAMES)


def go_panic(svc: str) -> list[str]:
    """A Go panic as printed to stderr (one record per line once collected)."""
    return ["panic: runtime error: invalid memory address or nil pointer dereference",
            "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x8a41f2]", "",
            "goroutine 48213 [running]:",
            f"github.com/shop/{svc}/internal/cache.(*SKUCache).Get(0x0, {{0xc0004a2f30, 0x9}})",
            "\t/src/internal/cache/sku.go:61 +0x32",
            f"github.com/shop/{svc}/internal/http.(*Server).stock(0xc0001b4000, "
            "{0xb1c2e8, 0xc000612380}, 0xc0007f2a00)",
            "\t/src/internal/http/stock.go:37 +0x1d4"]


def node_trace(exc_type: str) -> list[str]:
    return [f"{exc_type}: {message(exc_type)}"] + [f"    {f}" for f in NODE_FRAMES]


def dotnet_trace(exc_type: str) -> str:
    return "\n".join([f"{exc_type}: {message(exc_type)}"] + [f"   {f}" for f in DOTNET_FRAMES])
