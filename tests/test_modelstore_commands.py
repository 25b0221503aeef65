"""``piggydesk models ...`` through the registered argparse handlers (and one real subprocess)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from modelstore_helpers import (
    FAST,
    catalog_entry,
    model_files,
    serve,
    write_catalog,
    write_folder,
)

from piggydesk.modelstore import commands
from piggydesk.modelstore.errors import ModelStoreError, UnknownModelError
from piggydesk.modelstore.store import ModelStore


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="piggydesk")
    sub = parser.add_subparsers(dest="command")
    commands.add_models_parser(sub)
    return parser.parse_args(["models", *argv])


def run(*argv: str) -> int:
    args = parse(*argv)
    return args.func(args)


@pytest.fixture
def cli_env(hub, tmp_path, monkeypatch):
    """A catalogue with one tiny model served locally, and a models folder in tmp."""
    files = model_files(bundle=True)
    serve(hub, files, prefix="tiny/")
    catalog = write_catalog(tmp_path / "catalog.json",
                            [catalog_entry("tiny", hub, files, prefix="tiny/")])
    monkeypatch.setenv("PIGGYDESK_CATALOG", str(catalog))
    monkeypatch.setenv("PIGGYDESK_MODELS_DIR", str(tmp_path / "models"))
    # keep CLI downloads on the fast test timeouts
    monkeypatch.setattr("piggydesk.modelstore.store.DownloadSettings", lambda: FAST)
    return tmp_path / "models"


def test_list_download_verify_remove_path(cli_env, capsys):
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "available" in out and "MIT" in out

    assert run("download", "tiny") == 0
    out = capsys.readouterr().out
    assert "Installed" in out and "verified" in out
    assert (cli_env / "tiny" / "model_index.json").is_file()

    assert run("list") == 0
    assert "installed" in capsys.readouterr().out

    assert run("download", "tiny") == 0
    assert "already installed" in capsys.readouterr().out

    assert run("verify") == 0
    assert "tiny: OK" in capsys.readouterr().out

    (cli_env / "tiny" / "tokenizer" / "vocab.json").write_text("{}")
    with pytest.raises(ModelStoreError, match="failed verification"):
        run("verify", "tiny")
    assert "tiny: FAILED" in capsys.readouterr().out

    assert run("path") == 0
    assert capsys.readouterr().out.strip() == str(cli_env)

    assert run("remove", "tiny", "--yes") == 0
    assert not (cli_env / "tiny").exists()
    with pytest.raises(UnknownModelError):
        run("remove", "tiny", "--yes")


def test_remove_without_yes_needs_a_terminal(cli_env, tmp_path, monkeypatch):
    run("import", str(write_folder(tmp_path / "local", model_files())))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    with pytest.raises(ModelStoreError, match="--yes"):
        run("remove", "local")
    assert ModelStore().is_installed("local")


def test_import_and_link(cli_env, tmp_path, capsys):
    src = write_folder(tmp_path / "Family SD", model_files())
    assert run("import", str(src)) == 0
    assert "Imported" in capsys.readouterr().out
    assert run("import", str(src), "--link") == 0
    assert "linked" in capsys.readouterr().out
    run("list")
    out = capsys.readouterr().out
    assert "family-sd " in out and "imported (linked)" in out
    with pytest.raises(ModelStoreError, match="model_index.json is missing"):
        run("import", str(tmp_path))


def test_unknown_download_id_is_one_clear_line(cli_env):
    with pytest.raises(UnknownModelError, match="no model called 'nope'") as info:
        run("download", "nope")
    assert "\n" not in str(info.value)


def test_assemble_calls_the_bundle_builder(cli_env, tmp_path, monkeypatch, capsys):
    calls = []

    def assemble_bundle(base_dir, out_dir, guider_dir=None, decoder_dir=None,
                        controlnet_dir=None):
        calls.append((base_dir, out_dir, guider_dir, decoder_dir, controlnet_dir))
        return out_dir

    import piggydesk.pipelines

    fake = types.ModuleType("piggydesk.pipelines.bundle")
    fake.assemble_bundle = assemble_bundle
    monkeypatch.setitem(sys.modules, "piggydesk.pipelines.bundle", fake)
    # ``from piggydesk.pipelines import bundle`` reads the package attribute once imported
    monkeypatch.setattr(piggydesk.pipelines, "bundle", fake, raising=False)
    assert run("assemble", "--base", "sd", "--guider", "g", "-o", "out") == 0
    assert run("assemble", "--base", "sd", "--controlnet", "cn", "-o", "out2") == 0
    assert calls == [(Path("sd"), Path("out"), Path("g"), None, None),
                     (Path("sd"), Path("out2"), None, None, Path("cn"))]
    assert "models import out" in capsys.readouterr().out

    class BundleError(Exception):
        pass

    def broken(*args, **kwargs):
        raise BundleError("sd has no unet folder.")

    fake.BundleError = BundleError
    fake.assemble_bundle = broken
    with pytest.raises(ModelStoreError, match="no unet folder"):
        run("assemble", "--base", "sd", "-o", "out")


def test_models_list_as_a_subprocess(cli_env):
    if any(importlib.util.find_spec(m) is None for m in ("piggydesk.cli", "piggydesk.__main__")):
        pytest.skip("piggydesk/cli.py and __main__.py (CLI helper) are not there yet")
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "piggydesk", "models", "list"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "tiny" in result.stdout and "available" in result.stdout


def test_models_error_as_a_subprocess_is_one_line_exit_2(cli_env):
    if any(importlib.util.find_spec(m) is None for m in ("piggydesk.cli", "piggydesk.__main__")):
        pytest.skip("piggydesk/cli.py and __main__.py (CLI helper) are not there yet")
    result = subprocess.run(
        [sys.executable, "-m", "piggydesk", "models", "download", "nope"],
        capture_output=True, text=True, env=dict(os.environ), timeout=120,
    )
    assert result.returncode == 2
    assert "no model called 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_download_without_published_sha256_is_not_called_verified(hub, tmp_path, monkeypatch,
                                                                   capsys):
    files = model_files(seed=4)
    serve(hub, files, prefix="u/")
    catalog = write_catalog(tmp_path / "c.json", [
        catalog_entry("half", hub, files, prefix="u/", unpinned=("tokenizer/vocab.json",),
                      kind="base")])
    monkeypatch.setenv("PIGGYDESK_CATALOG", str(catalog))
    monkeypatch.setenv("PIGGYDESK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr("piggydesk.modelstore.store.DownloadSettings", lambda: FAST)
    assert run("download", "half") == 0
    out = capsys.readouterr().out
    assert "all files verified" not in out
    assert "recorded on first download: tokenizer/vocab.json" in out
    assert f"{len(files) - 1} files verified against the catalogue" in out
