"""The settings of one colorization run, declared once: ``RunSettings``.

Everything that decides what an engine makes from a photo, except the photo itself: the
engine, the seed, the prompt and negative prompt, the colour hints, the diffusion steps and
guidance scale (paper Eq. 3's classifier-free guidance weight), the working size, how many
variants, and the engine-specific options (a mapping, e.g. ``{"mode": "sdedit"}`` or a
strength). The defaults below are the only place the defaults live: the engines' request
(``engines.base.ColorizeRequest`` is the lightness plus these settings), the document, the
variants ("Use these settings"), the command line and the app's saved settings all use them.

``to_dict``/``from_dict`` are the project-file form. ``from_dict`` is tolerant on purpose:
project manifests written before this type existed (``VariantSettings.to_dict()``, a loose
``settings`` dict with ``random_seed`` and friends) open as they are; a value that cannot be
read falls back to its default rather than refusing the whole project, and keys it does not
know are kept as options so nothing is lost on the next save.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from piggydesk.core.hints import Hint

logger = logging.getLogger(__name__)

MAX_VARIANTS = 8


@dataclass(frozen=True)
class RunSettings:
    """One run's settings (frozen: change them with ``with_values``)."""

    engine: str = ""
    seed: int = 0
    prompt: str = ""
    negative_prompt: str = ""
    hints: tuple[Hint, ...] = ()
    steps: int = 20
    guidance_scale: float = 7.5
    working_size: int = 512
    num_variants: int = 1
    variant_index: int = 0  # which variant of its run these settings made (0 for a request)
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hints", tuple(self.hints))
        object.__setattr__(self, "options", dict(self.options))
        clash = FIELD_NAMES.intersection(self.options)
        if clash:
            raise ValueError(f"options cannot hold the setting(s) {', '.join(sorted(clash))}")

    # -- reading ---------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """How the engine ran (the piggyback engine's ``guided+lightness``, ``sdedit``...)."""
        return str(self.options.get("mode", ""))

    def get(self, name: str, default: Any = None) -> Any:
        """A setting or an option by name (``default`` when neither exists)."""
        if name in FIELD_NAMES:
            return getattr(self, name)
        return self.options.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in FIELD_NAMES or name in self.options

    # -- changing --------------------------------------------------------------------------
    def with_values(self, **values: Any) -> RunSettings:
        """A copy with ``values`` changed; names that are not fields become options.

        An option set to ``None`` is removed.
        """
        fields = {k: v for k, v in values.items() if k in FIELD_NAMES}
        extra = {k: v for k, v in values.items() if k not in FIELD_NAMES}
        if extra:
            options = dict(fields.pop("options", self.options))
            for key, value in extra.items():
                if value is None:
                    options.pop(key, None)
                else:
                    options[key] = value
            fields["options"] = options
        if "hints" in fields:
            fields["hints"] = tuple(
                h if isinstance(h, Hint) else Hint.from_dict(h) for h in fields["hints"]
            )
        return dataclasses.replace(self, **fields)

    def for_variant(self, engine: str, index: int = 0, **values: Any) -> RunSettings:
        """The settings that made variant ``index`` of a run of ``engine`` (plus ``values``)."""
        return self.with_values(engine=engine, variant_index=int(index), **values)

    # -- project files ---------------------------------------------------------------------
    def to_dict(self, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Plain JSON-able data: the fields, then the options beside them (flat)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "options" or f.name in exclude:
                continue
            value = getattr(self, f.name)
            out[f.name] = [h.to_dict() for h in value] if f.name == "hints" else value
        for key, value in self.options.items():
            if key not in exclude:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | RunSettings | None) -> RunSettings:
        """Read ``to_dict`` output, or an older manifest's settings (see the module docstring)."""
        if isinstance(data, RunSettings):
            return data
        if not isinstance(data, Mapping):
            return cls()
        default = cls()
        values: dict[str, Any] = {}
        options: dict[str, Any] = {}
        for key, raw in data.items():
            key = str(key)
            if key == "options" and isinstance(raw, Mapping):
                options.update({str(k): v for k, v in raw.items() if str(k) not in FIELD_NAMES})
            elif key in _READERS:
                try:
                    values[key] = _READERS[key](raw)
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    logger.warning("setting %s: ignoring unreadable value %r (%s)", key, raw, exc)
                    values[key] = getattr(default, key)
            else:
                options[key] = raw
        return cls(**values, options=options)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise TypeError("not text")
    return str(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("not a number")
    return int(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("not a number")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("not finite")
    return number


def _variants(value: Any) -> int:
    return min(max(_whole(value), 1), MAX_VARIANTS)


def _hints(value: Any) -> tuple[Hint, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError("hints are not a list")
    return tuple(h if isinstance(h, Hint) else Hint.from_dict(h) for h in value)


_READERS = {
    "engine": _text,
    "seed": _whole,
    "prompt": _text,
    "negative_prompt": _text,
    "hints": _hints,
    "steps": _whole,
    "guidance_scale": _number,
    "working_size": _whole,
    "num_variants": _variants,
    "variant_index": _whole,
}
FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(RunSettings))
"""Every field of ``RunSettings`` (``options`` included): option keys may not use these."""

DEFAULTS = RunSettings()
"""The defaults, for whoever needs one value (the app's settings, the CLI's help)."""
