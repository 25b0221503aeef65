"""Build the double-clickable PiggyDesk from a checkout into ``dist/``.

Usage (from anywhere; the checkout needs ``pip install -e ".[package]"`` first)::

    python installer/build.py                 # dist/PiggyDesk/ + the platform's archive
    python installer/build.py --no-archive    # only the one-folder app (what the tests use)
    python installer/build.py --target cuda   # keep CUDA libraries (the GPU build)
    python installer/build.py --appimage      # Linux: also an AppDir / AppImage

What it makes, per platform:

- Linux: ``dist/PiggyDesk/`` (with ``install.sh``/``uninstall.sh`` inside) and
  ``dist/PiggyDesk-<version>-linux-x86_64[-cuda].tar.gz``; with ``--appimage`` also
  ``dist/PiggyDesk.AppDir`` and, when ``appimagetool`` is on PATH (or ``$APPIMAGETOOL``),
  ``dist/PiggyDesk-<version>-x86_64.AppImage``.
- Windows: ``dist/PiggyDesk/`` and, when Inno Setup's ``ISCC.exe`` is found,
  ``dist/PiggyDesk-Setup-<version>[-cuda].exe`` (``installer/windows/piggydesk.iss``).
- macOS: ``dist/PiggyDesk.app`` and ``dist/PiggyDesk-<version>.dmg``
  (``installer/macos/make_dmg.sh``).

It also writes ``dist/build-info.json``: build time, bundle size and the biggest parts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

logger = logging.getLogger("piggydesk.build")

ROOT = Path(__file__).resolve().parent.parent
INSTALLER = ROOT / "installer"
SPEC = INSTALLER / "piggydesk.spec"
APP_NAME = "PiggyDesk"
LINUX_SIZE_GOAL = 900 * 1024 * 1024


class BuildError(RuntimeError):
    """A build step failed; the message says which and what to do."""


def app_version() -> str:
    try:
        return dist_version("piggydesk")
    except PackageNotFoundError:
        import tomllib

        with (ROOT / "pyproject.toml").open("rb") as fh:
            return tomllib.load(fh)["project"]["version"]


def folder_size(path: Path) -> int:
    total = 0
    for item in path.rglob("*"):
        if item.is_file() and not item.is_symlink():
            total += item.stat().st_size
    return total


def biggest_parts(app_dir: Path, count: int = 12) -> list[tuple[str, int]]:
    """The largest folders/files one or two levels into the bundle's ``_internal``."""
    internal = app_dir / "_internal"
    if not internal.is_dir():  # macOS .app layout
        internal = app_dir
    sizes: dict[str, int] = {}
    for item in internal.rglob("*"):
        if not item.is_file() or item.is_symlink():
            continue
        parts = item.relative_to(internal).parts
        key = "/".join(parts[:2]) if parts[0] in ("torch", "PySide6") and len(parts) > 2 else parts[0]
        sizes[key] = sizes.get(key, 0) + item.stat().st_size
    for exe in app_dir.iterdir():
        if exe.is_file() and not exe.is_symlink():
            sizes[exe.name] = exe.stat().st_size
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:count]


def check_pyinstaller() -> None:
    try:
        import PyInstaller  # noqa: F401
    except ImportError as exc:
        raise BuildError(
            "PyInstaller is not installed in this Python. Install it with: "
            f'{sys.executable} -m pip install -e "{ROOT}[package]"'
        ) from exc


def ensure_icons() -> None:
    icons = ROOT / "resources" / "icons"
    if not (icons / "piggydesk.ico").exists() or not (icons / "piggydesk.png").exists():
        logger.info("drawing the icon set")
        subprocess.run([sys.executable, str(INSTALLER / "make_icons.py")], check=True)


def run_pyinstaller(dist: Path, work: Path, target: str) -> dict:
    report = work / f"size-report-{target}.json"
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PIGGYDESK_TARGET": target, "PIGGYDESK_SIZE_REPORT": str(report)}
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", str(dist), "--workpath", str(work), str(SPEC),
    ]
    logger.info("running %s", " ".join(command))
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit code {result.returncode}); see its output above.")
    return json.loads(report.read_text()) if report.exists() else {}


def add_linux_scripts(app_dir: Path) -> None:
    for name in ("install.sh", "uninstall.sh"):
        target = app_dir / name
        shutil.copy2(INSTALLER / "linux" / name, target)
        target.chmod(0o755)


def make_tarball(app_dir: Path, dist: Path, version: str, target: str) -> Path:
    suffix = "-cuda" if target == "cuda" else ""
    archive = dist / f"{APP_NAME}-{version}-linux-{platform.machine()}{suffix}.tar.gz"
    logger.info("writing %s", archive)
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(app_dir, arcname=f"{APP_NAME}-{version}")
    return archive


