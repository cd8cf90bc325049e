"""`exchange bench`'s sync section at a tiny size: complete and sane figures, the issue's three targets.
No figure is held to a time: the targets are the benchmark's to report (docs/performance.md)."""

from __future__ import annotations

import pytest

from exchange.bench import sync
from tests.conftest import TEST_DATABASE

# The benchmark makes its own SQLite homes whatever the suite's database: the SQLite pass runs it.
pytestmark = pytest.mark.skipif(TEST_DATABASE != "sqlite", reason="the sync bench uses its own SQLite homes")


def test_the_sync_section_reports_both_sizes_and_its_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("EXCHANGE_SYNC_WORKERS", "2")  # the pool path, whatever this machine's CPUs
    stages: list[str] = []
    section = sync.run(200, 1_000, tmp_path, stages.append)

    assert section.name == "sync" and any("exchange sync" in stage for stage in stages)
    figures = section.figures
    small, large = figures["small"], figures["large"]
    for size, persons in ((small, 100), (large, 500)):
        assert size["persons"] == persons
        assert size["licenses"] > persons  # about two a person, each stored once
        assert size["read"] >= size["licenses"] and size["quarantined"] >= 0
        assert 0 < size["pipeline_s"] < size["wall_s"] and size["cpu_s"] > 0
        assert size["licenses_per_s"] == pytest.approx(size["licenses"] / size["pipeline_s"])
        assert 50 < size["main_peak_rss_mb"] <= size["peak_rss_mb"] < 4096
        assert size["peak_rss_mb"] == pytest.approx(
            size["main_peak_rss_mb"] + sum(size["workers_peak_rss_mb"])
        )
    assert len(large["workers_peak_rss_mb"]) == 2  # its batches are large enough for the workers
    assert figures["sync_workers"] == 2 and 1 <= figures["cores"] <= 2
    samples = figures["raw_sign_per_s_samples"]
    assert len(samples) == 3 and figures["raw_sign_per_s_one_core"] == sorted(samples)[1] > 0
    assert figures["raw_sign_per_s"] == pytest.approx(figures["raw_sign_per_s_one_core"] * figures["cores"])
    assert figures["licenses_per_s"] == large["licenses_per_s"]
    assert figures["ratio"] == pytest.approx(figures["licenses_per_s"] / figures["raw_sign_per_s"])
    assert figures["peak_rss_mb"] == large["peak_rss_mb"]
    assert figures["time_ratio"] == pytest.approx(large["pipeline_s"] / small["pipeline_s"])
    assert figures["licenses_ratio"] == pytest.approx(large["licenses"] / small["licenses"])
    assert figures["scaling"] == pytest.approx(figures["time_ratio"] / figures["licenses_ratio"])

    targets = {target.key: target for target in section.targets}
    assert set(targets) == {"sync.ratio", "sync.peak_rss_mb", "sync.time_ratio"}
    assert (targets["sync.ratio"].value, targets["sync.ratio"].limit) == (figures["ratio"], 0.3)
    assert targets["sync.peak_rss_mb"].limit == 1024
    assert targets["sync.time_ratio"].limit == pytest.approx(1.1 * figures["licenses_ratio"])
    assert all(target.as_json()["met"] in (True, False) for target in section.targets)


def test_the_sizes_must_grow():
    with pytest.raises(ValueError, match="small_licenses < large_licenses"):
        sync.run(1_000, 1_000, None, print)  # type: ignore[arg-type]
