"""The colour panel: an ab gamut picker at the selected point's lightness, suggested colours,
recent colours and the system colour dialog.

As in ideepcolor's ``gui_gamut.py``, only colours that can exist at the lightness of the
selected point are offered: the a*b* plane at that L* is converted to sRGB once per lightness
change (vectorised numpy, ``core.color.lab_to_rgb``), and the points whose sRGB falls outside
[0, 1] are left empty. Picking a colour emits ``color_chosen``; the main window applies it to the
selected hint (an undoable recolour) and to new hints.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QColorDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from piggydesk.core.color import lab_to_rgb, rgb_to_lab
from piggydesk.engines.base import ColorSuggestion
from piggydesk.ui.image_convert import rgba_to_qimage

logger = logging.getLogger(__name__)

AB_RANGE = 110.0  # the picker spans a*, b* in [-AB_RANGE, AB_RANGE]
GAMUT_TOLERANCE = 1e-3


def gamut_image(lightness: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The a*b* plane at ``lightness`` as ``(size, size, 4)`` uint8 RGBA plus the in-gamut mask.

    Row 0 is b* = +AB_RANGE (yellow up), column 0 is a* = -AB_RANGE (green left).
    """
    axis = np.linspace(-AB_RANGE, AB_RANGE, size, dtype=np.float32)
    a, b = np.meshgrid(axis, axis[::-1])
    lab = np.stack([np.full_like(a, float(lightness)), a, b], axis=-1)
    rgb = lab_to_rgb(lab, clip=False)
    inside = np.all((rgb >= -GAMUT_TOLERANCE) & (rgb <= 1.0 + GAMUT_TOLERANCE), axis=-1)
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[..., :3] = np.clip(np.rint(np.clip(rgb, 0, 1) * 255.0), 0, 255).astype(np.uint8)
    rgba[..., 3] = np.where(inside, 255, 0).astype(np.uint8)
    return rgba, inside


def nearest_in_gamut(lightness: float, a: float, b: float) -> tuple[int, int, int]:
    """The sRGB colour of (L, a, b), pulled toward gray along its hue until it exists."""
    scales = np.linspace(1.0, 0.0, 101, dtype=np.float32)
    lab = np.stack(
        [np.full_like(scales, float(lightness)), scales * a, scales * b], axis=-1
    )
    rgb = lab_to_rgb(lab, clip=False)
    ok = np.all((rgb >= -GAMUT_TOLERANCE) & (rgb <= 1.0 + GAMUT_TOLERANCE), axis=-1)
    index = int(np.argmax(ok)) if ok.any() else len(scales) - 1
    value = np.clip(np.rint(np.clip(rgb[index], 0, 1) * 255.0), 0, 255).astype(int)
    return int(value[0]), int(value[1]), int(value[2])


