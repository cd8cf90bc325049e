"""Dependency scanning: pip-audit over the locked environment (issue 10, item 6).

pip-audit asks PyPI's vulnerability data (the PyPA advisory database, OSV format) about every
installed distribution. Where that service cannot be reached (a package index mirror serves the
packages but not their JSON metadata), no distribution can be audited: the test is skipped with
that reason, visible in pytest's summary, instead of passing as if nothing had been found. Known
findings that do not apply to the hub are listed in ``IGNORED`` with the reason; a new one fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# vulnerability id -> why it does not apply to the hub (review on every lock update)
IGNORED: dict[str, str] = {}


def _pip_audit() -> str:
    found = shutil.which("pip-audit") or str(Path(sys.executable).parent / "pip-audit")
    assert Path(found).exists(), "pip-audit is a dev dependency; run the tests with ./run pytest"
    return found


def test_no_installed_dependency_has_a_known_vulnerability():
    command = [_pip_audit(), "--format", "json", "--progress-spinner", "off", "--skip-editable"]
    for vulnerability in IGNORED:
        command += ["--ignore-vuln", vulnerability]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pip-audit did not report (exit {done.returncode}): {done.stderr[-2000:]}")
    dependencies = report["dependencies"]
    audited = [dependency for dependency in dependencies if "skip_reason" not in dependency]
    if not audited:
        reasons = {dependency["skip_reason"].split(":")[0] for dependency in dependencies}
        pytest.skip(f"no dependency could be audited here: {'; '.join(sorted(reasons))}")
    vulnerable = {
        f"{dependency['name']} {dependency['version']}": [
            f"{vuln['id']} (fixed in {', '.join(vuln['fix_versions']) or 'no release yet'})"
            for vuln in dependency["vulns"]
        ]
        for dependency in audited
        if dependency["vulns"]
    }
    assert not vulnerable, f"known vulnerabilities: {vulnerable}"
    assert len(audited) > len(dependencies) // 2, "most dependencies could not be audited"
