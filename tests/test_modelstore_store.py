"""Import, verify, remove and the shipped catalogue (no network)."""

from __future__ import annotations

import json
import re

import pytest
from modelstore_helpers import model_files, read_tree, write_folder

from piggydesk.modelstore.catalog import load_catalog, parse_catalog
from piggydesk.modelstore.errors import (
    CatalogError,
    InvalidModelFolderError,
    UnknownModelError,
)
from piggydesk.modelstore.importer import import_model, inspect_model_folder
from piggydesk.modelstore.store import ModelStore

UNET = "unet/diffusion_pytorch_model.safetensors"


def test_store_defaults_to_models_dir_and_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("PIGGYDESK_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert ModelStore().root == tmp_path / "elsewhere"


def test_import_valid_base_folder_copies_and_records(store, tmp_path):
    files = model_files()
    src = write_folder(tmp_path / "My SD Model", files)
    (src / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle, never copied")
    model = import_model(store, src)
    assert model.id == "my-sd-model" and model.kind == "base" and not model.linked
    assert read_tree(store.path(model.id)) == files  # the pickle stayed behind
    assert set(store.get(model.id).files) == set(files)
    assert store.verify(model.id)[0].ok
    assert store.preferred_model_path() == store.path(model.id)
    assert not list((store.root / ".downloads").glob("*"))


def test_import_bundle_checks_declared_hashes_and_is_preferred(store, tmp_path):
    base = import_model(store, write_folder(tmp_path / "base", model_files()))
    bundle_files = model_files(bundle=True, seed=5)
    model = import_model(store, write_folder(tmp_path / "bundle", bundle_files))
    assert model.kind == "bundle" and model.name == "Tiny test bundle"
    assert store.preferred_model_path() == store.path(model.id)
    assert base.id != model.id

    bad = dict(bundle_files)
    bad["guider/diffusion_pytorch_model.safetensors"] = model_files(bundle=True, seed=6)[
        "guider/diffusion_pytorch_model.safetensors"]
    with pytest.raises(InvalidModelFolderError, match="sha256"):
        import_model(store, write_folder(tmp_path / "tampered", bad))
    assert [m.id for m in store.installed().values()] == [base.id, model.id]


def test_import_with_link_and_remove_keeps_users_folder(store, tmp_path):
    src = write_folder(tmp_path / "linked-model", model_files())
    model = import_model(store, src, link=True)
    folder = store.path(model.id)
    assert folder.is_symlink() and folder.resolve() == src.resolve()
    assert store.verify(model.id)[0].ok
    store.remove(model.id)
    assert not folder.exists() and not folder.is_symlink()
    assert read_tree(src) == model_files()  # the user's files are untouched
    assert not store.is_installed(model.id)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.pop("model_index.json"), "model_index.json is missing"),
        (lambda f: [f.pop(k) for k in list(f) if k.startswith("unet/")], "unet"),
        (lambda f: f.update({UNET: b"\x10\x00\x00\x00\x00\x00\x00\x00{"}), "not a valid safetensors"),
        (lambda f: f.pop("tokenizer/merges.txt"), "tokenizer/merges.txt is missing"),
        (lambda f: f.pop("vae/config.json"), "vae/config.json is missing"),
        (lambda f: f.update({"unet/config.json": b'{"cross_attention_dim": 1024}'}), "SD 1.x"),
        (lambda f: f.update({"model_index.json": b"{not json"}), "not valid JSON"),
    ],
)
def test_import_rejects_invalid_folders(store, tmp_path, mutate, message):
    files = model_files()
    mutate(files)
    src = write_folder(tmp_path / "bad", files)
    with pytest.raises(InvalidModelFolderError, match=re.escape(message)):
        import_model(store, src)
    assert store.installed() == {}
    assert [p.name for p in store.root.iterdir() if not p.name.startswith(".")] == []


def test_import_rejects_pickle_only_weights(store, tmp_path):
    files = model_files()
    files.pop(UNET)
    files["unet/diffusion_pytorch_model.bin"] = b"\x80\x02pickle"
    with pytest.raises(InvalidModelFolderError, match="pickled weights"):
        inspect_model_folder(write_folder(tmp_path / "pickles", files))


def test_import_rejects_missing_bundle_component(store, tmp_path):
    files = model_files(bundle=True)
    for key in [k for k in files if k.startswith("guider/")]:
        files.pop(key)
    with pytest.raises(InvalidModelFolderError, match="guider"):
        import_model(store, write_folder(tmp_path / "b", files))


def test_import_of_non_folder(store, tmp_path):
    with pytest.raises(InvalidModelFolderError, match="is not a folder"):
        import_model(store, tmp_path / "nothing-here")


