"""`make run` on a fresh Linux machine: Qt's system libraries are checked before the app starts.

``installer/linux/qt-system-libs.sh`` is the one list of the system libraries Qt needs, shared
by ``make run`` (``ensure``: ldd on PySide6's platform plugin, install what is missing when it
can, else one message) and ``.ci/run`` (``ci``). These tests run the real script with a fake
``ldd`` (and fake ``id``/``sudo``/``apt-get``) first on PATH, so a missing library can be
faked on any machine; and a start from source that Qt aborts writes ``startup-error.log``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "installer" / "linux" / "qt-system-libs.sh"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("bash") is None,
    reason="the preflight is for Linux",
)


def _tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def fakes(tmp_path):
    """A folder of fake tools put first on PATH; ``state`` is the file the fake ldd reads
    (one ldd output line per missing library) and the fake apt-get empties."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "missing.txt"
    calls = tmp_path / "calls.txt"
    _tool(bin_dir, "ldd", f'echo "\tlibc.so.6 => /lib/libc.so.6 (0x1)"; cat "{state}"')
    _tool(bin_dir, "apt-get", f'echo "apt-get $*" >> "{calls}"; '
          f'case "$1" in install) : > "{state}" ;; esac')
    return {"bin": bin_dir, "state": state, "calls": calls}


def _run(fakes, *args: str, display: str | None = ":0") -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{fakes['bin']}{os.pathsep}{os.environ['PATH']}")
    env.pop("QT_QPA_PLATFORM", None)  # check the plugin a desktop start uses: xcb
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("DISPLAY", None)
    if display is not None:
        env["DISPLAY"] = display
    return subprocess.run(["bash", str(SCRIPT), *args, sys.executable], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)


def _missing(fakes, *sonames: str) -> None:
    fakes["state"].write_text("".join(f"\t{so} => not found\n" for so in sonames))


def test_nothing_missing_passes(fakes):
    _missing(fakes)
    result = _run(fakes, "ensure")
    assert result.returncode == 0, result.stderr
    assert not fakes["calls"].exists()


def test_missing_library_without_rights_stops_with_one_message_naming_packages(fakes):
    _missing(fakes, "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-icccm.so.4")
    _tool(fakes["bin"], "id", "echo 1000")  # not root
    _tool(fakes["bin"], "sudo", "exit 1")  # and sudo wants a password
    result = _run(fakes, "ensure")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "libxcb-icccm.so.4 libxcb-keysyms.so.1" in lines[0]
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in lines[0]
    assert not fakes["calls"].exists(), "nothing may be installed without the rights"


def test_missing_library_is_installed_with_passwordless_sudo(fakes):
    _missing(fakes, "libxcb-cursor.so.0", "libEGL.so.1")
    _tool(fakes["bin"], "id", "echo 1000")
    _tool(fakes["bin"], "sudo", '[ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; exec "$@"')
    result = _run(fakes, "ensure")
    assert result.returncode == 0, result.stderr
    calls = fakes["calls"].read_text().splitlines()
    assert calls[0] == "apt-get update -qq"
    assert calls[1].startswith("apt-get install -y")
    assert sorted(calls[1].split()[-2:]) == ["libegl1", "libxcb-cursor0"]


def test_root_installs_without_sudo(fakes):
    _missing(fakes, "libxkbcommon-x11.so.0")
    _tool(fakes["bin"], "id", "echo 0")
    _tool(fakes["bin"], "sudo", "echo sudo must not be used >&2; exit 1")
    result = _run(fakes, "ensure")
    assert result.returncode == 0, result.stderr
    assert "libxkbcommon-x11-0" in fakes["calls"].read_text()


def test_an_unknown_library_is_named_too(fakes):
    _missing(fakes, "libxcb-icccm.so.4", "libfancy.so.9")
    _tool(fakes["bin"], "id", "echo 1000")
    _tool(fakes["bin"], "sudo", "exit 1")
    result = _run(fakes, "ensure")
    assert result.returncode == 3
    assert "libfancy.so.9" in result.stderr and "libxcb-icccm4" in result.stderr


def test_check_reports_without_installing(fakes):
    _missing(fakes, "libxcb-keysyms.so.1")
    _tool(fakes["bin"], "id", "echo 0")
    result = _run(fakes, "check")
    assert result.returncode == 3
    assert "libxcb-keysyms1" in result.stderr
    assert not fakes["calls"].exists()


def test_no_display_stops_with_one_message_instead_of_qt_aborting(fakes):
    _missing(fakes)
    result = _run(fakes, "ensure", display=None)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0]


def test_one_list_for_make_run_and_ci():
    packages = subprocess.run(["bash", str(SCRIPT), "packages"], capture_output=True,
                              text=True, check=True).stdout.split()
    for name in ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libegl1",
                 "libxkbcommon-x11-0", "libfontconfig1"):
        assert name in packages
    assert "qt-system-libs.sh ci" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "QT_LIBS := installer/linux/qt-system-libs.sh" in makefile
    assert "$(QT_LIBS) ensure" in makefile


def test_a_start_that_qt_aborts_writes_startup_error_log(tmp_path):
    """Qt aborts the process when no platform plugin can start (here: xcb without a display);
    no Python exception is raised, yet the reason must reach startup-error.log."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PIGGYDESK_HOME=str(tmp_path), QT_QPA_PLATFORM="xcb")
    result = subprocess.run(
        [sys.executable, "-c", "from piggydesk.frozen import launch; launch([])"],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode != 0
    logs = list(tmp_path.rglob("startup-error.log"))
    assert len(logs) == 1, result.stderr
    text = logs[0].read_text()
    assert "no Qt platform plugin could be initialized" in text
    assert "qt-system-libs.sh check" in text
    assert f"details in {logs[0]}" in result.stderr
