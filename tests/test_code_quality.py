"""The code base stays lint-clean (including ruff's bandit-derived security rules) and formatted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> str:
    found = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    assert Path(found).exists(), "ruff is a dev dependency; run the tests with ./run pytest"
    return found


def test_ruff_check_passes():
    result = subprocess.run([_ruff(), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run([_ruff(), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_private_keys_or_data_directory_in_git():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    marker = " PRIVATE " + "KEY-----"  # split so this file does not match itself
    offending = [f for f in files if f.startswith("var/") or f.endswith(".key") or marker in _head(f)]
    assert offending == []


def _head(path: str) -> str:
    try:
        return (ROOT / path).read_text(errors="ignore")[:4096]
    except (OSError, IsADirectoryError):
        return ""
