"""Downloads against a real local HTTP server: resume, corruption, cancel, space, stall, offline."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import namedtuple

import pytest
from modelstore_helpers import (
    FAST,
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
from piggydesk.modelstore.download import DownloadSettings, download_file
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


# ------------------------------------------------------------------ hostile servers (issue 14)
# Each hostile fault carries ``times``: after that many requests the hub answers 404, so even a
# client that loops forever ends (and the test fails on the request count, not by hanging).


class RecordingToken(CancelToken):
    """A cancel token that records every back-off wait the downloader asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return super().wait(seconds)


def test_server_ignoring_range_and_dropping_gives_up_with_backoff(hub, tmp_path):
    data = b"R" * 200_000
    hub.files["loop.bin"] = data
    hub.faults["loop.bin"] = Fault(drop_at=50_000, drop_times=10**6, ignore_range=True, times=60)
    token = RecordingToken()
    with pytest.raises(DownloadError, match="kept breaking"):
        download_file(hub.url("loop.bin"), tmp_path / "loop.bin",
                      sha256=hashlib.sha256(data).hexdigest(), settings=FAST, cancel=token)
    # the first attempt reached byte 50,000; every later one restarted from 0 and dropped at
    # the same place: no byte beyond the best offset, so they count as failures
    requests = hub.requests_for("loop.bin")
    assert len(requests) == 1 + FAST.retries + 1
    assert all(r.status == 200 for r in requests)
    assert len(token.waits) == FAST.retries + 1  # every failed attempt waited...
    assert all(w >= FAST.backoff for w in token.waits)
    assert token.waits == sorted(token.waits)  # ...longer and longer
    assert (tmp_path / "loop.bin.part").stat().st_size == 50_000  # kept for a later resume


def test_attempts_are_capped_even_when_each_one_progresses(hub, tmp_path):
    data = bytes(range(256)) * 400  # 102,400 bytes; the hub drops every 1,000 bytes
    hub.files["slow.bin"] = data

    settings = DownloadSettings(**{**FAST.__dict__, "max_attempts": 5})
    fault = Fault(times=50)
    hub.faults["slow.bin"] = fault
    offsets = iter(range(1_000, 200_000, 1_000))

    def next_drop() -> None:  # each request drops 1,000 bytes further: always progress
        fault.drop_at, fault.drop_times = next(offsets), 1

    original = hub._handle

    def handle(h):
        next_drop()
        original(h)

    hub._handle = handle
    with pytest.raises(DownloadError):
        download_file(hub.url("slow.bin"), tmp_path / "slow.bin", settings=settings)
    assert len(hub.requests_for("slow.bin")) == 5


def test_approximate_size_with_huge_content_length_is_refused(hub, tmp_path):
    hub.files["big.bin"] = b"Z" * 5_000
    hub.faults["big.bin"] = Fault(claim_length=10**12, times=60)  # claims 1 TB, drops early
    with pytest.raises(ChecksumError, match="far more than"):
        download_file(hub.url("big.bin"), tmp_path / "big.bin", expected_size=4_000,
                      size_exact=False, settings=FAST)
    assert len(hub.requests_for("big.bin")) == 1
    assert not (tmp_path / "big.bin.part").exists()


def test_approximate_size_caps_the_bytes_accepted(hub, tmp_path):
    size = 1000
    limit = 2 * size + (1 << 20)
    hub.files["flood.bin"] = b"F" * (3 << 20)  # no Content-Length: 3 MiB until the server closes
    hub.faults["flood.bin"] = Fault(no_length=True, times=60)
    with pytest.raises(ChecksumError, match="more data"):
        download_file(hub.url("flood.bin"), tmp_path / "flood.bin", expected_size=size,
                      size_exact=False, settings=FAST)
    assert len(hub.requests_for("flood.bin")) == 1
    assert not (tmp_path / "flood.bin.part").exists() and not (tmp_path / "flood.bin").exists()
    # within the allowance, an approximate size is not a reason to refuse
    hub.files["near.bin"] = b"N" * 1500
    hub.faults["near.bin"] = Fault(no_length=True)
    download_file(hub.url("near.bin"), tmp_path / "near.bin", expected_size=size,
                  size_exact=False, settings=FAST)
    assert (tmp_path / "near.bin").stat().st_size == 1500 < limit


def test_redirect_to_an_unlisted_host_is_refused(hub, tmp_path):
    hub.files["real.bin"] = b"S" * 3000
    elsewhere = hub.url("real.bin").replace("127.0.0.1", "localhost")  # another host name
    hub.faults["moved.bin"] = Fault(redirect=elsewhere, times=60)
    with pytest.raises(DownloadError, match="localhost.*does not list"):
        download_file(hub.url("moved.bin"), tmp_path / "moved.bin", settings=FAST)
    assert hub.requests_for("real.bin") == []  # nothing was fetched from the other host
    assert len(hub.requests_for("moved.bin")) == 1  # and it was not retried
    assert not (tmp_path / "moved.bin").exists()


def test_redirect_to_a_catalogue_host_is_followed(hub, tmp_path):
    data = b"T" * 3000
    hub.files["real.bin"] = data
    hub.faults["moved.bin"] = Fault(redirect=hub.url("real.bin").replace("127.0.0.1", "localhost"))
    hub.faults["same.bin"] = Fault(redirect="/real.bin")  # the same host: always allowed
    download_file(hub.url("moved.bin"), tmp_path / "moved.bin", settings=FAST,
                  allowed_hosts=("localhost",), sha256=hashlib.sha256(data).hexdigest())
    download_file(hub.url("same.bin"), tmp_path / "same.bin", settings=FAST)
    assert (tmp_path / "moved.bin").read_bytes() == data == (tmp_path / "same.bin").read_bytes()


def test_endless_redirects_are_refused(hub, tmp_path):
    hub.faults["a.bin"] = Fault(redirect="/b.bin", times=60)
    hub.faults["b.bin"] = Fault(redirect="/a.bin", times=60)
    with pytest.raises(DownloadError, match="more than 10 times"):
        download_file(hub.url("a.bin"), tmp_path / "a.bin", settings=FAST)
    assert len(hub.requests) == 11


def test_catalogue_redirect_hosts_reach_the_downloader(hub, tmp_path):
    files = model_files(seed=5)
    for rel, data in files.items():
        hub.files["store/" + rel] = data
        hub.faults["tiny/" + rel] = Fault(
            redirect=hub.url("store/" + rel).replace("127.0.0.1", "localhost"))
    entry = catalog_entry("moved", hub, files, prefix="tiny/", kind="base")
    path = write_catalog(tmp_path / "catalog.json", [entry])
    data = json.loads(path.read_text())
    store = ModelStore(tmp_path / "models", load_catalog(path))
    with pytest.raises(DownloadError, match="does not list"):
        store.download("moved", settings=FAST)
    data["redirect_hosts"] = ["localhost"]
    path.write_text(json.dumps(data))
    store = ModelStore(tmp_path / "models", load_catalog(path))
    store.download("moved", settings=FAST)
    assert read_tree(store.path("moved")) == files

