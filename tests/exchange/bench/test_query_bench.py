"""`exchange bench`: the query section against a real hub process, the pass-through's confinement,
the machine's raw rates and the command's errors. No figure is asserted against a time: the
targets are the benchmark's to report, not the suite's to enforce (docs/performance.md)."""

from __future__ import annotations

import json
import subprocess

import pytest

from exchange.api.app import create_app
from exchange.bench import machine, passthrough
from exchange.bench.loadgen import Spec
from exchange.bench.query import PASSTHROUGH, Workload, _hub, _phase
from exchange.bench.report import BenchError, Target
from tests.conftest import TEST_DATABASE
from tests.processes import clean_env, exchange_exe

# The benchmark makes its own SQLite homes whatever the suite's database: the SQLite pass runs it.
own_homes = pytest.mark.skipif(TEST_DATABASE != "sqlite", reason="exchange bench uses its own SQLite homes")


@own_homes
def test_the_query_section_measures_both_routes_over_http_and_reports_its_targets(tmp_path):
    done = subprocess.run(
        [exchange_exe(), "bench", "--only", "query", "--json", "--workdir", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # one JSON object on stdout, the progress on stderr
    assert "query: signed" in done.stderr and report["size"] == "small"
    query = report["query"]
    for key in ("signed_rps", "passthrough_rps", "ratio", "p50_ms", "p95_ms", "p99_ms", "worker_rss_mb"):
        assert query[key] > 0, key
    assert query["ratio"] == pytest.approx(query["signed_rps"] / query["passthrough_rps"])
    assert query["p50_ms"] <= query["p95_ms"] <= query["p99_ms"]
    assert query["half_load_rps"] == pytest.approx(query["signed_rps"] / 2, rel=0.35)
    phases = query["phases"]
    assert set(phases) == {"passthrough_saturation", "passthrough_half", "signed_saturation", "signed_half"}
    assert all(phase["requests"] >= 50 for phase in phases.values())
    assert {t["key"] for t in report["targets"]} == {"query.ratio", "query.tail", "query.worker_rss_mb"}
    assert all(
        t["met"] == (t["value"] >= t["limit"] if t["comparison"] == ">=" else t["value"] <= t["limit"])
        for t in report["targets"]
    )
    for name in ("ed25519_sign_per_s", "ed25519_verify_per_s", "sha256_mb_per_s", "db_inserts_per_s"):
        assert report["machine"][name] > 0
    assert "sync" not in report and "audit" not in report


@own_homes
def test_an_answer_that_is_not_200_stops_the_run_with_what_came_back(tmp_path):
    """A benchmark that counted refusals as answers would publish figures of nothing."""
    from exchange.bench.processes import python_command
    from exchange.bench.query import _check, _environment, _target

    home = tmp_path / "home"
    env = _environment(home)
    _check(python_command("exchange.cli.main", "up", "--init-only", "--no-sync"), env, "init")
    workload = _target(home)
    unknown = Workload("399999999-999999", workload.items, workload.subjects)
    with (
        _hub(home, env, tmp_path / "hub.log") as (port, _worker),
        pytest.raises(BenchError, match=r"not every answer was a 200: \{'404': 50\}"),
    ):
        _phase("passthrough", unknown, None, port, "closed", 4, 0.0, 10, tmp_path)  # type: ignore[arg-type]


def test_the_pass_through_route_exists_only_in_the_bench_factory():
    served = {route.path for route in create_app().routes}
    assert PASSTHROUGH.replace("{code}", "{resource_code}") not in served
    assert passthrough.PATH == "/bench/passthrough/{resource_code}"
    benched = {route.path for route in passthrough.create_app().routes}
    assert passthrough.PATH in benched and served <= benched


def test_a_load_spec_survives_its_file(tmp_path):
    spec = Spec("127.0.0.1", 8000, "open", 8, [("/p", "application/jwt", b"\x00\xffbody")], rate=12.5)
    spec.write(tmp_path / "spec.json")
    assert Spec.read(tmp_path / "spec.json") == spec


def test_the_machine_rates_are_measured(tmp_path):
    measured = machine.measure(0.05, tmp_path)
    assert measured.cores >= 1 and measured.python
    assert min(measured.ed25519_sign_per_s, measured.ed25519_verify_per_s, measured.db_inserts_per_s) > 0
    assert machine.sha256_per_s(0.05, 700) > machine.sha256_per_s(0.05, 1 << 16) > 0


def test_a_target_is_met_on_its_side_of_the_limit():
    assert Target("k", "d", 0.5, ">=", 0.5).met and not Target("k", "d", 0.49, ">=", 0.5).met
    assert Target("k", "d", 200, "<=", 200).met and not Target("k", "d", 201, "<=", 200).met
    assert Target("k", "d", 1.0, "<=", 3).as_json() == {
        "key": "k",
        "description": "d",
        "value": 1.0,
        "comparison": "<=",
        "limit": 3,
        "met": True,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "network"], "unknown section network"),
        (["--size", "huge"], "huge"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(args, message):
    done = subprocess.run(
        [exchange_exe(), "bench", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and message in done.stderr
    assert done.stdout == ""


def test_a_workdir_that_holds_something_is_refused(tmp_path):
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    done = subprocess.run(
        [exchange_exe(), "bench", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and "is not empty" in done.stderr
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "mine"
