"""The ``piggydesk`` command: colorize photos from a terminal, run the self-test, manage models.

``piggydesk`` alone (or with just a photo's path) opens the desktop app. Subcommands:
``colorize``, ``batch``, ``self-test``, ``gui`` and ``models`` (when the model store is
installed). Each subcommand's handler is ``func(args) -> int``.

Exit codes: 0 success; 2 bad arguments or input (unreadable photo, unknown engine, file
exists...); 1 internal error. Errors are one line on stderr; tracebacks go to the log file.
Torch is never imported here: engines are loaded lazily through ``engines.registry``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from piggydesk import __version__, cli_repair
from piggydesk.batch_progress import BatchProgress
from piggydesk.cli_args import number, whole_number
from piggydesk.core import process_env
from piggydesk.core.batch import PHOTO_SUFFIXES, find_photos, plan_outputs, variant_paths
from piggydesk.core.bounds import check_memory
from piggydesk.core.errors import PhotoError
from piggydesk.core.export import FORMATS, export_image
from piggydesk.core.hints import Hint, load_hints_file, parse_hint_arg
from piggydesk.core.imaging import Photo, load_photo
from piggydesk.core.paths import same_file
from piggydesk.core.run_settings import DEFAULTS, MAX_VARIANTS, RunSettings
from piggydesk.engines import registry
from piggydesk.engines.base import (
    Cancelled,
    Colorizer,
    ColorizeRequest,
    EngineInfo,
    EngineUnavailable,
    Variant,
    variant_notes,
)
from piggydesk.engines.device import DEVICE_CHOICES
from piggydesk.logging_setup import log_file, setup_logging

logger = logging.getLogger(__name__)

PROG = "piggydesk"
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
INPUT_SUFFIXES = PHOTO_SUFFIXES


class UsageError(Exception):
    """Bad command-line arguments (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``piggydesk colorize: error: ... (see --help)``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


# ----------------------------------------------------------------------------- arguments


def _hint_arg(text: str) -> Hint:
    try:
        return parse_hint_arg(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be 1 or more")
    return value


def _variant_count(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_VARIANTS:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_VARIANTS} variants a run (the desktop app's limit too), not {value}")
    return value


def _working_size(text: str) -> int:
    value = _positive_int(text)
    if not 64 <= value <= 2048:
        raise argparse.ArgumentTypeError(f"the working size must be 64 to 2048 pixels, not {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must not be negative")
    return value


def _unit_float(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be between 0 and 1")
    return value


def _seed(text: str) -> int:
    value = whole_number(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"the seed must be between 0 and {2**32 - 1}")
    return value


def _add_bit_depth(options: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--bit-depth``, as colorize, batch and repair take it."""
    options.add_argument(
        "--bit-depth",
        type=int,
        choices=(8, 16),
        default=None,
        help="8 or 16 bits per channel (default: the input's; JPEG is always 8)",
    )


def _engine_options() -> argparse.ArgumentParser:
    """Options shared by ``colorize`` and ``batch``."""
    common = _Parser(add_help=False)
    g = common.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=registry.ENGINE_NAMES,
        default=None,
        help="instant, piggyback or classic (default: the default engine, instant when its "
        "model is installed)",
    )
    g.add_argument("--model", metavar="PATH", default=None, help="model file or folder to use")
    g.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="where to compute (default auto: CUDA, then Apple MPS, then CPU)",
    )
    g.add_argument(
        "--size",
        type=_working_size,
        default=None,
        metavar="N",
        help="working size: the long side the engine works at (default: the engine's own, "
        "512 for classic); the result always has the photo's full size",
    )
    h = common.add_argument_group("hints and prompt")
    h.add_argument(
        "--hint",
        action="append",
        type=_hint_arg,
        default=[],
        metavar="X,Y,#RRGGBB",
        help="a colour hint at pixel X,Y of the input photo, before any turn or crop (they move "
        "with the photo; optionally X,Y,#RRGGBB,RADIUS); repeatable",
    )
    h.add_argument(
        "--hints",
        metavar="FILE.json",
        default=None,
        help='hints file: {"hints": [{"x": .., "y": .., "color": "#rrggbb", "radius": 2}, ...]}, '
        "positions in the input photo's pixels like --hint",
    )
    h.add_argument("--prompt", default="", help="describe the photo (piggyback engine)")
    h.add_argument("--negative-prompt", default="", help="what to avoid (piggyback engine)")
    s = common.add_argument_group("sampling")
    s.add_argument(
        "--seed",
        type=_seed,
        default=DEFAULTS.seed,
        help=f"random seed (default {DEFAULTS.seed}). instant: variant 1 is always the most "
        "likely colorization, the same for every seed; the seed changes variants 2 and up "
        "(use --variants). piggyback: every variant depends on it. classic: no randomness",
    )
    s.add_argument(
        "--variants",
        type=_variant_count,
        default=DEFAULTS.num_variants,
        metavar="N",
        help="number of variants; N > 1 writes photo-1.png ... photo-N.png (instant: "
        "photo-1 is the most likely colorization, the others recolour a few regions)",
    )
    s.add_argument(
        "--steps",
        type=_positive_int,
        default=DEFAULTS.steps,
        help=f"diffusion steps (default {DEFAULTS.steps})",
    )
    s.add_argument(
        "--guidance",
        type=_non_negative_float,
        default=DEFAULTS.guidance_scale,
        metavar="F",
        help=f"classifier-free guidance scale (default {DEFAULTS.guidance_scale:g})",
    )
    v = common.add_argument_group("colour (instant engine)")
    v.add_argument(
        "--vividness",
        type=_unit_float,
        default=None,
        metavar="F",
        help="how saturated the automatic colours are, 0 to 1: 0 muted colours that are right "
        "on average, 1 the network's boldest guesses (default: the model's, 0.5)",
    )
    d = common.add_argument_group("diffusion (piggyback engine)")
    d.add_argument(
        "--freedom",
        type=_unit_float,
        default=None,
        metavar="F",
        help="how far the result may move from the instant engine's colours, 0 to 1: the run "
        "starts from them noised to F (default 0.6; 1 starts from noise, the default with a "
        "trained paper guider; 0 returns the instant colours)",
    )
    d.add_argument(
        "--fast",
        action="store_true",
        help="few-step sampling with an installed LCM-LoRA (4 steps) or Hyper-SD LoRA (8 "
        "steps); sets the steps and guidance those LoRAs were made for",
    )
    d.add_argument(
        "--controlnet-scale",
        type=_non_negative_float,
        default=None,
        metavar="F",
        help="how strongly an installed ControlNet colorizer steers (default 1; 0 turns it off)",
    )
    o = common.add_argument_group("output")
    o.add_argument("--overwrite", action="store_true", help="replace existing output files")
    _add_bit_depth(o)
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="PiggyDesk: bring old family photos back to colour. Run without a command "
        "(or with just a photo) to open the desktop app.",
        epilog=f"Log file: {log_file()}",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also print the log to the terminal"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _engine_options()
    repair = cli_repair.repair_options()

    p = sub.add_parser(
        "colorize",
        parents=[common, repair],
        help="colorize one photo",
        description="Colorize one photo and write the result (format from OUTPUT's extension: "
        ".png, .tif/.tiff or .jpg/.jpeg). Each command loads the engine anew (a few seconds "
        "with torch): for many photos, 'piggydesk batch' loads it once.",
    )
    p.add_argument("input", metavar="INPUT", help="the photo to colorize")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="where to write")
    p.set_defaults(func=cmd_colorize)

    p = sub.add_parser(
        "batch",
        parents=[common, repair],
        help="colorize every photo in a folder",
        description="Colorize every photo in INPUT_DIR into OUTPUT_DIR. A file that fails is "
        "skipped and listed at the end; the batch goes on.",
    )
    p.add_argument("input_dir", metavar="INPUT_DIR", help="folder of photos")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT_DIR", help="result folder")
    p.add_argument(
        "--format",
        choices=("png", "tif", "jpg"),
        default="png",
        help="file format of the results (default png)",
    )
    p.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave photos whose results already exist alone (to finish an interrupted batch)",
    )
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser(
        "self-test",
        help="check that colorization works on this computer",
        description="Load an engine, colorize a bundled sample photo and check the result.",
    )
    p.add_argument(
        "--engine",
        choices=registry.ENGINE_NAMES,
        default=None,
        help="engine to test (default: the default engine)",
    )
    p.add_argument("--model", metavar="PATH", default=None, help="model file or folder")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.set_defaults(func=cmd_self_test)

    p = sub.add_parser("gui", help="open the desktop app", description="Open the desktop app.")
    p.add_argument("path", nargs="?", help="a photo or .piggy project to open")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser(
        "repair",
        parents=[repair],
        help="repair a scan: dust, scratches, tears, tone, crop, rotation",
        description="Repair one scan without colorizing it and write the result: geometry "
        "(--rotate, --flip, --straighten, --crop), then dust and scratches (--auto-dust, "
        "--mask), then tone (--levels, --local-contrast, --remove-cast). The same options "
        "work on colorize and batch, which repair each photo before colorizing it.",
    )
    p.add_argument("input", metavar="INPUT", help="the scan to repair")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="where to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_bit_depth(p)
    p.set_defaults(func=cmd_repair)

    _add_models_commands(sub)
    return parser


def _add_models_commands(sub: argparse._SubParsersAction) -> None:
    try:
        from piggydesk.modelstore import commands
    except ImportError as exc:  # a build without the model store
        logger.warning("The models commands are unavailable: %s", exc)
        return
    commands.add_models_parser(sub)


# ----------------------------------------------------------------------------- commands


def collect_hints(args: argparse.Namespace) -> list[Hint]:
    hints = list(load_hints_file(args.hints)) if args.hints else []
    return hints + list(args.hint)


def check_hints_fit(hints: Sequence[Hint], photo: Photo) -> None:
    height, width = photo.size
    for hint in hints:
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise PhotoError(
                f"The hint at ({hint.x:g}, {hint.y:g}) lies outside the photo "
                f"{photo.name} ({width}x{height} pixels)."
            )


output_paths = variant_paths


def _check_output(
    paths: Sequence[Path], overwrite: bool, source: Path | None = None, *, batch: bool = False
) -> None:
    """Refuse outputs that cannot or must not be written, before any work is done."""
    for path in paths:
        if path.suffix.lower() not in FORMATS:
            raise PhotoError(
                f"PiggyDesk can write .png, .tif/.tiff and .jpg/.jpeg files, not "
                f"'{path.suffix or path.name}'."
            )
        if path.is_dir():
            raise PhotoError(f"{path} is a folder; give the output a file name.")
        if source is not None and same_file(path, source):
            raise PhotoError(
                f"{path} is the photo being worked on; PiggyDesk never writes over an "
                "original. Choose another output name."
            )
        if path.exists() and not overwrite:
            hint = " (or --skip-existing to leave it)" if batch else ""
            raise PhotoError(f"{path} already exists; add --overwrite to replace it{hint}.")
        if not path.parent.is_dir():
            raise PhotoError(f"The folder {path.parent} does not exist.")


def settings_from_args(
    args: argparse.Namespace, engine: str, hints: Sequence[Hint], info: EngineInfo
) -> RunSettings:
    """The run settings the command line asks for (``RunSettings``'s defaults otherwise)."""
    return RunSettings(
        engine=engine,
        seed=args.seed,
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        hints=tuple(hints),
        steps=args.steps,
        guidance_scale=args.guidance,
        working_size=args.size or info.default_working_size,
        num_variants=args.variants,
        options=engine_options(args),
    )


def engine_options(args: argparse.Namespace) -> dict:
    """The engine options the command line sets (``RunSettings.options``): the instant
    engine's vividness, the piggyback engine's freedom, fast sampling and ControlNet scale."""
    options: dict = {}
    if getattr(args, "vividness", None) is not None:
        options["vividness"] = args.vividness
    if getattr(args, "freedom", None) is not None:
        options["freedom"] = args.freedom
    if getattr(args, "fast", False):
        options["fast"] = True
    if getattr(args, "controlnet_scale", None) is not None:
        options["conditioning_scale"] = args.controlnet_scale
    return options


class _Session:
    """One engine, loaded once, and the request settings from the command line."""

    def __init__(self, args: argparse.Namespace, hints: Sequence[Hint] | None = None) -> None:
        self.args = args
        self.hints = list(hints) if hints is not None else collect_hints(args)
        self.name = args.engine or registry.default_engine_name()
        self.info: EngineInfo = registry.engine_info(self.name, args.model)
        if not self.info.available:
            raise EngineUnavailable(
                f"The {self.info.display_name} engine cannot run: {self.info.reason}"
            )
        self.settings = settings_from_args(args, self.name, self.hints, self.info)
        self._engine: Colorizer | None = None

    @property
    def engine(self) -> Colorizer:
        if self._engine is None:
            self._engine = registry.create_engine(self.name, self.args.device, self.args.model)
        return self._engine

    def colorize(self, photo: Photo, hints: Sequence[Hint] | None = None) -> list[Variant]:
        """Colorize ``photo``; ``hints`` (in its pixels) replace the session's when given."""
        settings = self.settings
        if hints is not None:
            settings = settings.with_values(hints=tuple(hints))
        check_hints_fit(settings.hints, photo)
        return self.engine.colorize(ColorizeRequest(photo.lightness, settings))

    def write(self, photo: Photo, variants: Sequence[Variant], paths: Sequence[Path]) -> None:
        bit_depth = self.args.bit_depth or photo.bit_depth
        for variant, path in zip(variants, paths):
            export_image(
                variant.rgb,
                path,
                bit_depth=bit_depth,
                overwrite=self.args.overwrite,
                icc_profile=photo.icc_profile,
                exif=photo.exif,
                source_path=photo.path,
            )


COLORIZE_BYTES_PER_PIXEL = 12
"""Memory of colorizing and exporting, per pixel, besides each variant's 12 (float32 RGB)."""


def prepare_photo(photo: Photo, variants: int) -> Photo:
    """The photo as the command line needs it: the lightness only, and room to colorize it.

    The pixels themselves are never used here (the engines read the lightness, the export
    takes the result), so they are dropped; a photo too large for the free memory is refused
    in one sentence before any work instead of the system killing the process.
    """
    height, width = photo.size
    check_memory(
        height * width * (COLORIZE_BYTES_PER_PIXEL + 12 * variants),
        f"Colorizing {photo.name} ({width}x{height}, {variants} variant(s))",
    )
    return photo.lightness_only()


def _notes(photo: Photo, variants: Sequence[Variant]) -> list[str]:
    """What the user should hear about a photo and its results (first frame used, ...)."""
    return list(dict.fromkeys([*photo.notes, *variant_notes(variants)]))


def cmd_colorize(args: argparse.Namespace) -> int:
    output = Path(args.output)
    paths = output_paths(output, args.variants)
    # everything that can be refused is refused before the engine (and torch) loads
    _check_output(paths, args.overwrite, Path(args.input))
    cli_repair.check_mask_arg(args)
    hints = collect_hints(args)
    photo = load_photo(args.input)
    check_hints_fit(hints, photo)
    photo, hints, repair_notes = cli_repair.prepare(photo, args, hints)
    photo = prepare_photo(photo, args.variants)
    session = _Session(args, hints)
    variants = session.colorize(photo)
    written = paths[: len(variants)]
    session.write(photo, variants, written)
    for message in [*repair_notes, *_notes(photo, variants)]:
        print(f"Note: {message}")
    seconds = sum(v.seconds for v in variants)
    mode = variants[0].settings.mode if variants else ""  # e.g. "ControlNet guider, ..."
    how = f"{session.name} engine, {mode}" if mode else f"{session.name} engine"
    for path in written:
        print(f"Wrote {path} ({how}, {seconds:.1f} s)")
    return EXIT_OK


def cmd_repair(args: argparse.Namespace) -> int:
    output = Path(args.output)
    _check_output([output], args.overwrite, Path(args.input))
    cli_repair.check_mask_arg(args)
    photo = load_photo(args.input)
    start = time.perf_counter()
    repaired, _, notes = cli_repair.prepare(photo, args)
    export_image(
        repaired.rgb,
        output,
        bit_depth=args.bit_depth or photo.bit_depth,
        overwrite=args.overwrite,
        icc_profile=photo.icc_profile,
        exif=photo.exif,
        source_path=photo.path,
    )
    for message in [*photo.notes, *notes]:
        print(f"Note: {message}")
    what = cli_repair.describe(cli_repair.settings_from_args(args), bool(args.mask))
    print(f"Wrote {output} ({what}, {time.perf_counter() - start:.1f} s)")
    return EXIT_OK


list_photos = find_photos


def cmd_batch(args: argparse.Namespace) -> int:
    in_dir, out_dir = Path(args.input_dir), Path(args.output)
    if not in_dir.is_dir():
        raise PhotoError(f"The folder {in_dir} does not exist.")
    photos = list_photos(in_dir)
    if not photos:
        raise PhotoError(
            f"There are no photos in {in_dir} (looked for {', '.join(INPUT_SUFFIXES)})."
        )
    if args.skip_existing and args.overwrite:
        raise UsageError(f"{PROG} batch: use --overwrite or --skip-existing, not both")
    if out_dir.exists() and not out_dir.is_dir():
        raise PhotoError(f"{out_dir} is a file, not a folder; choose a folder for the results.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PhotoError(f"The folder {out_dir} could not be created ({exc}).") from None
    plan = plan_outputs(photos, out_dir, f".{args.format}", variants=args.variants)
    hints = collect_hints(args)  # a bad hints file is refused before the engine loads
    cli_repair.check_mask_arg(args, batch=True)
    skipped = [s for s in photos if args.skip_existing and all(p.exists() for p in plan[s])]
    todo = [s for s in photos if s not in skipped]
    session = _Session(args, hints) if todo else None
    failures: list[tuple[Path, str]] = []
    notes: list[str] = []
    done = 0
    progress = BatchProgress(len(todo), sys.stderr)  # a bar on a terminal, else a line each
    for source in progress.track(todo, name=lambda path: path.name):
        try:
            paths = plan[source]
            _check_output(paths, args.overwrite, source, batch=True)
            photo = load_photo(source)
            assert session is not None
            photo, photo_hints, repair_notes = cli_repair.prepare(photo, args, hints, batch=True)
            photo = prepare_photo(photo, args.variants)
            variants = session.colorize(photo, photo_hints)
            session.write(photo, variants, paths[: len(variants)])
            notes.extend(m for m in [*repair_notes, *_notes(photo, variants)] if m not in notes)
            done += 1
        except (Cancelled, KeyboardInterrupt):
            raise
        except EngineUnavailable:
            raise  # the engine cannot run at all: no point trying the next photo
        except PhotoError as exc:
            logger.info("batch: skipping %s: %s", source, exc)
            failures.append((source, str(exc)))
            progress.failed()
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
            logger.exception("batch: %s failed", source)
            failures.append((source, f"internal error: {exc}"))
            progress.failed()
    for message in notes:
        print(f"Note: {message}")
    renamed = [
        (s, plan[s][0]) for s in photos
        if plan[s] != variant_paths(out_dir / f"{s.stem}.{args.format}", args.variants)
    ]
    for source, path in renamed:
        print(f"Note: {source.name} shares its name with another photo; its result is {path.name}.")
    already = f" ({len(skipped)} already done, left as they were)" if skipped else ""
    print(f"Colorized {done} of {len(photos)} photos into {out_dir}{already}.")
    if failures:
        print(f"Failed {len(failures)}:")
        for source, reason in failures:
            print(f"  {source.name}: {_one_line(reason)}")
        print(f"{PROG} batch: {len(failures)} of {len(photos)} photos failed.", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def cmd_self_test(args: argparse.Namespace) -> int:
    from piggydesk.selftest import run_self_test

    report = run_self_test(engine=args.engine, device=args.device, model_path=args.model)
    for line in report.details:
        print(line)
    if report.ok:
        print(f"Self-test passed ({report.engine} engine).")
        return EXIT_OK
    for problem in report.problems:
        print(f"Problem: {problem}")
    print(
        f"{PROG} self-test: the {report.engine} engine failed: {report.problems[0]}",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def cmd_gui(args: argparse.Namespace) -> int:
    return open_gui([args.path] if args.path else [])


def _gui_app() -> ModuleType:
    """The desktop app's module, imported only when the GUI opens (the CLI never imports Qt;
    import-linter's "only ui imports Qt" contract lists this one edge as deferred)."""
    from piggydesk.ui import app

    return app


def open_gui(argv: Sequence[str]) -> int:
    """Start the desktop app."""
    try:
        app = _gui_app()
    except ImportError as exc:
        logger.exception("The desktop app could not be imported")
        print(
            f"{PROG}: the desktop app is not available here ({_one_line(str(exc))}); the "
            "command-line tools still work (see 'piggydesk --help').",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return int(app.main(list(argv)) or 0)


# ----------------------------------------------------------------------------- entry point


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"


def _wants_gui(argv: Sequence[str], commands: Sequence[str]) -> bool:
    """No arguments, or just a photo or project (an existing file or a known file type)."""
    if not argv:
        return True
    if len(argv) != 1 or argv[0].startswith("-") or argv[0] in commands:
        return False
    path = Path(argv[0])
    return path.is_file() or path.suffix.lower() in (*INPUT_SUFFIXES, ".piggy")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    process_env.prepare()  # before any engine (torch) is imported
    log = setup_logging(console="-v" in argv or "--verbose" in argv)
    logger.info("piggydesk %s: %s", __version__, argv)
    where = f" (details in {log})" if log else ""
    try:
        parser = build_parser()
        commands = list(_subcommand_names(parser))
        if _wants_gui(argv, commands):
            return open_gui(argv)
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return EXIT_OK
        return int(args.func(args))
    except UsageError as exc:
        print(_one_line(str(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (PhotoError, EngineUnavailable) as exc:
        logger.info("refused: %s", exc)
        print(f"{PROG}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (Cancelled, KeyboardInterrupt):
        print(f"{PROG}: cancelled.", file=sys.stderr)
        return 130
    except SystemExit as exc:  # --help and --version exit through argparse
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the one place internal errors become one line
        logger.exception("internal error")
        print(f"{PROG}: internal error: {_one_line(str(exc))}{where}", file=sys.stderr)
        return EXIT_INTERNAL


def _subcommand_names(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []
