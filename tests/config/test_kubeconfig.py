"""Kubernetes connections from kubeconfig contexts: inline material, files, tokens, errors."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from config_support import PKI, SECRET
from pydantic import TypeAdapter

from obsbench_servers.common.backend import InfraBackend, KubernetesBackend
from obsbench_servers.common.errors import ConfigError
from obsbench_servers.common.kubeconfig import connect

INFRA: TypeAdapter[KubernetesBackend] = TypeAdapter(InfraBackend)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_inline_certificates_go_to_private_files_removed_on_close(tmp_path: Path, pki: PKI) -> None:
    kc = tmp_path / "config"
    kc.write_text(f"""
clusters:
- name: c
  cluster: {{server: "https://api.example.com:6443/", certificate-authority-data: {_b64(pki.ca)}}}
users:
- name: u
  user:
    client-certificate-data: {_b64(pki.client_cert)}
    client-key-data: {_b64(pki.client_key)}
contexts:
- name: ctx
  context: {{cluster: c, user: u, namespace: shop}}
current-context: ctx
""")
    backend = INFRA.validate_python({"type": "kubernetes", "kubeconfig": str(kc)})
    conn = connect(backend)
    resolved = conn.backend
    assert resolved.url == "https://api.example.com:6443"
    assert (conn.context, conn.namespace) == ("ctx", "shop")
    files = [resolved.tls.ca_file, resolved.tls.cert_file, resolved.tls.key_file]
    assert all(f is not None and f.is_file() for f in files)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files if f)
    assert files[0].read_bytes() == pki.ca.read_bytes()  # type: ignore[union-attr]
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700  # type: ignore[union-attr]
    assert resolved.auth.kind == "none" and resolved.secret is None
    conn.close()
    assert not any(f.exists() for f in files if f)


def test_token_file_and_relative_paths_resolve_against_the_kubeconfig(
    tmp_path: Path, pki: PKI
) -> None:
    (tmp_path / "token").write_text(SECRET + "\n")
    (tmp_path / "ca.pem").write_bytes(pki.ca.read_bytes())
    kc = tmp_path / "kubeconfig"
    kc.write_text("""
clusters: [{name: c, cluster: {server: "https://k:6443", certificate-authority: ca.pem}}]
users: [{name: u, user: {tokenFile: token}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
""")
    with connect(
        INFRA.validate_python({"type": "kubernetes", "kubeconfig": str(kc), "context": "a"})
    ) as conn:
        assert conn.backend.tls.ca_file == tmp_path / "ca.pem"
        assert conn.backend.auth.kind == "bearer"
        assert conn.backend.secret is not None
        assert conn.backend.secret.get_secret_value() == SECRET
        assert SECRET not in repr(conn.backend)


def test_kubeconfig_env_list_is_merged_first_definition_wins(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(
        "current-context: one\n"
        "contexts: [{name: one, context: {cluster: c1, user: u}}]\n"
        "users: [{name: u, user: {username: admin, password: pw}}]\n"
    )
    b.write_text(
        "current-context: two\n"
        "clusters: [{name: c1, cluster: {server: 'https://one:6443'}}]\n"
        "contexts: [{name: one, context: {cluster: ignored, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", f"{a}:{tmp_path / 'missing'}:{b}")
    with connect(INFRA.validate_python({"type": "kubernetes"})) as conn:
        assert conn.context == "one" and conn.backend.url == "https://one:6443"
        assert conn.backend.auth.kind == "basic" and conn.backend.auth.username == "admin"


def test_errors_name_the_problem_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = INFRA.validate_python({"type": "kubernetes", "kubeconfig": str(tmp_path / "none")})
    with pytest.raises(ConfigError) as info:
        connect(missing)
    assert "no kubeconfig" in info.value.message and "infra.url" in str(info.value.hint)
    bad = tmp_path / "bad"
    bad.write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        connect(INFRA.validate_python({"type": "kubernetes", "kubeconfig": str(bad)}))
    assert "not valid YAML" in info.value.message
    empty = tmp_path / "empty"
    empty.write_text("contexts: [{name: prod, context: {cluster: c, user: u}}]\n")
    with pytest.raises(ConfigError) as info:
        connect(INFRA.validate_python({"type": "kubernetes", "kubeconfig": str(empty)}))
    assert "no current-context" in info.value.message and "prod" in str(info.value.hint)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError) as info:
        connect(INFRA.validate_python({"type": "kubernetes", "in_cluster": True}))
    assert "not running in a pod" in info.value.message


def test_an_explicit_url_bypasses_the_kubeconfig() -> None:
    backend = INFRA.validate_python(
        {"type": "kubernetes", "url": "https://k:6443", "kubeconfig": "/does/not/exist"}
    )
    with connect(backend) as conn:
        assert conn.backend is backend
