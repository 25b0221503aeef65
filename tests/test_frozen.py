"""The double-clickable app: the frozen build works the way a person would use it.

The tests marked ``frozen`` build the Linux one-folder app from ``installer/piggydesk.spec``
(once per session, into ``build/frozen-test``, about 1 GB; PyInstaller's cache makes a
rebuild quicker). The build starts in the background as soon as pytest has collected a
frozen test and the frozen tests run last (``tests/frozen_build.py``), so it overlaps the
rest of the suite. Then they run the frozen ``self-test``, the GUI smoke test offscreen, and the per-user install
script. Skip them locally with ``pytest -m "not frozen"``; set ``PIGGYDESK_FROZEN_DIST`` to an
already built ``dist/PiggyDesk`` to test that instead of building.

The unmarked tests check the launcher (``piggydesk.frozen``) and the startup error dialog
in-process, so they run everywhere in a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import frozen_build
import pytest

from piggydesk import frozen

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "PiggyDesk"
LINUX_SIZE_GOAL_MB = 900


# --------------------------------------------------------------------------------------------
# The launcher, in-process
# --------------------------------------------------------------------------------------------
def test_cli_or_gui_routing(tmp_path):
    photo = tmp_path / "old photo.jpg"
    photo.write_bytes(b"")
    gui = "/opt/PiggyDesk/PiggyDesk"
    assert not frozen.wants_cli([], gui)
    assert not frozen.wants_cli(["--smoke-test"], gui)
    assert not frozen.wants_cli([str(photo)], gui)
    assert frozen.wants_cli(["self-test"], gui)
    assert frozen.wants_cli(["--version"], gui)
    assert frozen.wants_cli([], "/opt/PiggyDesk/piggydesk-cli")
    assert frozen.wants_cli([], r"C:\PiggyDesk\piggydesk-cli.exe")


def test_startup_failure_becomes_a_message_and_a_log_not_a_traceback(
    monkeypatch, capsys, isolated_home
):
    def broken_gui(argv):
        raise ModuleNotFoundError("No module named 'shiboken6'", name="shiboken6")

    monkeypatch.setattr(frozen, "_run_gui", broken_gui)
    shown = []
    monkeypatch.setattr(frozen, "_dialogs_allowed", lambda argv: True)
    monkeypatch.setattr(frozen, "_show_dialog", lambda *args: shown.append(args))
    assert frozen.launch([], executable="/opt/PiggyDesk/PiggyDesk") == 1
    err = capsys.readouterr().err
    assert "PiggyDesk could not start" in err
    assert "shiboken6" in err and "reinstall" in err
    assert "Traceback" not in err
    (message, details, log_path), = shown
    assert "Traceback" in details and "shiboken6" in message
    assert log_path is not None and log_path.is_relative_to(isolated_home)
    assert "ModuleNotFoundError" in log_path.read_text()


def test_cli_failure_has_no_dialog(monkeypatch, capsys, isolated_home):
    def broken_cli(argv):
        raise OSError("disk full")

    monkeypatch.setattr(frozen, "_run_cli", broken_cli)
    monkeypatch.setattr(frozen, "_dialogs_allowed", lambda argv: True)
    monkeypatch.setattr(frozen, "_show_dialog", lambda *a: pytest.fail("dialog shown"))
    assert frozen.launch(["self-test"], executable="/x/PiggyDesk") == 1
    assert "disk full" in capsys.readouterr().err


def test_frozen_resources_come_from_the_bundle(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    for name in ("PIGGYDESK_RESOURCES", "HF_HUB_DISABLE_TELEMETRY"):
        monkeypatch.setenv(name, "")  # so that monkeypatch restores what launch() sets
        monkeypatch.delenv(name)
    assert frozen.is_frozen()
    assert frozen.resource_path("icons", "piggydesk.png") == tmp_path / "resources/icons/piggydesk.png"
    frozen.configure_environment()
    assert os.environ["PIGGYDESK_RESOURCES"] == str(tmp_path / "resources")
    from piggydesk.core import paths

    assert paths.resources_dir() == tmp_path / "resources"


def test_startup_error_dialog_is_readable(qtbot, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    from piggydesk.ui.startup_error import TITLE, build_startup_error_box

    log = tmp_path / "startup-error.log"
    box = build_startup_error_box("A part of PiggyDesk is missing.", "Traceback ...", log)
    qtbot.addWidget(box)
    assert box.windowTitle() == TITLE
    assert box.icon() == QMessageBox.Icon.Critical
    assert str(log) in box.informativeText()
    assert box.detailedText() == "Traceback ..."
    assert any(b.text() == "Open log folder" for b in box.buttons())


def test_icons_exist_in_every_size():
    from PIL import Image

    icons = ROOT / "resources" / "icons"
    for size in (16, 24, 32, 48, 64, 128, 256, 512, 1024):
        with Image.open(icons / f"piggydesk-{size}.png") as image:
            assert image.size == (size, size) and image.mode == "RGBA"
    with Image.open(icons / "piggydesk.ico") as ico:
        assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]
    with Image.open(icons / "piggydesk.icns") as icns:
        assert icns.size[0] >= 512


# --------------------------------------------------------------------------------------------
# The frozen build (marked: slow, builds ~1 GB)
# --------------------------------------------------------------------------------------------
def _ensure_pyinstaller() -> None:
    try:
        import PyInstaller  # noqa: F401

        return
    except ImportError:
        pass
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "pyinstaller>=6.0"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"PyInstaller is not installed and could not be installed: {result.stderr[-500:]}")


@pytest.fixture(scope="session")
def frozen_app() -> Path:
    given = os.environ.get("PIGGYDESK_FROZEN_DIST")
    if given:
        return Path(given).resolve()
    if not sys.platform.startswith("linux"):
        pytest.skip("the frozen test builds the Linux app; other systems build in release.yml")
    _ensure_pyinstaller()
    code, log_tail, waited = frozen_build.wait()  # started in the background by conftest.py
    assert code == 0, f"build failed (log: {frozen_build.LOG}):\n{log_tail}"
    info = json.loads((frozen_build.DIST / "build-info.json").read_text())
    print(f"\nfrozen build: {info['build_seconds']} s ({waited:.0f} s of it waited for), "
          f"{info['bundle_mb']} MB; biggest parts: {info['biggest_parts_mb']}")
    return frozen_build.DIST / APP_NAME


def _frozen_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PIGGYDESK_HOME=str(home), QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    env.pop("PIGGYDESK_RESOURCES", None)  # the frozen app must find its own
    return env


@pytest.mark.frozen
def test_bundle_holds_what_the_app_needs_and_nothing_big_it_does_not(frozen_app):
    internal = frozen_app / "_internal"
    assert (frozen_app / APP_NAME).is_file() and os.access(frozen_app / APP_NAME, os.X_OK)
    assert (frozen_app / "piggydesk-cli").is_file()
    resources = internal / "resources"
    for name in ("icons/piggydesk-256.png", "linux/piggydesk.desktop", "models/catalog.json"):
        assert (resources / name).is_file(), name
    assert any((resources / "samples").iterdir()), "no sample photos shipped"
    # everything in the source tree's resources/ (icons, samples, the instant engine's weights,
    # the model catalogue) is in the bundle; .icns only matters on macOS
    source = ROOT / "resources"
    wanted = {p.relative_to(source).as_posix() for p in source.rglob("*")
              if p.is_file() and p.suffix != ".icns" and "__pycache__" not in p.parts}
    shipped = {p.relative_to(resources).as_posix() for p in resources.rglob("*") if p.is_file()}
    assert wanted <= shipped, f"not bundled: {sorted(wanted - shipped)}"
    # metadata that diffusers/transformers read with importlib.metadata at import time
    for dist in ("diffusers", "transformers", "huggingface_hub", "tokenizers", "safetensors"):
        assert list(internal.glob(f"{dist}-*.dist-info")), f"{dist} metadata missing"
    # left out: CUDA, torch's test binaries and headers, unused Qt modules and translations,
    # optional packages the app does not use, tkinter
    names = [p.relative_to(internal).as_posix() for p in internal.rglob("*")]
    assert not [n for n in names if "libcudart" in n or "libcublas" in n or n.startswith("nvidia/")]
    assert not [n for n in names if n.startswith(("torch/test/", "torch/include/"))]
    assert [n for n in names if n.startswith("torch/bin/")] == ["torch/bin/torch_shm_manager"]
    assert not [n for n in names if "libQt6Quick" in n or "libQt6WebEngine" in n or "tkinter" in n]
    assert not [n for n in names if n.startswith(("matplotlib/", "hf_xet/", "PySide6/Qt/translations/"))]
    size_mb = sum(p.stat().st_size for p in frozen_app.rglob("*")
                  if p.is_file() and not p.is_symlink()) / 2**20
    assert size_mb <= LINUX_SIZE_GOAL_MB, f"bundle is {size_mb:.0f} MB"


@pytest.mark.frozen
def test_frozen_self_test(frozen_app, tmp_path):
    started = time.perf_counter()
    result = subprocess.run(
        [str(frozen_app / "piggydesk-cli"), "self-test"],
        env=_frozen_env(tmp_path), capture_output=True, text=True, check=False,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert "Traceback" not in result.stderr
    print(f"\nfrozen self-test: {seconds:.1f} s\n{result.stdout[-600:]}")
    # nothing was written next to the executable: logs and settings go to the user folders
    assert not list(frozen_app.glob("*.log"))


@pytest.mark.frozen
def test_windowed_executable_routes_cli_commands(frozen_app, tmp_path):
    result = subprocess.run(
        [str(frozen_app / APP_NAME), "--help"],
        env=_frozen_env(tmp_path), capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "self-test" in result.stdout


@pytest.mark.frozen
def test_frozen_gui_smoke_test(frozen_app, tmp_path):
    report = tmp_path / "smoke.json"
    started = time.time()
    result = subprocess.run(
        [str(frozen_app / APP_NAME), "--smoke-test", "--smoke-report", str(report)],
        env=_frozen_env(tmp_path / "home"), capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    data = json.loads(report.read_text())
    assert data["ok"] is True and data["exit_code"] == 0
    assert data["mean_chroma"] > 0
    print(f"\nfrozen GUI: first window after {data['window_shown_at'] - started:.2f} s, "
          f"colorized ({data['engine']}) after {data['colorized_at'] - started:.2f} s")


@pytest.mark.frozen
def test_linux_install_script_adds_and_removes_the_menu_entry(frozen_app, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run(["bash", str(frozen_app / "install.sh"), "--in-place"],
                   env=env, check=True, capture_output=True, text=True)
    desktop = home / ".local/share/applications/piggydesk.desktop"
    text = desktop.read_text()
    assert f'Exec="{frozen_app}/{APP_NAME}" %F' in text
    assert "Icon=piggydesk" in text
    assert (home / ".local/share/icons/hicolor/256x256/apps/piggydesk.png").is_file()
    assert (home / ".local/bin/piggydesk").resolve() == (frozen_app / APP_NAME).resolve()
    subprocess.run(["bash", str(frozen_app / "uninstall.sh")],
                   env=env, check=True, capture_output=True, text=True)
    assert not desktop.exists()
    assert not (home / ".local/share/icons/hicolor/256x256/apps/piggydesk.png").exists()
    assert not (home / ".local/bin/piggydesk").exists()
    assert (frozen_app / APP_NAME).exists(), "an in-place install must not delete the app"


def test_smoke_mode_opens_colorizes_and_quits(qapp, tmp_path):
    """The same smoke test the frozen app runs, in-process (the default engine, sample hints)."""
    from piggydesk.ui.smoke import run_smoke_test

    report = tmp_path / "smoke.json"
    code = run_smoke_test(qapp, ["--smoke-test", "--smoke-report", str(report)])
    data = json.loads(report.read_text())
    assert code == 0, data.get("error")
    assert data["ok"] and data["hints"] > 0 and data["mean_chroma"] > 0
    assert data["window_shown_at"] <= data["colorized_at"]


def test_smoke_mode_fails_cleanly_without_a_photo(qapp, tmp_path, capsys):
    from piggydesk.ui.smoke import run_smoke_test

    report = tmp_path / "smoke.json"
    missing = tmp_path / "nowhere.png"
    code = run_smoke_test(qapp, ["--smoke-test", "--smoke-report", str(report), str(missing)])
    assert code == 1
    assert "does not exist" in json.loads(report.read_text())["error"]
    assert "smoke test failed" in capsys.readouterr().err


@pytest.mark.frozen
def test_frozen_diffusion_engine_loads_and_runs_a_tiny_bundle(frozen_app, tmp_path):
    """diffusers + transformers inside the frozen app: metadata, lazily imported classes, the
    CLIP tokenizer and safetensors loading (a tiny random bundle, two steps)."""
    import numpy as np
    from PIL import Image

    from piggydesk.pipelines.bundle import assemble_bundle
    from tests.piggyback_helpers import (
        gradient_lightness,
        make_tiny_base,
        make_tiny_gray_encoder,
        make_tiny_guider,
    )

    base = make_tiny_base(tmp_path / "base")
    bundle = assemble_bundle(
        base, tmp_path / "bundle",
        guider_dir=make_tiny_guider(base, tmp_path / "guider"),
        decoder_dir=make_tiny_gray_encoder(base, tmp_path / "gray"),
    )
    gray = np.round(gradient_lightness(48, 64) / 100.0 * 255).astype(np.uint8)
    source, out = tmp_path / "old.png", tmp_path / "colour.png"
    Image.fromarray(gray, mode="L").save(source)
    result = subprocess.run(
        [str(frozen_app / "piggydesk-cli"), "colorize", str(source), "-o", str(out),
         "--engine", "piggyback", "--device", "cpu", "--steps", "2", "--model", str(bundle),
         "--prompt", "a red car", "--hint", "10,10,#c03030"],
        env=_frozen_env(tmp_path / "home"), capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    with Image.open(out) as image:
        assert image.size == (64, 48)
