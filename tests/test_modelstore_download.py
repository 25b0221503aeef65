"""Downloads against a real local HTTP server: resume, corruption, cancel, space, stall, offline."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import namedtuple

import pytest
from modelstore_helpers import (
    FAST,
    FakeHub,
    Fault,
    catalog_entry,
    closed_port,
    model_files,
    read_tree,
    serve,
    write_catalog,
    write_folder,
)

from piggydesk.core.progress import CancelToken
from piggydesk.modelstore.catalog import load_catalog
from piggydesk.modelstore.download import download_file
from piggydesk.modelstore.errors import (
    ChecksumError,
    DownloadCancelled,
    DownloadError,
    ModelStoreError,
    NotEnoughSpaceError,
)
from piggydesk.modelstore.importer import import_model
from piggydesk.modelstore.store import ModelStore

UNET = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never send test traffic to a proxy
    server = FakeHub().start()
    yield server
    server.stop()


@pytest.fixture
def tiny(hub, tmp_path):
    """A store whose catalogue has one tiny bundle ('tiny') served by the hub."""
    files = model_files(bundle=True)
    serve(hub, files, prefix="tiny/")
    catalog = write_catalog(tmp_path / "catalog.json", [catalog_entry("tiny", hub, files,
                                                                     prefix="tiny/")])
    store = ModelStore(tmp_path / "models", load_catalog(catalog), progress_interval=0.0)
    return store, files


def test_download_completes_and_verifies(hub, tiny):
    store, files = tiny
    messages = []
    model = store.download("tiny", progress=messages.append, settings=FAST)

    folder = store.path("tiny")
    assert read_tree(folder) == files
    assert model.kind == "bundle" and store.is_installed("tiny")
    record = json.loads((store.root / "installed.json").read_text())
    recorded = record["models"][0]["files"][UNET]
    assert recorded["sha256"] == hashlib.sha256(files[UNET]).hexdigest()
    assert recorded["checksum"] == "catalog"
    assert not (store.root / ".downloads" / "tiny").exists()
    assert not list(folder.rglob("*.part"))
    # progress: monotone, ends complete, reports every file
    assert messages[-1].done == messages[-1].total == sum(len(d) for d in files.values())
    assert [m.done for m in messages] == sorted(m.done for m in messages)
    assert {m.file_path for m in messages} == set(files)
    assert all(m.speed >= 0 for m in messages)
    assert store.verify("tiny")[0].ok


def test_interrupted_download_resumes_without_resending(hub, tiny):
    store, files = tiny
    path = "tiny/" + UNET
    cut = 100_000
    hub.faults[path] = Fault(drop_at=cut, drop_times=1)

    store.download("tiny", settings=FAST)

    assert (store.path("tiny") / UNET).read_bytes() == files[UNET]
    first, second = hub.requests_for(path)
    assert first.range is None and first.status == 200 and first.sent == cut
    assert second.range == f"bytes={cut}-"
    assert second.if_range == hub.etag(path)
    assert second.status == 206
    assert hub.bytes_sent(path) == len(files[UNET])  # no byte was sent twice


def test_changed_file_on_server_restarts_via_if_range(hub, tmp_path):
    old = b"A" * 50_000
    new = b"B" * 60_000
    hub.files["f.bin"] = old
    old_etag = hub.etag("f.bin")
    dest = tmp_path / "f.bin"
    # a partial download of the old version, as an interrupted attempt leaves it
    (tmp_path / "f.bin.part").write_bytes(old[:20_000])
    (tmp_path / "f.bin.part.json").write_text(
        json.dumps({"url": hub.url("f.bin"), "validator": old_etag}))
    hub.files["f.bin"] = new  # new content, new ETag: If-Range must not resume
    digest = download_file(hub.url("f.bin"), dest, settings=FAST)
    assert dest.read_bytes() == new
    assert digest == hashlib.sha256(new).hexdigest()
    (request,) = hub.requests_for("f.bin")
    assert request.range == "bytes=20000-" and request.if_range == old_etag
    assert request.status == 200
    assert not (tmp_path / "f.bin.part").exists()


def test_corrupted_file_is_detected_and_not_installed(hub, tiny):
    store, files = tiny
    hub.faults["tiny/" + UNET] = Fault(corrupt=True)
    with pytest.raises(ChecksumError, match="corrupted"):
        store.download("tiny", settings=FAST)
    assert not store.is_installed("tiny")
    assert not (store.root / "tiny").exists()
    staging = store.root / ".downloads" / "tiny"
    assert not (staging / (UNET + ".part")).exists()  # bad data is not kept for resume
    assert not (staging / UNET).exists()
    # with the server fixed, the next attempt installs a good copy
    hub.faults.clear()
    store.download("tiny", settings=FAST)
    assert (store.path("tiny") / UNET).read_bytes() == files[UNET]


def test_cancel_leaves_resumable_part(hub, tiny):
    store, files = tiny
    path = "tiny/" + UNET
    cancel = CancelToken()

    def on_progress(p):
        if p.file_path == UNET and p.file_done >= 50_000:
            cancel.cancel()

    with pytest.raises(DownloadCancelled):
        store.download("tiny", progress=on_progress, cancel=cancel, settings=FAST)
    assert not store.is_installed("tiny")
    part = store.root / ".downloads" / "tiny" / (UNET + ".part")
    kept = part.stat().st_size
    assert 50_000 <= kept < len(files[UNET])
    assert store.partial_bytes("tiny") >= kept

    store.download("tiny", settings=FAST)
    assert (store.path("tiny") / UNET).read_bytes() == files[UNET]
    assert hub.requests_for(path)[-1].range == f"bytes={kept}-"
    # the file finished before the cancel was not fetched again
    assert len(hub.requests_for("tiny/unet/config.json")) == 1


def test_not_enough_space_is_refused_up_front(hub, tiny, monkeypatch):
    store, _ = tiny
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(NotEnoughSpaceError, match="free"):
        store.download("tiny", settings=FAST)
    assert hub.requests == []  # nothing was requested
    assert not store.is_installed("tiny")


def test_stall_gives_clear_error_and_keeps_partial(hub, tiny):
    store, _ = tiny
    hub.faults["tiny/" + UNET] = Fault(stall_at=30_000, stall_seconds=3.0)
    with pytest.raises(DownloadError, match="stalled"):
        store.download("tiny", settings=FAST)
    assert not store.is_installed("tiny")
    assert not (store.root / "tiny").exists()
    part = store.root / ".downloads" / "tiny" / (UNET + ".part")
    assert part.stat().st_size == 30_000
    # bounded: the first attempt made progress, then 1 + FAST.retries attempts got nothing
    assert len(hub.requests_for("tiny/" + UNET)) == FAST.retries + 2


def test_unreachable_host_gives_clear_message_and_installs_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    port = closed_port()
    entry = {
        "id": "offline",
        "name": "Offline model",
        "kind": "base",
        "description": "Served by nobody.",
        "license": "MIT",
        "enables": "Nothing.",
        "files": [{"path": "model_index.json", "url": f"http://127.0.0.1:{port}/x",
                   "size": 10, "sha256": None, "verify_on_first_download": True}],
    }
    catalog = load_catalog(write_catalog(tmp_path / "catalog.json", [entry]))
    store = ModelStore(tmp_path / "models", catalog)
    with pytest.raises(DownloadError, match=f"Could not reach 127.0.0.1:{port}") as info:
        store.download("offline", settings=FAST)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert not store.is_installed("offline")
    assert not (store.root / "offline").exists()
    assert store.installed() == {}


def test_http_error_is_not_retried_and_is_explained(hub, tiny):
    store, _ = tiny
    hub.faults["tiny/" + UNET] = Fault(status=404)
    with pytest.raises(DownloadError, match="HTTP 404"):
        store.download("tiny", settings=FAST)
    assert len(hub.requests_for("tiny/" + UNET)) == 1


def test_server_errors_are_retried_with_backoff(hub, tmp_path):
    hub.files["g.bin"] = b"x" * 1000
    hub.faults["g.bin"] = Fault(status=503)
    with pytest.raises(DownloadError, match="kept failing"):
        download_file(hub.url("g.bin"), tmp_path / "g.bin", settings=FAST)
    assert len(hub.requests_for("g.bin")) == FAST.retries + 1
    hub.faults.clear()
    download_file(hub.url("g.bin"), tmp_path / "g.bin", settings=FAST)
    assert (tmp_path / "g.bin").read_bytes() == b"x" * 1000


def test_unpinned_file_hash_is_recorded_then_checked(hub, tmp_path):
    files = model_files(seed=3)
    serve(hub, files, prefix="u/")
    catalog = write_catalog(tmp_path / "c.json", [
        catalog_entry("unpinned", hub, files, prefix="u/", unpinned=("tokenizer/vocab.json",),
                      kind="base")])
    store = ModelStore(tmp_path / "models", load_catalog(catalog))
    store.download("unpinned", settings=FAST)
    rec = store.get("unpinned").files["tokenizer/vocab.json"]
    assert rec.checksum == "first_download"
    assert rec.sha256 == hashlib.sha256(files["tokenizer/vocab.json"]).hexdigest()
    (store.path("unpinned") / "tokenizer/vocab.json").write_bytes(b'{"a": 9, "b": 1}')
    report = store.verify("unpinned")[0]
    assert not report.ok and "tokenizer/vocab.json" in report.problems[0]


def test_identical_file_is_reused_not_downloaded_again(hub, tmp_path):
    first = model_files(seed=1)
    second = model_files(seed=2)
    shared = "vae/diffusion_pytorch_model.safetensors"
    second[shared] = first[shared]  # same bytes, same sha256
    serve(hub, first, prefix="a/")
    serve(hub, second, prefix="b/")
    catalog = write_catalog(tmp_path / "c.json", [
        catalog_entry("model-a", hub, first, prefix="a/", kind="base"),
        catalog_entry("model-b", hub, second, prefix="b/", kind="base"),
    ])
    store = ModelStore(tmp_path / "models", load_catalog(catalog))
    store.download("model-a", settings=FAST)
    store.download("model-b", settings=FAST)
    assert hub.requests_for("b/" + shared) == []
    a_file = store.path("model-a") / shared
    b_file = store.path("model-b") / shared
    assert b_file.read_bytes() == first[shared]
    assert a_file.stat().st_ino == b_file.stat().st_ino  # hard link on the same disk
    store.remove("model-a")
    assert b_file.read_bytes() == first[shared]  # removing one keeps the other intact
    assert store.verify("model-b")[0].ok


def test_second_download_of_installed_model_is_a_no_op(hub, tiny):
    store, _ = tiny
    store.download("tiny", settings=FAST)
    count = len(hub.requests)
    store.download("tiny", settings=FAST)
    assert len(hub.requests) == count


def test_stale_partial_larger_than_server_file_restarts(hub, tmp_path):
    data = b"C" * 30_000
    hub.files["h.bin"] = data
    dest = tmp_path / "h.bin"
    (tmp_path / "h.bin.part").write_bytes(b"C" * 40_000)  # longer than the file: 416
    (tmp_path / "h.bin.part.json").write_text(
        json.dumps({"url": hub.url("h.bin"), "validator": hub.etag("h.bin")}))
    download_file(hub.url("h.bin"), dest, settings=FAST)
    assert dest.read_bytes() == data
    assert [r.status for r in hub.requests_for("h.bin")] == [416, 200]


def test_size_mismatch_with_catalogue_is_refused(hub, tmp_path):
    hub.files["s.bin"] = b"D" * 1000
    with pytest.raises(ChecksumError, match="expects 999"):
        download_file(hub.url("s.bin"), tmp_path / "s.bin", expected_size=999, settings=FAST)
    assert not (tmp_path / "s.bin").exists() and not (tmp_path / "s.bin.part").exists()


def test_files_of_linked_imports_are_copied_not_hard_linked(hub, tmp_path):
    files = model_files(seed=7)
    serve(hub, files, prefix="c/")
    catalog = write_catalog(tmp_path / "c.json", [
        catalog_entry("model-c", hub, files, prefix="c/", kind="base")])
    store = ModelStore(tmp_path / "models", load_catalog(catalog))
    users = write_folder(tmp_path / "users-model", files)
    import_model(store, users, link=True)
    store.download("model-c", settings=FAST)
    assert hub.requests_for("c/" + UNET) == []  # reused...
    mine = store.path("model-c") / UNET
    assert mine.stat().st_ino != (users / UNET).stat().st_ino  # ...as a copy
    assert mine.read_bytes() == files[UNET]


def test_same_model_cannot_download_twice_at_once(hub, tiny):
    store, _ = tiny
    lock = store._download_lock("tiny")
    lock.acquire()
    try:
        with pytest.raises(ModelStoreError, match="already being downloaded"):
            store.download("tiny", settings=FAST)
    finally:
        lock.release()
    assert hub.requests == []
    store.download("tiny", settings=FAST)
    assert store.is_installed("tiny")
