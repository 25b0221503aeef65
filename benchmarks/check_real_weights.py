"""Check the diffusion engine on the real public weights (run by hand, once they are at hand).

Colorizes the bundled sample photos (``resources/samples/*-gray.jpg``, with their hints files
where there are some) in every mode the installed models allow and writes a contact sheet:
one row per photo, one column per mode, the instant engine's result and the original colour
photo (where shipped) beside them, each tile labelled with the mode in words and its time.

Modes tried (each only when its models are there):

* ``instant``: the instant engine (the start colours of the refinements);
* ``sdedit``: SDEdit refinement of the instant colours, the base alone (freedom 0.6);
* ``controlnet``: the ControlNet guider from noise (freedom 1);
* ``controlnet-refine``: the ControlNet guider refining the instant colours (freedom 0.6);
* ``controlnet-lcm`` / ``controlnet-hyper``: the same with LCM-LoRA (4 steps) / Hyper-SD (8);
* ``paper``: a bundle with the paper's trained guider (``--bundle``), from noise.

Usage (after ``piggydesk models download sd15 controlnet-brightness-sd15 lcm-lora-sd15
hyper-sd15-8steps-cfg``, or with folders of your own)::

    python benchmarks/check_real_weights.py -o sheet.png [--models-dir DIR] [--base DIR]
        [--controlnet DIR] [--lcm DIR] [--hyper DIR] [--bundle DIR] [--steps 20]
        [--prompt "an old photo"] [--samples astronaut chelsea] [--size 512]

Each result keeps the photo's own lightness (core.recombine); the sheet shows them at 256 px.
The script prints one line per tile and the mean a*/b* chroma, a quick sign that colour came
out at all.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TILE = 256


def _samples(names: list[str] | None) -> list[tuple[str, Path, Path | None, Path | None]]:
    folder = ROOT / "resources" / "samples"
    found = []
    for gray in sorted(folder.glob("*-gray.jpg")):
        name = gray.name.removesuffix("-gray.jpg")
        if names and name not in names:
            continue
        hints = folder / f"{name}-hints.json"
        colour = folder / f"{name}-color.jpg"
        found.append((name, gray, hints if hints.is_file() else None,
                      colour if colour.is_file() else None))
    return found


def _modes(args, root: Path) -> list[tuple[str, dict]]:
    """``(key, how)`` for every mode the models allow; ``how`` says what to load and run."""
    from piggydesk.engines.piggyback import find_controlnet
    from piggydesk.pipelines.fast import HYPER_SD_8, LCM_LORA

    base = Path(args.base) if args.base else next(
        (root / n for n in ("sd15", "minisd") if (root / n / "model_index.json").is_file()), None)
    controlnet = Path(args.controlnet) if args.controlnet else find_controlnet(root)
    lcm = Path(args.lcm) if args.lcm else root / LCM_LORA.id
    hyper = Path(args.hyper) if args.hyper else root / HYPER_SD_8.id
    modes: list[tuple[str, dict]] = [("instant", {})]
    if base is not None:
        modes.append(("sdedit", dict(model=base, freedom=0.6)))
        if controlnet is not None:
            cn = dict(model=base, controlnet=controlnet)
            modes.append(("controlnet", dict(cn, freedom=1.0)))
            modes.append(("controlnet-refine", dict(cn, freedom=0.6)))
            if (lcm / LCM_LORA.weight_name).is_file():
                modes.append(("controlnet-lcm", dict(cn, freedom=0.6, fast=(LCM_LORA, lcm))))
            if (hyper / HYPER_SD_8.weight_name).is_file():
                modes.append(("controlnet-hyper", dict(cn, freedom=0.6, fast=(HYPER_SD_8, hyper))))
    if args.bundle:
        modes.append(("paper", dict(model=Path(args.bundle), freedom=1.0)))
    return modes


def _tile(rgb, label: str):
    import numpy as np
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8))
    image.thumbnail((TILE, TILE))
    tile = Image.new("RGB", (TILE, TILE + 30), "white")
    tile.paste(image, ((TILE - image.width) // 2, 0))
    draw = ImageDraw.Draw(tile)
    for i, line in enumerate((label[:42], label[42:84])):
        draw.text((4, TILE + 2 + 13 * i), line, fill="black")
    return tile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, help="contact sheet (.png)")
    parser.add_argument("--models-dir", default=None, help="the models folder (default: the app's)")
    parser.add_argument("--base", default=None, help="SD 1.x folder (default: installed sd15)")
    parser.add_argument("--controlnet", default=None, help="ControlNet folder")
    parser.add_argument("--lcm", default=None, help="LCM-LoRA folder")
    parser.add_argument("--hyper", default=None, help="Hyper-SD LoRA folder")
    parser.add_argument("--bundle", default=None, help="a bundle with a trained paper guider")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--prompt", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=512, help="instant engine working size")
    parser.add_argument("--samples", nargs="*", default=None, help="sample names (default all)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import numpy as np
    from PIL import Image

    from piggydesk.core.color import rgb_to_lab
    from piggydesk.core.hints import load_hints_file
    from piggydesk.core.imaging import load_photo
    from piggydesk.core.paths import models_dir
    from piggydesk.engines import instant
    from piggydesk.engines.base import ColorizeRequest
    from piggydesk.engines.device import pick_device
    from piggydesk.engines.piggyback import PiggybackColorizer, choose_dtype
    from piggydesk.pipelines.bundle import load_bundle

    root = Path(args.models_dir) if args.models_dir else models_dir()
    samples = _samples(args.samples)
    modes = _modes(args, root)
    print(f"{len(samples)} samples, modes: {', '.join(k for k, _ in modes)}")
    device = pick_device(args.device).name
    dtype = choose_dtype(device)
    instant_engine = instant.create(device)
    rows: list[list] = [[] for _ in samples]
    for key, how in modes:
        engine = None
        if key != "instant":
            t = time.perf_counter()
            pipe = load_bundle(how["model"], device=device, dtype=dtype, verify=False,
                               controlnet_dir=how.get("controlnet"), fast=how.get("fast"))
            engine = PiggybackColorizer(pipe, device, how["model"], dtype=dtype,
                                        controlnet=how.get("controlnet"),
                                        fast_lora=how.get("fast"), instant=instant_engine)
            print(f"{key}: loaded in {time.perf_counter() - t:.1f} s")
        for row, (name, gray, hints_file, _colour) in zip(rows, samples):
            photo = load_photo(gray)
            hints = tuple(load_hints_file(hints_file)) if hints_file else ()
            options = {"freedom": how["freedom"]} if "freedom" in how else {}
            if how.get("fast"):
                options["fast"] = True
            request = ColorizeRequest(photo.lightness, hints=hints, seed=args.seed,
                                      steps=args.steps, prompt=args.prompt,
                                      working_size=args.size, options=options)
            t = time.perf_counter()
            variant = (engine or instant_engine).colorize(request)[0]
            seconds = time.perf_counter() - t
            mode = variant.settings.mode or key
            chroma = float(np.hypot(*rgb_to_lab(variant.rgb)[..., 1:].transpose(2, 0, 1)).mean())
            print(f"  {name}: {mode}, {seconds:.1f} s, mean chroma {chroma:.1f}")
            row.append(_tile(variant.rgb, f"{mode} ({seconds:.0f} s)"))
        del engine
    for row, (_name, _gray, _hints, colour) in zip(rows, samples):
        if colour is not None:
            original = np.asarray(Image.open(colour).convert("RGB"), dtype=np.float32) / 255
            row.append(_tile(original, "original colour photo"))
    width = max(len(r) for r in rows) * TILE
    sheet = Image.new("RGB", (width, len(rows) * (TILE + 30)), "white")
    for y, row in enumerate(rows):
        for x, tile in enumerate(row):
            sheet.paste(tile, (x * TILE, y * (TILE + 30)))
    sheet.save(args.output)
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
