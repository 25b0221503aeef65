"""Command-line start-up: what each command imports.

Importing torch takes seconds (2 s of a 2.9-s ``colorize`` on a quiet machine), diffusers and
transformers more. ``--help``, ``--version``, ``models list`` and the classic engine never need
torch; the instant engine needs torch but not the diffusion stack. Each case runs the real
``piggydesk`` entry point in a fresh interpreter and reports the heavy modules it loaded.
Start-up times per command are in ``benchmarks/RESULTS.md`` (``benchmarks/bench_cli_startup.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from piggydesk.core import process_env

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "resources" / "samples"
HEAVY = ("torch", "diffusers", "transformers", "accelerate", "peft", "PySide6")

PROBE = f"""
import json, os, sys

class WatchTorch:  # notes OpenMP's wait policy at the moment torch is first imported
    policy = None
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and WatchTorch.policy is None:
            WatchTorch.policy = os.environ.get("OMP_WAIT_POLICY", "")
        return None

sys.meta_path.insert(0, WatchTorch())
from piggydesk.cli import main
code = main(sys.argv[1:])
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
report = {{"code": code, "loaded": loaded, "policy": WatchTorch.policy}}
sys.stderr.write("\\nLOADED " + json.dumps(report) + "\\n")
"""


def _report(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("LOADED ")]
    assert line, result.stderr[-3000:]
    report = json.loads(line[-1][len("LOADED "):])
    assert report["code"] == 0, result.stderr[-3000:]
    return report


def _loaded(*args: str) -> set[str]:
    return set(_report(*args)["loaded"])


@pytest.mark.parametrize(
    "args",
    [("--help",), ("--version",), ("models", "list")],
    ids=["help", "version", "models-list"],
)
def test_informational_commands_import_no_torch_and_no_qt(args):
    assert not _loaded(*args)


def test_classic_engine_imports_no_torch(tmp_path):
    loaded = _loaded(
        "colorize", str(SAMPLES / "astronaut-gray.jpg"), "-o", str(tmp_path / "out.png"),
        "--engine", "classic", "--hints", str(SAMPLES / "astronaut-hints.json"), "--size", "128",
    )
    assert (tmp_path / "out.png").is_file()
    assert not loaded


def test_instant_engine_imports_no_diffusion_stack(tmp_path):
    report = _report(
        "colorize", str(SAMPLES / "astronaut-gray.jpg"), "-o", str(tmp_path / "out.png"),
        "--engine", "instant",
    )
    assert (tmp_path / "out.png").is_file()
    assert set(report["loaded"]) == {"torch"}
    # torch's OpenMP threads sleep while waiting (core.process_env): set before torch loads
    assert report["policy"] == "PASSIVE"


def test_the_users_own_thread_settings_win(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("HF_HUB_DISABLE_TELEMETRY", raising=False)
    process_env.prepare()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"
