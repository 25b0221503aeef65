"""``piggydesk self-test``: load an engine, colorize a bundled sample, check the result.

Used by the command line and by the packaged app (to prove a build works on the user's
machine). Torch-free at import: the engine is loaded through ``engines.registry`` when the
test runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from piggydesk.core.color import rgb_to_lab
from piggydesk.core.hints import Hint, load_hints_file
from piggydesk.core.imaging import load_photo
from piggydesk.core.paths import resources_dir
from piggydesk.engines import registry
from piggydesk.engines.base import ColorizeRequest, Timer

logger = logging.getLogger(__name__)

SAMPLE = "astronaut-gray.jpg"
SAMPLE_HINTS = "astronaut-hints.json"
MAX_LIGHTNESS_ERROR = 0.5  # Lab units: the output keeps the photo's lightness
MIN_MEAN_CHROMA = 2.0  # Lab units: a colorized portrait is not gray


@dataclass
class SelfTestReport:
    engine: str
    sample: Path
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sample_path() -> Path:
    return resources_dir() / "samples" / SAMPLE


def _sample_hints() -> tuple[Hint, ...]:
    path = resources_dir() / "samples" / SAMPLE_HINTS
    return tuple(load_hints_file(path)) if path.exists() else ()


def run_self_test(
    engine: str | None = None,
    device: str = "auto",
    model_path: str | Path | None = None,
    working_size: int | None = None,
) -> SelfTestReport:
    """Colorize the bundled sample with ``engine`` (default: the default engine) and check it.

    Checks: one variant or more, the photo's shape, finite values in [0, 1], lightness kept
    within 0.5 Lab units, and some colour (for engines that need hints, the sample's hints
    are used). Raises ``PhotoError`` / ``EngineUnavailable`` when the test cannot even start.
    """
    name = engine or registry.default_engine_name()
    report = SelfTestReport(engine=name, sample=sample_path())
    info = registry.engine_info(name, model_path)
    photo = load_photo(report.sample)
    hints = _sample_hints() if info.needs_hints else ()
    colorizer = registry.create_engine(name, device=device, model_path=model_path)
    request = ColorizeRequest(
        lightness=photo.lightness,
        hints=hints,
        seed=0,
        num_variants=1,
        steps=10,
        working_size=working_size or info.default_working_size,
    )
    timer = Timer()
    variants = colorizer.colorize(request)
    report.seconds = timer.elapsed()
    report.details.append(
        f"engine {name}, sample {report.sample.name} ({photo.size[1]}x{photo.size[0]}), "
        f"{len(hints)} hints, {report.seconds:.1f} s"
    )
    if not variants:
        report.problems.append("the engine returned no result")
        return report
    rgb = np.asarray(variants[0].rgb)
    if rgb.shape != (*photo.size, 3):
        report.problems.append(f"the result is {rgb.shape}, expected {(*photo.size, 3)}")
        return report
    if not np.isfinite(rgb).all():
        report.problems.append("the result holds values that are not finite (NaN or infinity)")
        return report
    if rgb.min() < 0.0 or rgb.max() > 1.0:
        report.problems.append(f"the result leaves [0, 1] ({rgb.min():.3f}..{rgb.max():.3f})")
    lab = rgb_to_lab(np.clip(rgb, 0.0, 1.0).astype(np.float32))
    error = float(np.abs(lab[..., 0] - photo.lightness).max())
    report.details.append(f"largest lightness change {error:.3f} (limit {MAX_LIGHTNESS_ERROR})")
    if error > MAX_LIGHTNESS_ERROR:
        report.problems.append(
            f"the result changes the photo's lightness by up to {error:.2f} Lab units "
            f"(at most {MAX_LIGHTNESS_ERROR} allowed)"
        )
    chroma = float(np.hypot(lab[..., 1], lab[..., 2]).mean())
    report.details.append(f"mean chroma {chroma:.1f}")
    if chroma < MIN_MEAN_CHROMA:
        report.problems.append(
            f"the result is almost gray (mean chroma {chroma:.2f}, expected at least "
            f"{MIN_MEAN_CHROMA})"
        )
    logger.info("self-test %s: %s; problems: %s", name, report.details, report.problems)
    return report