def test_verify_detects_corruption_and_missing_files(store, tmp_path):
    model = import_model(store, write_folder(tmp_path / "m", model_files()))
    folder = store.path(model.id)
    data = bytearray((folder / UNET).read_bytes())
    data[-1] ^= 0xFF
    (folder / UNET).write_bytes(bytes(data))
    (folder / "tokenizer" / "vocab.json").unlink()
    report = store.verify(model.id)[0]
    assert not report.ok
    assert any("corrupted" in p and UNET in p for p in report.problems)
    assert any("vocab.json is missing" in p for p in report.problems)


def test_remove_and_unknown_ids(store, tmp_path):
    model = import_model(store, write_folder(tmp_path / "m", model_files()))
    store.remove(model.id)
    assert not (store.root / model.id).exists()
    assert store.installed() == {}
    with pytest.raises(UnknownModelError):
        store.remove(model.id)
    with pytest.raises(UnknownModelError):
        store.verify("nope")


def test_imported_ids_are_unique(store, tmp_path):
    src = write_folder(tmp_path / "same", model_files())
    a = import_model(store, src)
    b = import_model(store, src)
    assert a.id == "same" and b.id == "same-2"


# ---------------------------------------------------------------- catalogue
def test_shipped_catalogue_is_pinned_and_safe():
    catalog = load_catalog()
    assert {"minisd", "sd15", "controlnet-brightness-sd15", "lcm-lora-sd15",
            "hyper-sd15-8steps-cfg"} <= set(catalog.ids())
    for entry in catalog:
        assert entry.kind in ("base", "bundle", "controlnet", "lora")
        assert entry.license and entry.enables
        pinned = re.fullmatch(r"[0-9a-f]{40}", entry.revision)
        # only the LoRAs may be unpinned, and then they say so and verify on first download
        assert pinned or (entry.kind == "lora" and any("Not pinned" in n for n in entry.notes))
        for f in entry.files:
            match = re.fullmatch(
                r"https://huggingface\.co/([^/]+/[^/]+)/resolve/([0-9a-f]{40}|main)/(.+)", f.url
            )
            assert match, f.url
            assert match.group(2) == entry.revision
            assert not f.url.endswith((".bin", ".ckpt", ".pt", ".pth"))
            if f.path.endswith(".safetensors"):
                assert f.size > 100_000_000
                if entry.kind == "base":  # published hashes for the big SD downloads
                    assert f.sha256 and f.size_exact
            if f.sha256 is None:
                assert f.verify_on_first_download
        paths = {f.path for f in entry.files}
        needed = {
            "base": ("model_index.json", "unet/config.json", "vae/config.json",
                     "text_encoder/config.json", "tokenizer/vocab.json",
                     "scheduler/scheduler_config.json"),
            "controlnet": ("config.json", "diffusion_pytorch_model.safetensors"),
            "lora": (),
        }[entry.kind]
        assert set(needed) <= paths
        if entry.kind == "lora":  # one weights file, under the name pipelines.fast expects
            from piggydesk.pipelines.fast import FAST_LORAS

            spec = next(s for s in FAST_LORAS if s.id == entry.id)
            assert paths == {spec.weight_name}
    from piggydesk.engines.piggyback import CONTROLNET_ID

    assert catalog.get(CONTROLNET_ID).kind == "controlnet"
    sd15 = catalog.get("sd15")
    assert sd15.native_size == 512 and 2.0e9 < sd15.total_size < 2.3e9  # fp16 variant
    assert catalog.get("minisd").native_size == 256


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "'models' list"),
        ({"models": [{"id": "Bad Id!"}]}, "not a valid model id"),
        ({"models": [{"id": "a", "kind": "x", "files": []}]}, "unknown kind"),
    ],
)
def test_malformed_catalogue_is_reported(data, message):
    with pytest.raises(CatalogError, match=re.escape(message)):
        parse_catalog(data)


def test_unsafe_catalogue_paths_are_refused(tmp_path):
    entry = {"id": "a", "name": "A", "kind": "base", "description": "", "license": "MIT",
             "enables": "", "files": [{"path": "../evil", "url": "https://x/y", "size": 1,
                                       "sha256": None}]}
    with pytest.raises(CatalogError, match="unsafe"):
        parse_catalog({"models": [entry]})
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(tmp_path / "broken.json")
    with pytest.raises(UnknownModelError, match="minisd"):
        load_catalog().get("sd99")
    assert json.loads((tmp_path / "broken.json").read_text() + "}") == {}


def test_import_of_hugging_face_cache_snapshot_copies_real_files(store, tmp_path):
    """A Hub cache snapshot is a tree of symlinks into blobs/: the import copies the data."""
    files = model_files(seed=8)
    blobs = tmp_path / "hub" / "blobs"
    snapshot = tmp_path / "hub" / "snapshots" / "0123abc"
    blobs.mkdir(parents=True)
    for i, (rel, data) in enumerate(files.items()):
        blob = blobs / f"blob{i}"
        blob.write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    model = import_model(store, snapshot)
    folder = store.path(model.id)
    assert read_tree(folder) == files
    assert not any(p.is_symlink() for p in folder.rglob("*"))
    assert store.verify(model.id)[0].ok
