"""List the modules PiggyDesk really loads, so the PyInstaller spec can leave the rest out.

diffusers and transformers import their submodules lazily, and PyInstaller's static analysis
sees every optional import in them (all of transformers' ~400 model families, every diffusers
pipeline, OpenCV, ...). The spec runs this script in a separate interpreter: it imports every
app module (the training code is not shipped), runs the CLI's ``self-test`` when it exists
(that loads the instant engine the way the frozen app will), resolves every class the app
takes from diffusers/transformers (also the ones it loads by name), and prints a JSON object:

- ``loaded``: every module in ``sys.modules`` afterwards;
- ``app_imports``: the top-level packages that PiggyDesk's own code imports anywhere, even
  inside functions (found by reading the source, so lazy imports count).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import logging
import os
import pkgutil
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = ("piggydesk.training",)


def app_modules() -> list[str]:
    import piggydesk

    names = ["piggydesk"]
    for info in pkgutil.walk_packages(piggydesk.__path__, "piggydesk."):
        if not info.name.startswith(NOT_SHIPPED):
            names.append(info.name)
    return names


LAZY_LIBRARIES = ("diffusers", "transformers")


def _shipped_trees(package_dir: Path):
    for path in sorted(package_dir.rglob("*.py")):
        rel = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
        if not rel.startswith(NOT_SHIPPED):
            yield ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def lazy_names(package_dir: Path) -> set[tuple[str, str]]:
    """``(library, attribute)`` pairs the app takes from diffusers/transformers, even lazily:
    ``from transformers import CLIPTextModel`` inside a function, or a ``("transformers",
    "CLIPTextModel")`` table entry naming a class to load by name."""
    found: set[tuple[str, str]] = set()
    for tree in _shipped_trees(package_dir):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in LAZY_LIBRARIES:
                found.update((node.module, alias.name) for alias in node.names)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
            ):
                library, name = (e.value for e in node.elts)
                if library in LAZY_LIBRARIES and name.isidentifier():
                    found.add((library, name))
    return found


def static_imports(package_dir: Path) -> set[str]:
    """Top-level names imported anywhere in the shipped app sources."""
    found: set[str] = set()
    for tree in _shipped_trees(package_dir):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", "") == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value.split(".")[0])
    return found


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sink = io.StringIO()
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as home:
        os.environ["PIGGYDESK_HOME"] = home
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            for name in app_modules():
                try:
                    importlib.import_module(name)
                except Exception as exc:  # report, keep going: the build decides what to do
                    failed[name] = f"{type(exc).__name__}: {exc}"
            for library, name in sorted(lazy_names(ROOT / "piggydesk")):
                try:
                    getattr(importlib.import_module(library), name)
                except Exception as exc:
                    failed[f"{library}.{name}"] = f"{type(exc).__name__}: {exc}"
            cli = sys.modules.get("piggydesk.cli")
            if cli is not None and hasattr(cli, "main"):
                try:
                    failed_rc = cli.main(["self-test"])
                    if failed_rc:
                        failed["self-test"] = f"exit code {failed_rc}"
                except BaseException as exc:  # noqa: BLE001 - SystemExit included
                    failed["self-test"] = f"{type(exc).__name__}: {exc}"
    result = {
        "loaded": sorted(sys.modules),
        "app_imports": sorted(static_imports(ROOT / "piggydesk")),
        "failed": failed,
    }
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
