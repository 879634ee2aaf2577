"""The house shows its flow: subpackages import only downwards (import-linter's contracts in
pyproject.toml), the engine never imports the synthetic worlds, and the check catches a wrong arrow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports")
    command = [exe] if exe else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run([*command, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(cwd)})


def test_every_contract_is_kept() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    """The same contracts on a copy of the package with one wrong arrow (matching reaching up to
    serving) fail, naming the import."""
    shutil.copytree(REPO / "ilona_match", tmp_path / "ilona_match", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    features = tmp_path / "ilona_match" / "matching" / "features.py"
    features.write_text(features.read_text(encoding="utf-8") + "\nfrom ilona_match.serving import batch  # noqa\n",
                        encoding="utf-8")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "ilona_match.matching.features -> ilona_match.serving.batch" in result.stdout
