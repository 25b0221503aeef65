"""The instant engine: PiggyDesk's own small hint-aware colorization network (the default).

The network (``models.instant_net``, in the spirit of Zhang et al. 2017, "Real-Time User-Guided
Image Colorization with Learned Deep Priors") runs on the lightness at a small size
(``net_long_side`` in the model's config.json, e.g. 256 px) with the hints rasterised at that
size; its chroma is brought to the working size and recombined with the full-resolution
lightness by ``core.recombine``. It also predicts a distribution over quantised ab bins per
pixel, which gives

* the "most likely" colour when ``output`` is ``annealed`` (annealed mean, Zhang et al. 2016
  Eq. 5, at ``temperature``) or ``mix`` (``mix_weight`` x annealed mean + the rest x
  regression, 0.5 unless config.json says otherwise); ``regression`` uses the regression head
  only. A run's ``vividness`` option (0 to 1) sets that share of the annealed mean for the
  run: 0 the regression head's muted, closest-on-average colours, 1 the annealed mean's
  saturated ones (the same network; measured in benchmarks/RESULTS.md);
* **suggested colours** at a point (``suggest_colors``): the k most probable bins there;
* **variants** (``instant_variants``): variant 1 is the most likely colorization; each further
  variant recolours a few whole objects with another colour the network finds plausible
  (another coat, another car, another sky), never a person's face, skin or hair. Same seed,
  same variants.

With hints, unless config.json says ``"hint_spread": null``, the hints also spread edge-aware
over the network's automatic colours (``instant_hints``: Levin et al.'s optimisation of the
hints' differences to the automatic colours, its affinities cut where those colours change,
blended with the network's own hinted colours). Measured against the classic engine on
validation photos (benchmarks/RESULTS.md).

A small cache keeps the resized lightness and the last network outputs, so a re-run after a
hint edit costs one network pass (and one sparse solve with hints) plus recombination.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file

from piggydesk.core.bounds import json_object_problem, safetensors_problem
from piggydesk.core.color import lab_to_rgb
from piggydesk.core.hints import Hint, rasterize_hints
from piggydesk.core.paths import resources_dir
from piggydesk.core.recombine import recombine, resize_lightness
from piggydesk.core.sizing import working_shape
from piggydesk.engines.base import (
    CancelToken,
    ColorizeRequest,
    ColorSuggestion,
    EngineInfo,
    EngineUnavailable,
    ProgressCallback,
    Timer,
    Variant,
    check_cancel,
)
from piggydesk.engines.device import out_of_memory_as_error
from piggydesk.engines.instant_hints import HintSpread, spread_hints
from piggydesk.engines.instant_variants import head_mask, plan_variants, variant_ab
from piggydesk.models import ab_bins
from piggydesk.models.instant_net import InstantNet, InstantNetConfig

logger = logging.getLogger(__name__)

NAME = "instant"
DISPLAY_NAME = "Instant"
DESCRIPTION = (
    "PiggyDesk's own small colorization network: colorizes on its own in a fraction of a "
    "second, follows your colour hints live, suggests likely colours for any point and "
    "offers alternative colorizations."
)
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
NET_MULTIPLE = 16
_CACHE_SIZE = 4
_HINT_INFLUENCE = 8.0  # Lab units: where the hints changed the colours more, variants keep them
SAME_AS_FIRST = (  # short enough for the status bar after "Done in 0.5 s: 3 variants. "
    "Some variants equal the first: no other colours suit this photo's objects (faces, hinted "
    "and very large areas keep theirs)."
)
VIVIDNESS = "vividness"  # RunSettings option: the run's share of the annealed mean, 0 to 1


def default_model_dir() -> Path:
    return resources_dir() / "models" / "instant"


def _model_dir(model_path: str | Path | None) -> Path:
    if model_path is None:
        return default_model_dir()
    path = Path(model_path)
    return path.parent if path.is_file() else path


def model_problem(folder: Path) -> str:
    """Why the model in ``folder`` cannot load, checked on its headers only ("" when fine)."""
    if not ((folder / WEIGHTS_FILE).is_file() and (folder / CONFIG_FILE).is_file()):
        return f"its weights are missing ({folder / WEIGHTS_FILE})."
    for name, problem in (
        (CONFIG_FILE, json_object_problem(folder / CONFIG_FILE)),
        (WEIGHTS_FILE, safetensors_problem(folder / WEIGHTS_FILE)),
    ):
        if problem:
            return f"its model file {folder / name} is unusable: {problem}."
    return ""


def engine_info(model_path: str | Path | None = None) -> EngineInfo:
    folder = _model_dir(model_path)
    reason = model_problem(folder)
    available = not reason
    return EngineInfo(
        name=NAME,
        display_name=DISPLAY_NAME,
        description=DESCRIPTION,
        available=available,
        reason=reason,
        needs_hints=False,
        uses_prompt=False,
        uses_steps=False,
        default_working_size=512,
        live_preview=True,  # a few hundred ms on a CPU: refreshes after every hint edit
        suggests_colors=True,
        options=(VIVIDNESS,),
    )


def load_model(folder: Path, device: str = "cpu") -> tuple[InstantNet, dict]:
    """Load ``config.json`` + fp16 ``model.safetensors`` into an fp32 ``InstantNet`` (eval)."""
    problem = model_problem(folder)
    if problem:
        raise EngineUnavailable(f"The instant engine cannot run: {problem}")
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        weights = load_file(str(folder / WEIGHTS_FILE))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type
        raise EngineUnavailable(f"The instant engine's weights could not be read: {exc}") from None
    net = InstantNet(InstantNetConfig.from_dict(config.get("net", {})))
    try:
        net.load_state_dict({k: v.float() for k, v in weights.items()})
    except RuntimeError as exc:
        raise EngineUnavailable(
            f"The instant engine's weights in {folder} do not fit its network: {exc}"
        ) from None
    net.eval().to(device)
    return net, config


@dataclass
class _Prepared:
    """One photo at the network's size (cached per lightness array)."""

    net_shape: tuple[int, int]
    work_shape: tuple[int, int]
    lightness_net: np.ndarray  # (hn, wn) float32 L*
    heads: np.ndarray | None = None  # (hn, wn) bool, people's heads (made when first needed)

    def head_mask(self) -> np.ndarray:
        if self.heads is None:
            self.heads = head_mask(self.lightness_net)
        return self.heads


