"""The model store decides which model the piggyback engine runs and whether it is intact.

One ranking rule (``ModelStore.candidates``); verification results cached by size and mtime so
an unchanged bundle is not re-hashed on every engine load, while a changed file still fails.
Hashing is counted by spying on ``hashlib.sha256`` inside ``core.checksum`` (no clocks).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from modelstore_helpers import model_files, write_folder

from piggydesk.core import checksum
from piggydesk.core.paths import models_dir
from piggydesk.modelstore.importer import import_model
from piggydesk.modelstore.store import ModelStore

UNET = "unet/diffusion_pytorch_model.safetensors"


class _HashSpy:
    """Stands in for ``hashlib`` inside ``core.checksum``; counts the files hashed."""

    def __init__(self) -> None:
        self.calls = 0

    def sha256(self):
        self.calls += 1
        return hashlib.sha256()


@pytest.fixture
def spy(monkeypatch):
    spy = _HashSpy()
    monkeypatch.setattr(checksum, "hashlib", spy)
    return spy


def _index(folder: Path, *components: str) -> Path:
    index = {name: ["diffusers", "X"] for name in ("vae", "text_encoder", "unet", *components)}
    index["gray_encoder"] = index.get("gray_encoder", [None, None])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


def _touch_changed(path: Path) -> None:
    """Flip one byte, keep the size, move the mtime on (what an edit or bit rot looks like)."""
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_one_ranking_rule_guider_then_decoder_then_newest_install(store, tmp_path):
    root = store.root
    _index(root / "a-plain")
    _index(root / "b-decoder", "gray_encoder")
    _index(root / "nested" / "inner", "guider")  # one level down counts
    _index(root / "c-controlnet", "controlnet")
    _index(root / ".downloads" / "half", "guider", "gray_encoder")  # staging never counts
    names = [p.name for p in store.candidates()]
    assert names == ["inner", "c-controlnet", "b-decoder", "a-plain"]

    old = import_model(store, write_folder(tmp_path / "old", model_files(bundle=True, seed=1)))
    new = import_model(store, write_folder(tmp_path / "new", model_files(bundle=True, seed=2)))
    ranked = store.candidates()
    # installed bundles (guider + decoder) first, the newer one first when times tie on name
    assert set(ranked[:2]) == {store.path(old.id), store.path(new.id)}
    assert ranked[2].name == "inner" and store.preferred_model_path() == ranked[0]
    assert [p.name for p in ranked[3:]] == ["c-controlnet", "b-decoder", "a-plain"]


def test_cached_hash_skips_unchanged_files_and_notices_changes(store, spy, tmp_path):
    weights = write_folder(tmp_path / "m", {UNET: os.urandom(300_000)}) / UNET
    first = store.cached_sha256(weights)
    assert first == hashlib.sha256(weights.read_bytes()).hexdigest() and spy.calls == 1
    assert store.cached_sha256(weights) == first and spy.calls == 1  # not re-read
    assert ModelStore(store.root, store.catalog).cached_sha256(weights) == first  # on disk
    assert spy.calls == 1

    _touch_changed(weights)
    second = store.cached_sha256(weights)
    assert spy.calls == 2 and second != first
    assert second == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_files_verified_at_install_are_not_hashed_again(store, spy, tmp_path):
    model = import_model(store, write_folder(tmp_path / "b", model_files(bundle=True)))
    before = spy.calls
    for rel in model.files:
        store.cached_sha256(store.path(model.id) / rel)
    assert spy.calls == before
    # an explicit Verify still reads every byte
    assert store.verify(model.id)[0].ok and spy.calls == before + len(model.files)


def test_a_broken_cache_is_ignored_and_rewritten(store, spy, tmp_path):
    weights = write_folder(tmp_path / "m", {UNET: b"x" * 1000}) / UNET
    store.hash_cache_path.write_text("{not json", encoding="utf-8")
    store.cached_sha256(weights)
    store.cached_sha256(weights)
    assert spy.calls == 1  # rewritten after the first hash


# --------------------------------------------------------------------------- engine loads
@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    from tests.piggyback_helpers import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("choice"))


def test_engine_load_uses_the_stores_choice_and_does_not_rehash(tiny_bundle, spy):
    from piggydesk.engines import registry
    from piggydesk.engines.base import EngineUnavailable

    shutil.copytree(tiny_bundle["base"], models_dir() / "plain-sd")
    shutil.copytree(tiny_bundle["bundle"], models_dir() / "tiny-bundle")
    assert ModelStore().preferred_model_path() == models_dir() / "tiny-bundle"

    engine = registry.create_engine("piggyback", device="cpu")
    assert engine.bundle == models_dir() / "tiny-bundle"
    manifest = json.loads((engine.bundle / "piggydesk.json").read_text(encoding="utf-8"))
    assert spy.calls == len(manifest["files"])  # first load: every file hashed once

    spy.calls = 0
    registry.create_engine("piggyback", device="cpu")
    assert spy.calls == 0  # second load: nothing re-read

    _touch_changed(models_dir() / "tiny-bundle" / UNET)
    with pytest.raises(EngineUnavailable, match="checksum"):
        registry.create_engine("piggyback", device="cpu")
    assert spy.calls == 1  # only the changed file was read again
