"""The team's runbooks for its main alerts (markdown with ``alerts: [...]`` front matter).

The same runbooks ship in every bundle, as a team's runbook repository would:
they describe how to investigate an alert, not what happened this time.
"""

from __future__ import annotations

from pathlib import Path

from obsbench.scenarios.sink import FileInfo, write_text

RUNBOOKS: dict[str, tuple[list[str], list[str], str, str]] = {
    "high-error-rate": (["HighErrorRate"], [], "High error rate", """
A service answers more than 2% of its requests with a 5xx.

## Check
1. Which routes and status codes? `sum by (http_route, http_response_status_code)` (OTel),
   `sum by (handler, code)` (client_golang), `sum by (uri, status, exception)` (Spring).
2. Did it start with a change? `kubectl rollout history deploy/<service> -n <ns>` and the
   ConfigMap checksum on the pod template.
3. Is it the service or a dependency? Compare the service's own errors with its client
   calls (traces: find error traces, look at the deepest erroring span).
4. Logs: new exception types since the onset (`obsbench logs patterns`).

## Mitigate
Roll back a bad change (`kubectl rollout undo`), shed load, or fail over the dependency.
"""),
    "high-latency": (["HighLatencyP95"], [], "High p95 latency", """
p95 latency of a service is above its objective for 10 minutes.

## Check
- Saturation first: CPU throttling (`container_cpu_cfs_throttled_periods_total`), event-loop
  lag (Node.js), connection pools (`hikaricp_connections_pending`,
  `db_client_connection_pending_requests`).
- Slow traces: which span holds the time? Client span long but server span short means the
  network or the client side, not the callee.
- Downstream: database and cache latency, external providers.
"""),
    "db-connection-pool-exhausted": (["DBConnectionPoolExhausted"], ["user-api", "orders",
                                                                     "payment"],
                                     "Database connection pool exhausted", """
Requests are queueing for a database connection.

## Check
- Did queries per request change? Look for N+1 patterns in traces (dozens of identical
  `SELECT` spans under one request) after a deploy.
- Are connections held by slow queries or lock waits? `pg_locks_count`,
  `pg_stat_activity_max_tx_duration`, postgres logs "still waiting for ... lock".
- Pool settings: SQLAlchemy `pool_size`/`max_overflow`/`pool_timeout`, Hikari
  `maximumPoolSize`/`connectionTimeout`.

## Mitigate
Roll back the change that multiplied queries; do not just raise the pool size (postgres
`max_connections` is 200 for all services).
"""),
    "kube-pod-crash-looping": (["KubePodCrashLooping", "KubeContainerOOMKilled"], [],
                               "Pod crash looping / OOMKilled", """
A container keeps restarting.

## Check
- `kubectl describe pod` -> Last State: Terminated, Reason (OOMKilled = memory limit hit,
  exit code 137).
- Memory trend before each kill: `container_memory_working_set_bytes` against the limit.
  A steady climb is a leak; a spike is a burst of work.
- Logs of the previous container (`kubectl logs --previous`).

## Mitigate
Raise the memory limit only as a stop-gap; find what grows (heap profile, cache sizes).
"""),
    "cpu-throttling-high": (["CPUThrottlingHigh"], [], "CPU throttling", """
A container spends more than 25% of CFS periods throttled.

## Check
- Was the CPU limit changed recently? Compare ReplicaSet revisions' resources.
- Does latency follow throttling? Throttled Go services with GOMAXPROCS above the limit suffer
  most.
- Some workers (async e-mail, batch) throttle harmlessly; check whether users are affected.
"""),
    "kube-hpa-maxed-out": (["KubeHpaMaxedOut"], [], "HPA at max replicas", """
The autoscaler wants more replicas than `maxReplicas`.

## Check
- Traffic: is demand up (campaign, bot)? `istio_requests_total` at the gateway.
- Per-pod saturation (CPU, event-loop lag) and pending pods (FailedScheduling events).

## Mitigate
Raise `maxReplicas` if the cluster has room; rate-limit at the edge otherwise.
"""),
    "postgres-long-running-transaction": (["PostgresLongRunningTransaction",
                                           "PostgresTooManyConnections", "PostgresDown"],
                                          ["postgres"], "PostgreSQL transactions and locks", """
## Check
```sql
SELECT pid, state, now() - xact_start AS age, wait_event_type, left(query, 120)
FROM pg_stat_activity WHERE state <> 'idle' ORDER BY age DESC;
SELECT locktype, mode, granted, count(*) FROM pg_locks GROUP BY 1, 2, 3;
```
- A batch job holding a table lock blocks every writer: look for `LOCK TABLE` or a huge
  `UPDATE` without `LIMIT` in the logs, and "still waiting for RowExclusiveLock".
- `pg_terminate_backend(pid)` ends the blocker; the batch must be fixed to work in chunks.
"""),
    "kube-persistent-volume-filling-up": (["KubePersistentVolumeFillingUp"], ["postgres"],
                                          "Volume filling up", """
## Check
- What grows? For postgres: `pg_wal_size_bytes` (WAL retained by an inactive replication
  slot: `pg_replication_slot_slot_is_active == 0`) versus `pg_database_size_bytes`.
- At 100% postgres PANICs on WAL writes and cannot restart.

## Mitigate
Drop or advance the stale slot (`SELECT pg_drop_replication_slot('...')`), expand the PVC.
"""),
    "ssl-cert-expiry": (["SSLCertExpiringSoon", "BlackboxProbeFailed"], ["api-gateway"],
                        "TLS certificate expiry and failing probes", """
## Check
- `probe_ssl_earliest_cert_expiry - time()` and the cert-manager Certificate status
  (`kubectl get certificate -A`, events of the Certificate and its Order).
- Are silences hiding the warning? `amtool silence query`.

## Mitigate
Fix the issuer (DNS-01 credentials), `cmctl renew`, or load a manually issued certificate.
"""),
    "redis-memory-high": (["RedisMemoryHigh", "RedisEvictingKeys"], ["redis"],
                          "Redis memory and evictions", """
## Check
- `redis_memory_used_bytes / redis_memory_max_bytes`, `rate(redis_evicted_keys_total[5m])`,
  hit ratio `rate(redis_keyspace_hits_total[5m]) / (hits + misses)`.
- Keys without TTL accumulating: `redis_db_keys` growing, `redis_expired_keys_total` flat.
- Evictions of hot keys push reads to postgres: watch its CPU and query rate.
"""),
    "payment-provider-latency": (["PaymentProviderLatencyHigh"], ["payment"],
                                 "Payment provider slow", """
The external PSP (api.paygw.example.com) answers slowly. Check its status page and our
`http_client_requests_seconds` by status; consider failing over to the secondary PSP.
"""),
}


def write_all(root: Path) -> list[FileInfo]:
    files = []
    for slug, (alerts, services, title, body) in RUNBOOKS.items():
        front = f"---\nalerts: [{', '.join(alerts)}]\n"
        if services:
            front += f"services: [{', '.join(services)}]\n"
        front += "owner: sre\n---\n"
        text = f"{front}# {title}\n{body.lstrip()}"
        files.append(write_text(root, f"runbooks/{slug}.md", "runbooks", "runbook", text, 1))
    return files