def make_appimage(app_dir: Path, dist: Path, version: str) -> Path:
    """Lay out an AppDir and, when appimagetool is available, pack it into an AppImage."""
    appdir = dist / f"{APP_NAME}.AppDir"
    if appdir.exists():
        shutil.rmtree(appdir)
    lib = appdir / "usr" / "lib" / "piggydesk"
    lib.parent.mkdir(parents=True)
    try:  # hard links: no second copy of ~900 MB on disk
        shutil.copytree(app_dir, lib, copy_function=os.link, symlinks=True)
    except OSError:
        shutil.copytree(app_dir, lib, symlinks=True)
    resources = app_dir / "_internal" / "resources"
    shutil.copy2(INSTALLER / "linux" / "AppRun", appdir / "AppRun")
    (appdir / "AppRun").chmod(0o755)
    desktop = (resources / "linux" / "piggydesk.desktop").read_text()
    (appdir / "piggydesk.desktop").write_text(desktop)
    shutil.copy2(resources / "icons" / "piggydesk-256.png", appdir / "piggydesk.png")
    (appdir / ".DirIcon").symlink_to("piggydesk.png")
    for size in (16, 32, 48, 64, 128, 256, 512):
        icon_dir = appdir / "usr" / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        icon_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(resources / "icons" / f"piggydesk-{size}.png", icon_dir / "piggydesk.png")
    tool = os.environ.get("APPIMAGETOOL") or shutil.which("appimagetool")
    if not tool:
        logger.warning(
            "appimagetool is not available (it is in none of the package registries this "
            "machine reaches); %s is ready: run `appimagetool %s` where you have it.",
            appdir, appdir,
        )
        return appdir
    image = dist / f"{APP_NAME}-{version}-{platform.machine()}.AppImage"
    env = {**os.environ, "ARCH": platform.machine()}
    subprocess.run([tool, "--no-appstream", str(appdir), str(image)], env=env, check=True)
    return image


def find_iscc() -> str | None:
    found = shutil.which("iscc") or shutil.which("ISCC")
    if found:
        return found
    for base in (os.environ.get("ProgramFiles(x86)"), os.environ.get("ProgramFiles")):
        if base and (Path(base) / "Inno Setup 6" / "ISCC.exe").exists():
            return str(Path(base) / "Inno Setup 6" / "ISCC.exe")
    return None


def make_windows_installer(app_dir: Path, dist: Path, version: str, target: str) -> Path | None:
    iscc = find_iscc()
    if not iscc:
        logger.warning("Inno Setup (ISCC.exe) not found: skipping the Setup .exe")
        return None
    command = [
        iscc, f"/DAppVersion={version}", f"/DSourceDir={app_dir}", f"/DOutputDir={dist}",
        f"/DVariant={target}", str(INSTALLER / "windows" / "piggydesk.iss"),
    ]
    subprocess.run(command, check=True)
    suffix = "-cuda" if target == "cuda" else ""
    return dist / f"{APP_NAME}-Setup-{version}{suffix}.exe"


def make_dmg(dist: Path, version: str) -> Path:
    script = INSTALLER / "macos" / "make_dmg.sh"
    subprocess.run(["bash", str(script), str(dist / f"{APP_NAME}.app"), version, str(dist)],
                   check=True)
    return dist / f"{APP_NAME}-{version}.dmg"


def build(args: argparse.Namespace) -> dict:
    check_pyinstaller()
    ensure_icons()
    version = app_version()
    dist, work = args.dist.resolve(), args.work.resolve()
    if args.clean and work.exists():
        shutil.rmtree(work)
    started = time.perf_counter()
    report = run_pyinstaller(dist, work, args.target)
    seconds = time.perf_counter() - started
    app_dir = dist / APP_NAME
    if sys.platform == "darwin":
        app_dir = dist / f"{APP_NAME}.app"
    size = folder_size(app_dir)
    info = {
        "version": version,
        "target": args.target,
        "platform": f"{sys.platform}-{platform.machine()}",
        "python": platform.python_version(),
        "build_seconds": round(seconds, 1),
        "bundle_bytes": size,
        "bundle_mb": round(size / 2**20, 1),
        "biggest_parts_mb": {k: round(v / 2**20, 1) for k, v in biggest_parts(app_dir)},
        "excluded_modules": report.get("excluded", []),
        "artifacts": [],
    }
    logger.info("built %s in %.0f s: %.0f MB", app_dir, seconds, size / 2**20)
    if sys.platform.startswith("linux"):
        add_linux_scripts(app_dir)
        if args.target == "cpu" and size > LINUX_SIZE_GOAL:
            logger.warning("the bundle is over the 900 MB goal (%.0f MB)", size / 2**20)
    if not args.no_archive:
        if sys.platform.startswith("linux"):
            info["artifacts"].append(str(make_tarball(app_dir, dist, version, args.target)))
        elif sys.platform == "win32":
            setup = make_windows_installer(app_dir, dist, version, args.target)
            if setup:
                info["artifacts"].append(str(setup))
        elif sys.platform == "darwin":
            info["artifacts"].append(str(make_dmg(dist, version)))
    if args.appimage and sys.platform.startswith("linux"):
        info["artifacts"].append(str(make_appimage(app_dir, dist, version)))
    (dist / "build-info.json").write_text(json.dumps(info, indent=2))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the double-clickable PiggyDesk.")
    parser.add_argument("--target", choices=("cpu", "cuda"), default="cpu",
                        help="cpu leaves CUDA libraries out; cuda keeps them")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument("--no-archive", action="store_true",
                        help="only the one-folder app: no tar.gz / Setup.exe / .dmg")
    parser.add_argument("--appimage", action="store_true", help="Linux: also an AppImage")
    parser.add_argument("--clean", action="store_true", help="drop PyInstaller's cache first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="build: %(message)s")
    try:
        info = build(args)
    except BuildError as exc:
        logger.error("%s", exc)
        return 1
    print(json.dumps({k: v for k, v in info.items() if k != "excluded_modules"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
