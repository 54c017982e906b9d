"""Same name + seed + scale => byte-identical bundle; another seed => another incident."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from scenario_data import manifest

from obsbench.scenarios import GenerationResult, generate


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_inputs_same_bytes(tmp_path: Path, bundle: Callable[..., GenerationResult]) -> None:
    first = bundle("bad-deploy-db-pool").out_dir
    again = generate("bad-deploy-db-pool", tmp_path / "again", seed=7).out_dir
    a, b = _digests(first), _digests(again)
    assert a.keys() == b.keys()
    assert len(a) > 40
    assert a == b


def test_gzip_output_is_deterministic_and_readable(tmp_path: Path) -> None:
    import gzip

    r1 = generate("network-delay", tmp_path / "a", seed=3, gz=True)
    r2 = generate("network-delay", tmp_path / "b", seed=3, gz=True)
    assert _digests(r1.out_dir) == _digests(r2.out_dir)
    om = r1.out_dir / "metrics" / "blackbox.om.gz"
    text = gzip.decompress(om.read_bytes()).decode()
    assert text.endswith("# EOF\n")
    assert sum(1 for line in text.splitlines() if not line.startswith("#")) == \
        r1.samples_by_file()["metrics/blackbox.om.gz"]


def test_other_seed_other_incident(bundle: Callable[..., GenerationResult]) -> None:
    a = bundle("bad-deploy-db-pool")
    b = bundle("bad-deploy-db-pool", seed=11)
    ta, tb = manifest(a.out_dir)["truth"], manifest(b.out_dir)["truth"]
    assert (ta["service"], ta["kind"]) == (tb["service"], tb["kind"])
    assert ta["onset"] != tb["onset"], "the onset moves with the seed"
    fa = (a.out_dir / "metrics" / "user-api.om").read_bytes()
    fb = (b.out_dir / "metrics" / "user-api.om").read_bytes()
    assert fa != fb
    pods_a = {line for line in (a.out_dir / "k8s" / "pods.json").read_text().splitlines()
              if '"name": "user-api-' in line}
    pods_b = {line for line in (b.out_dir / "k8s" / "pods.json").read_text().splitlines()
              if '"name": "user-api-' in line}
    assert pods_a and pods_a != pods_b, "pod names come from the seed too"


def test_end_moves_the_window(tmp_path: Path) -> None:
    r = generate("feature-flag-config", tmp_path / "x", end="2026-06-01T12:00:00Z")
    m = manifest(r.out_dir)
    assert m["window"]["end"] == "2026-06-01T12:00:00Z"
    assert m["window"]["start"] == "2026-06-01T08:00:00Z"
    assert "2026-06-01T" in m["truth"]["onset"]


def test_ensure_bundle_reuses_an_identical_generation(tmp_path: Path) -> None:
    from obsbench.scenarios import ensure_bundle, load_result

    out = tmp_path / "b"
    first = ensure_bundle("network-delay", out, seed=4)
    stamp = (out / "bundle.toml").stat().st_mtime_ns
    again = ensure_bundle("network-delay", out, seed=4)
    assert (out / "bundle.toml").stat().st_mtime_ns == stamp, "reused, not regenerated"
    assert again.samples_by_file() == first.samples_by_file()
    assert again.counts == first.counts
    loaded = load_result(out)
    assert loaded is not None and loaded.truth == first.truth
    # Another seed into the same place regenerates it.
    other = ensure_bundle("network-delay", out, seed=5)
    assert other.seed == 5 and manifest(out)["generator"]["seed"] == 5