class GamutPicker(QWidget):
    """Click or drag in the a*b* plane; shows the current colour's position."""

    color_picked = Signal(object)  # (r, g, b)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gamutPicker")
        self.setMinimumSize(150, 150)
        self.setMaximumHeight(190)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Colours that exist at the selected point's lightness")
        self._lightness = 50.0
        self._image: QImage | None = None
        self._image_key: tuple[float, int] | None = None
        self._marker: tuple[float, float] | None = None

    @property
    def lightness(self) -> float:
        return self._lightness

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(190, 190)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return width

    def set_lightness(self, lightness: float) -> None:
        lightness = float(np.clip(lightness, 0.0, 100.0))
        if abs(lightness - self._lightness) >= 0.5 or self._image is None:
            self._lightness = lightness
            self._image = None  # recomputed once, at the next paint
            self.update()

    def set_marker_color(self, color: tuple[int, int, int] | None) -> None:
        if color is None:
            self._marker = None
        else:
            lab = rgb_to_lab(np.array(color, np.float32) / 255.0)
            self._marker = (float(lab[1]), float(lab[2]))
        self.update()

    def _square(self) -> QRectF:
        side = min(self.width(), self.height()) - 2
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _ensure_image(self) -> QImage:
        dpr = self.devicePixelRatioF()
        pixels = max(16, int(self._square().width() * dpr))
        key = (round(self._lightness, 1), pixels)
        if self._image is None or self._image_key != key:
            rgba, _ = gamut_image(self._lightness, pixels)
            self._image = rgba_to_qimage(rgba)
            self._image.setDevicePixelRatio(dpr)
            self._image_key = key
        return self._image

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        square = self._square()
        painter.fillRect(square, QColor(58, 58, 60))
        painter.drawImage(square, self._ensure_image())
        painter.setPen(QPen(QColor(120, 120, 120), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(square)
        centre = square.center()
        painter.setPen(QPen(QColor(0, 0, 0, 90), 1, Qt.PenStyle.DotLine))
        painter.drawLine(QPointF(square.left(), centre.y()), QPointF(square.right(), centre.y()))
        painter.drawLine(QPointF(centre.x(), square.top()), QPointF(centre.x(), square.bottom()))
        if self._marker is not None:
            p = self._ab_to_point(*self._marker)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(QPen(QColor(0, 0, 0), 3))
            painter.drawEllipse(p, 6, 6)
            painter.setPen(QPen(QColor(255, 255, 255), 1.5))
            painter.drawEllipse(p, 6, 6)
        painter.end()

    def _ab_to_point(self, a: float, b: float) -> QPointF:
        square = self._square()
        x = square.left() + (a + AB_RANGE) / (2 * AB_RANGE) * square.width()
        y = square.top() + (AB_RANGE - b) / (2 * AB_RANGE) * square.height()
        return QPointF(x, y)

    def _point_to_ab(self, p: QPointF) -> tuple[float, float]:
        square = self._square()
        a = (p.x() - square.left()) / square.width() * 2 * AB_RANGE - AB_RANGE
        b = AB_RANGE - (p.y() - square.top()) / square.height() * 2 * AB_RANGE
        return float(np.clip(a, -AB_RANGE, AB_RANGE)), float(np.clip(b, -AB_RANGE, AB_RANGE))

    def pick_at(self, p: QPointF) -> tuple[int, int, int]:
        a, b = self._point_to_ab(p)
        color = nearest_in_gamut(self._lightness, a, b)
        self.set_marker_color(color)
        self.color_picked.emit(color)
        return color

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.pick_at(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.pick_at(event.position())


class Swatch(QToolButton):
    """A clickable colour square."""

    def __init__(self, color: tuple[int, int, int], tooltip: str = "", size: int = 22) -> None:
        super().__init__()
        self.color = color
        self.setFixedSize(size, size)
        hex_color = "#{:02x}{:02x}{:02x}".format(*color)
        self.setToolTip(tooltip or hex_color)
        self.setAccessibleName(f"colour {hex_color}")
        self.setStyleSheet(
            f"QToolButton {{ background: {hex_color}; border: 1px solid #202020;"
            " border-radius: 3px; }"
            "QToolButton:hover { border: 2px solid #00beff; }"
        )


class SwatchRow(QWidget):
    """A wrapping grid of swatches; ``picked`` emits the clicked colour."""

    picked = Signal(object)

    def __init__(self, columns: int = 8, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._columns = columns
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(3)
        self._swatches: list[Swatch] = []
        self._empty = QLabel("")
        self._empty.setEnabled(False)
        self._layout.addWidget(self._empty, 0, 0, 1, columns)

    def set_colors(self, colors: list[tuple[tuple[int, int, int], str]], empty_text: str = "") -> None:
        for swatch in self._swatches:
            self._layout.removeWidget(swatch)
            swatch.deleteLater()
        self._swatches = []
        self._empty.setText(empty_text)
        self._empty.setVisible(not colors and bool(empty_text))
        for i, (color, tip) in enumerate(colors):
            swatch = Swatch(color, tip)
            swatch.clicked.connect(lambda _=False, c=color: self.picked.emit(c))
            self._layout.addWidget(swatch, 1 + i // self._columns, i % self._columns)
            self._swatches.append(swatch)

    def swatches(self) -> list[Swatch]:
        return list(self._swatches)


class ColourPanel(QWidget):
    """Gamut picker + current colour + suggestions + recent colours + system dialog."""

    color_chosen = Signal(object)  # (r, g, b): apply to the selected hint and to new hints
    eyedropper_requested = Signal()
    radius_changed = Signal(float, int)  # new radius (working pixels), slider gesture id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("colourPanel")
        self._color: tuple[int, int, int] = (192, 80, 60)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        self.lightness_label = QLabel()
        self.lightness_label.setObjectName("lightnessLabel")
        layout.addWidget(self.lightness_label)
        self.picker = GamutPicker()
        layout.addWidget(self.picker)

        row = QHBoxLayout()
        self.current_swatch = QLabel()
        self.current_swatch.setFixedSize(36, 24)
        self.current_swatch.setToolTip("Current colour (used for new hints)")
        self.hex_label = QLabel()
        self.hex_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dialog_button = QPushButton("Exact…")
        self.dialog_button.setToolTip("Choose an exact colour with the system colour dialog")
        self.eyedropper_button = QPushButton("Eyedropper")
        self.eyedropper_button.setToolTip("Pick a colour from the result (I)")
        self.eyedropper_button.setCheckable(True)
        row.addWidget(self.current_swatch)
        row.addWidget(self.hex_label, 1)
        row.addWidget(self.eyedropper_button)
        row.addWidget(self.dialog_button)
        layout.addLayout(row)

        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Hint size"))
        self.radius_slider = QSlider(Qt.Orientation.Horizontal)
        self.radius_slider.setObjectName("radiusSlider")
        self.radius_slider.setRange(1, 40)  # half working pixels: 0.5 .. 20
        self.radius_slider.setToolTip("Radius of the selected hint (Ctrl+wheel over a hint)")
        self.radius_label = QLabel()
        self.radius_label.setMinimumWidth(28)
        size_row.addWidget(self.radius_slider, 1)
        size_row.addWidget(self.radius_label)
        layout.addLayout(size_row)
        self._radius_gesture = 0
        self._radius_updating = False

        layout.addWidget(QLabel("Suggested here"))
        self.suggested = SwatchRow()
        layout.addWidget(self.suggested)
        layout.addWidget(QLabel("Recent"))
        self.recent = SwatchRow()
        layout.addWidget(self.recent)
        layout.addStretch(0)

        self.picker.color_picked.connect(self._on_picked)
        self.suggested.picked.connect(self._on_picked)
        self.recent.picked.connect(self._on_picked)
        self.dialog_button.clicked.connect(self.open_dialog)
        self.radius_slider.sliderPressed.connect(self._new_radius_gesture)
        self.radius_slider.valueChanged.connect(self._radius_moved)
        self.eyedropper_button.clicked.connect(lambda _=False: self.eyedropper_requested.emit())
        self.set_lightness(None)
        self.set_suggestions([], "Select a hint to see suggestions")
        self.set_recent([])
        self.set_radius(None)
        self.set_current_color(self._color)

    @property
    def current_color(self) -> tuple[int, int, int]:
        return self._color

    def set_current_color(self, color: tuple[int, int, int]) -> None:
        self._color = tuple(int(c) for c in color)
        hex_color = "#{:02x}{:02x}{:02x}".format(*self._color)
        self.current_swatch.setStyleSheet(
            f"background: {hex_color}; border: 1px solid #202020; border-radius: 3px;"
        )
        self.hex_label.setText(hex_color)
        self.picker.set_marker_color(self._color)

    def set_radius(self, radius: float | None) -> None:
        """Show the selected hint's radius (``None``: no hint selected, the slider is off)."""
        self._radius_updating = True
        try:
            self.radius_slider.setEnabled(radius is not None)
            if radius is not None:
                self.radius_slider.setValue(int(round(radius * 2)))
                self.radius_label.setText(f"{radius:g}")
            else:
                self.radius_label.setText("–")
        finally:
            self._radius_updating = False

    def _new_radius_gesture(self) -> None:
        self._radius_gesture += 1

    def _radius_moved(self, value: int) -> None:
        if self._radius_updating:
            return
        if not self.radius_slider.isSliderDown():
            self._radius_gesture += 1  # keyboard or click: its own undo entry
        self.radius_label.setText(f"{value / 2:g}")
        self.radius_changed.emit(value / 2.0, 10**6 + self._radius_gesture)

    def set_lightness(self, lightness: float | None) -> None:
        if lightness is None:
            self.lightness_label.setText("Colours at mid lightness (no hint selected)")
            self.picker.set_lightness(50.0)
        else:
            self.lightness_label.setText(f"Colours that exist at lightness {lightness:.0f}")
            self.picker.set_lightness(lightness)

    def set_suggestions(self, suggestions: list[ColorSuggestion], empty_text: str = "") -> None:
        self.suggested.set_colors(
            [(s.color, f"{s.probability:.0%} likely") for s in suggestions],
            empty_text or "No suggestions",
        )

    def set_recent(self, hex_colors: list[str]) -> None:
        colors = []
        for text in hex_colors:
            try:
                value = text.lstrip("#")
                colors.append(((int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)), text))
            except (ValueError, IndexError):
                continue
        self.recent.set_colors(colors, "Colours you use appear here")

    def set_eyedropper_checked(self, on: bool) -> None:
        self.eyedropper_button.setChecked(on)

    def open_dialog(self) -> None:
        color = QColorDialog.getColor(QColor(*self._color), self, "Hint colour")
        if color.isValid():
            self._on_picked((color.red(), color.green(), color.blue()))

    def _on_picked(self, color: tuple[int, int, int]) -> None:
        self.set_current_color(color)
        self.color_chosen.emit(self._color)