@dataclass
class _NetOutput:
    """One network pass (cached): its two heads, and the annealed mean once it is needed."""

    reg_ab: np.ndarray  # (2, hn, wn) regression head, Lab units
    probs: np.ndarray  # (Q, hn/4, wn/4) bin probabilities
    near_hints: np.ndarray  # (1, hn, wn) bool: at the hints (the regression head follows them)
    annealed: np.ndarray | None = None  # (2, hn, wn) annealed mean at the engine's temperature


@dataclass
class _NetResult:
    ab: np.ndarray  # (2, hn, wn) Lab units, the engine's "most likely" colour
    probs: np.ndarray  # (Q, hn/4, wn/4) bin probabilities
    reg_ab: np.ndarray  # (2, hn, wn) regression head


class InstantColorizer:
    """The trained network behind the ``Colorizer`` and ``SuggestsColors`` protocols."""

    name = NAME

    def __init__(self, net: InstantNet, config: dict, device: str = "cpu") -> None:
        self.net = net
        self.config = config
        self.device = torch.device(device)
        self.net_long_side = int(config.get("net_long_side", 256))
        self.output = str(config.get("output", "regression"))
        self.temperature = float(config.get("temperature", 0.38))
        self.mix_weight = float(config.get("mix_weight", 0.5))  # "mix": share of annealed mean
        # Absent: the engine's measured defaults; null: the network alone (instant_hints).
        self.hint_spread = HintSpread.from_config(config.get("hint_spread", {}))
        self._centres = ab_bins.bin_centers()
        self._prepared: OrderedDict[tuple, _Prepared] = OrderedDict()
        self._results: OrderedDict[tuple, _NetOutput] = OrderedDict()

    def unload(self) -> None:
        """Drop the network and the cached results (the worker then forgets this engine)."""
        self._prepared.clear()
        self._results.clear()
        self.net = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------------- helpers
    def _net_shape(self, height: int, width: int) -> tuple[int, int]:
        return working_shape(height, width, self.net_long_side, NET_MULTIPLE)

    @staticmethod
    def _photo_key(request: ColorizeRequest) -> tuple:
        L = request.lightness
        sample = np.ascontiguousarray(L[:: max(1, L.shape[0] // 64), :: max(1, L.shape[1] // 64)])
        digest = hashlib.sha1(sample.tobytes()).hexdigest()
        return (L.shape, digest, request.working_size)

    def _prepare(self, request: ColorizeRequest) -> tuple[tuple, _Prepared]:
        key = self._photo_key(request)
        if key in self._prepared:
            self._prepared.move_to_end(key)
            return key, self._prepared[key]
        height, width = request.image_size
        net_shape = self._net_shape(height, width)
        work_shape = working_shape(height, width, request.working_size)
        prepared = _Prepared(
            net_shape=net_shape,
            work_shape=work_shape,
            lightness_net=resize_lightness(request.lightness, net_shape),
        )
        self._prepared[key] = prepared
        while len(self._prepared) > _CACHE_SIZE:
            self._prepared.popitem(last=False)
        return key, prepared

    def _hint_maps(
        self, request: ColorizeRequest, prepared: _Prepared
    ) -> tuple[np.ndarray, np.ndarray]:
        """User hints rasterised at the network's size (radius scaled from working pixels)."""
        scale = max(prepared.net_shape) / max(prepared.work_shape)
        hints = [h.resized(h.radius * scale) for h in request.hints]
        return rasterize_hints(hints, request.image_size, prepared.net_shape)

    def annealed_share(self, request: ColorizeRequest) -> float:
        """The share of the annealed mean in the run's colours: its ``vividness`` option, or
        what the model's config.json says (``output``, ``mix_weight``)."""
        vividness = request.settings.get(VIVIDNESS)
        if vividness is not None:
            return min(max(float(vividness), 0.0), 1.0)
        return {"annealed": 1.0, "mix": self.mix_weight}.get(self.output, 0.0)

    @torch.inference_mode()
    def _net_output(
        self, photo_key: tuple, prepared: _Prepared, hint_ab: np.ndarray, hint_mask: np.ndarray
    ) -> _NetOutput:
        key = (photo_key, hashlib.sha1(hint_ab.tobytes() + hint_mask.tobytes()).hexdigest())
        if key in self._results:
            self._results.move_to_end(key)
            return self._results[key]
        L = torch.from_numpy(prepared.lightness_net[None, None]).to(self.device)
        out = self.net(
            L,
            torch.from_numpy(hint_ab[None]).to(self.device),
            torch.from_numpy(hint_mask[None]).to(self.device),
        )
        result = _NetOutput(
            reg_ab=out.ab[0].float().cpu().numpy(),
            probs=torch.softmax(out.logits[0].float(), dim=0).cpu().numpy(),
            near_hints=cv2.dilate(hint_mask[0], np.ones((5, 5), np.uint8))[None] > 0,
        )
        self._results[key] = result
        while len(self._results) > _CACHE_SIZE * 2:
            self._results.popitem(last=False)
        return result

    def _run_net(
        self, photo_key: tuple, prepared: _Prepared, hint_ab: np.ndarray, hint_mask: np.ndarray,
        share: float,
    ) -> _NetResult:
        """The network's colours with ``share`` of the annealed mean (a cached pass)."""
        out = self._net_output(photo_key, prepared, hint_ab, hint_mask)
        reg = out.reg_ab
        if share <= 0.0:
            return _NetResult(ab=reg, probs=out.probs, reg_ab=reg)
        if out.annealed is None:
            am = ab_bins.annealed_mean(out.probs, self.temperature, axis=0)  # (h4, w4, 2)
            hn, wn = prepared.net_shape
            out.annealed = cv2.resize(
                am, (wn, hn), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
        blend = share * out.annealed + (1.0 - share) * reg
        # Inside hints the regression head follows the hint exactly; keep it there.
        ab = np.where(out.near_hints, reg, blend).astype(np.float32)
        return _NetResult(ab=ab, probs=out.probs, reg_ab=reg)

    def _hinted_ab(
        self,
        photo_key: tuple,
        prepared: _Prepared,
        hinted: _NetResult,
        user_ab: np.ndarray,
        user_mask: np.ndarray,
        share: float,
    ) -> np.ndarray:
        """The most likely chroma (net size) with the user's hints: the network's own hinted
        colours combined with the hints spread edge-aware over its automatic colours
        (``instant_hints``)."""
        if self.hint_spread.blend >= 1.0 or not (user_mask > 0).any():
            return hinted.ab
        empty = np.zeros_like(user_ab), np.zeros_like(user_mask)
        automatic = self._run_net(photo_key, prepared, *empty, share).ab
        hn, wn = prepared.net_shape
        unsure = cv2.resize(ab_bins.colour_spread(hinted.probs, axis=0), (wn, hn),
                            interpolation=cv2.INTER_LINEAR)
        return spread_hints(self.hint_spread, prepared.lightness_net, automatic, hinted.ab,
                            user_ab, user_mask, barrier=prepared.head_mask(), unsure=unsure)

    def _influenced(
        self, photo_key: tuple, prepared: _Prepared, ab: np.ndarray, user_mask: np.ndarray,
        share: float,
    ) -> np.ndarray | None:
        """Where the hints changed the colours by more than ``_HINT_INFLUENCE`` Lab units
        (net size, bool; None without hints): variants leave those places to the hints."""
        if not (user_mask > 0).any():
            return None
        empty = np.zeros((2, *user_mask.shape[1:]), np.float32), np.zeros_like(user_mask)
        automatic = self._run_net(photo_key, prepared, *empty, share).ab
        return np.sqrt(((ab - automatic) ** 2).sum(axis=0)) > _HINT_INFLUENCE

    def _work_ab(
        self, request: ColorizeRequest, prepared: _Prepared, ab_net: np.ndarray
    ) -> np.ndarray:
        """Network chroma at the working size, with the user's hint discs kept exactly.

        A hint is a person's explicit choice: inside its disc the result takes the hint's
        colour (the network spreads it around; this only guarantees the spot itself).
        """
        h, w = prepared.work_shape
        ab_work = cv2.resize(ab_net.transpose(1, 2, 0), (w, h), interpolation=cv2.INTER_LINEAR)
        if request.hints:
            hint_ab, hint_mask = rasterize_hints(request.hints, request.image_size, (h, w))
            inside = hint_mask[0] > 0
            ab_work[inside] = hint_ab[:, inside].T
        return ab_work.astype(np.float32)

    def _to_variant(
        self, request: ColorizeRequest, prepared: _Prepared, ab_net: np.ndarray
    ) -> np.ndarray:
        return recombine(request.lightness, self._work_ab(request, prepared, ab_net))

    # ------------------------------------------------------------------------- public API
    @out_of_memory_as_error()
    def colorize(
        self,
        request: ColorizeRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[Variant]:
        timer = Timer()
        check_cancel(cancel)
        count = max(1, int(request.num_variants))
        total = 2 * count
        key, prepared = self._prepare(request)
        user_ab, user_mask = self._hint_maps(request, prepared)
        share = self.annealed_share(request)
        base = self._run_net(key, prepared, user_ab, user_mask, share)
        base_ab = self._hinted_ab(key, prepared, base, user_ab, user_mask, share)
        variants: list[Variant] = []
        plan = None  # the regions all variants share, made once
        for index in range(count):
            check_cancel(cancel)
            message = ""
            if index == 0:
                ab = base_ab
            else:
                rng = np.random.default_rng([int(request.seed) & 0xFFFFFFFF, index])
                if plan is None:
                    plan = plan_variants(prepared.lightness_net, base_ab, base.probs,
                                         self._centres, user_mask[0] > 0,
                                         self._influenced(key, prepared, base_ab, user_mask,
                                                          share),
                                         prepared.head_mask())
                ab = variant_ab(plan, rng)
                if np.array_equal(ab, base_ab):
                    message = SAME_AS_FIRST
            if progress:
                progress(2 * index + 1, total)
            check_cancel(cancel)
            rgb = self._to_variant(request, prepared, ab)
            settings = request.settings.for_variant(NAME, index)
            finished = timer.elapsed()  # each variant's own time: the run's adds up to it
            variants.append(Variant(rgb=rgb, settings=settings, message=message,
                                    seconds=finished - sum(v.seconds for v in variants)))
            if progress:
                progress(2 * index + 2, total)
        logger.info(
            "instant: %d hints, net %dx%d, %d variant(s), %.2f s",
            len(request.hints), prepared.net_shape[1], prepared.net_shape[0], count,
            timer.elapsed(),
        )
        return variants

    def predict_ab(self, request: ColorizeRequest) -> np.ndarray:
        """The most likely chroma at the working size, ``(h, w, 2)`` Lab units (no recombine)."""
        key, prepared = self._prepare(request)
        user_ab, user_mask = self._hint_maps(request, prepared)
        share = self.annealed_share(request)
        result = self._run_net(key, prepared, user_ab, user_mask, share)
        ab = self._hinted_ab(key, prepared, result, user_ab, user_mask, share)
        return self._work_ab(request, prepared, ab)

    @out_of_memory_as_error()
    def suggest_colors(
        self, request: ColorizeRequest, x: float, y: float, k: int = 8
    ) -> list[ColorSuggestion]:
        """The ``k`` most likely colours at image pixel (x, y), most likely first.

        Each is a bin of the predicted distribution there; the bin holding the point's current
        colour (the network's, or the hint's on a hint) comes first, as that exact colour.
        """
        key, prepared = self._prepare(request)
        result = self._run_net(key, prepared, *self._hint_maps(request, prepared),
                               self.annealed_share(request))
        height, width = request.image_size
        hn, wn = prepared.net_shape
        q, h4, w4 = result.probs.shape
        xn = float(np.clip((x + 0.5) * wn / width - 0.5, 0, wn - 1))
        yn = float(np.clip((y + 0.5) * hn / height - 0.5, 0, hn - 1))
        i4 = int(np.clip(round((yn + 0.5) / 4 - 0.5), 0, h4 - 1))
        j4 = int(np.clip(round((xn + 0.5) / 4 - 0.5), 0, w4 - 1))
        p = result.probs[:, i4, j4].astype(np.float64)
        own_ab = result.ab[:, int(round(yn)), int(round(xn))]
        if request.hints:  # on a hint, the point's colour is the hint's (see _work_ab)
            hh, ww = prepared.work_shape
            hint_ab, hint_mask = rasterize_hints(request.hints, request.image_size, (hh, ww))
            yw = int(np.clip(round((y + 0.5) * hh / height - 0.5), 0, hh - 1))
            xw = int(np.clip(round((x + 0.5) * ww / width - 0.5), 0, ww - 1))
            if hint_mask[0, yw, xw] > 0:
                own_ab = hint_ab[:, yw, xw]
        own_bin = int(ab_bins.encode(own_ab))
        lightness = float(prepared.lightness_net[int(round(yn)), int(round(xn))])
        order = [own_bin] + [int(i) for i in np.argsort(-p) if int(i) != own_bin]
        suggestions = []
        for idx in order[: max(0, int(k))]:
            ab = own_ab if idx == own_bin else self._centres[idx]
            rgb = lab_to_rgb(np.array([lightness, ab[0], ab[1]], dtype=np.float32))
            color = tuple(int(c) for c in np.clip(np.rint(rgb * 255.0), 0, 255))
            suggestions.append(ColorSuggestion(color=color, probability=float(p[idx])))
        return suggestions


def create(device: str = "auto", model_path: str | Path | None = None) -> InstantColorizer:
    """Load the shipped network (or the one in ``model_path``) on ``device``."""
    from piggydesk.engines.device import pick_device

    folder = _model_dir(model_path)
    if not (folder / WEIGHTS_FILE).is_file():
        raise EngineUnavailable(f"The instant engine's weights are missing ({folder / WEIGHTS_FILE}).")
    choice = pick_device(device)
    net, config = load_model(folder, choice.name)
    logger.info("instant engine loaded from %s on %s", folder, choice.description)
    try:
        return InstantColorizer(net, config, choice.name)
    except (TypeError, ValueError) as exc:
        raise EngineUnavailable(
            f"The instant engine's settings in {folder / CONFIG_FILE} are unusable: {exc}."
        ) from None


__all__ = ["InstantColorizer", "create", "engine_info", "load_model", "Hint"]
