"""The Repair dock: geometry, dust and scratches, tone — the steps before colour, in order.

``RepairPanel`` is the widget (thin: it shows values and emits what the person asked for);
``RepairEditor`` wires it to the document and the canvas:

* every change is a core command (``core.repair.document``: ``SetRepair``, ``PaintMask``,
  ``SetDefectMask``) pushed onto the window's real ``QUndoStack`` as a ``DocumentCommand``:
  one entry per brush stroke, per button press, per slider release (a slider merges the steps
  of one adjustment);
* the canvas gets tools through an event filter on its viewport (``CanvasTools``): the mask
  brush (add / erase, with its outline under the mouse), the guide line for straightening
  (drag along the horizon or a frame edge) and the crop rectangle; the middle button and
  Space still pan, and with no tool chosen the canvas places hints as before;
* the defect mask is shown as a red overlay in working-photo pixels (``MaskOverlay``).

Changing any step re-runs the later ones: the document's working photo is recomputed
(``Document.working_photo``), the canvas shows it and the live engine colorizes it again (the
run controller re-runs after every undo-stack change).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QLineF, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainterPath,
    QPen,
    QPixmap,
    QUndoStack,
    qRgba,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGraphicsEllipseItem,
    QGraphicsLineItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from piggydesk.core.color import lightness_to_gray_rgb
from piggydesk.core.errors import PhotoError
from piggydesk.core.export import export_image
from piggydesk.core.imaging import Photo
from piggydesk.core.repair.defects import DefectOptions, propose_defect_mask
from piggydesk.core.repair.document import PaintMask, SetDefectMask, SetRepair, mask_overlay
from piggydesk.core.repair.geometry import MAX_STRAIGHTEN, Geometry, angle_of_line
from piggydesk.core.repair.pipeline import RepairSettings
from piggydesk.core.repair.tone import ToneSettings
from piggydesk.ui.background import run_in_background
from piggydesk.ui.canvas import PhotoCanvas
from piggydesk.ui.document_model import DocumentModel
from piggydesk.ui.image_convert import rgb_to_qimage
from piggydesk.ui.undo import MERGE_SETTING, DocumentCommand

logger = logging.getLogger(__name__)

PIPELINE_TEXT = "Geometry → Repair → Tone → Colorize → Export"
TOOLS = ("none", "brush", "erase", "guide", "crop")
MASK_COLOUR = (235, 40, 40, 120)


# ----------------------------------------------------------------------------- the panel


def _slider(maximum: int = 100) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, maximum)
    slider.setTracking(False)  # one change (and one undo entry) per adjustment
    return slider


class RepairPanel(QWidget):
    """The controls; values come in through ``show_settings``, requests go out as signals."""

    turn_requested = Signal(int)  # +1 clockwise, -1 counter-clockwise
    flip_requested = Signal(str)  # "h" or "v"
    straighten_requested = Signal(float)
    reset_geometry_requested = Signal()
    tool_requested = Signal(str)  # one of TOOLS
    brush_size_changed = Signal(int)
    find_defects_requested = Signal()
    clear_mask_requested = Signal()
    show_mask_changed = Signal(bool)
    repair_value_requested = Signal(str, object)  # "inpaint_method", "denoise"
    tone_requested = Signal(str, float)  # "levels", "clahe", "cast" with a strength 0-1
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("repairPanel")
        self._updating = False
        layout = QVBoxLayout(self)
        order = QLabel(PIPELINE_TEXT)
        order.setObjectName("pipelineOrder")
        order.setToolTip("The fixed order of the steps: changing one re-runs the ones after it")
        order.setWordWrap(True)
        layout.addWidget(order)

        # 1. geometry
        box = QGroupBox("1  Geometry")
        form = QVBoxLayout(box)
        row = QHBoxLayout()
        self.turn_left = QPushButton("⟲ 90°")
        self.turn_left.setToolTip("Turn counter-clockwise")
        self.turn_right = QPushButton("⟳ 90°")
        self.turn_right.setToolTip("Turn clockwise")
        self.flip_h = QPushButton("Flip ↔")
        self.flip_v = QPushButton("Flip ↕")
        for button in (self.turn_left, self.turn_right, self.flip_h, self.flip_v):
            row.addWidget(button)
        form.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Straighten"))
        self.straighten = QDoubleSpinBox()
        self.straighten.setObjectName("straightenSpin")
        self.straighten.setRange(-MAX_STRAIGHTEN, MAX_STRAIGHTEN)
        self.straighten.setDecimals(2)
        self.straighten.setSingleStep(0.1)
        self.straighten.setSuffix("°")
        self.straighten.setKeyboardTracking(False)
        row.addWidget(self.straighten, 1)
        form.addLayout(row)
        row = QHBoxLayout()
        self.guide_tool = QToolButton()
        self.guide_tool.setText("Guide line")
        self.guide_tool.setToolTip(
            "Drag along the horizon or a frame edge: the photo turns to make it level"
        )
        self.crop_tool = QToolButton()
        self.crop_tool.setText("Crop")
        self.crop_tool.setToolTip("Drag the rectangle to keep")
        self.reset_geometry = QPushButton("Reset")
        self.reset_geometry.setToolTip("No turn, flip, straightening or crop")
        row.addWidget(self.guide_tool)
        row.addWidget(self.crop_tool)
        row.addWidget(self.reset_geometry)
        form.addLayout(row)
        layout.addWidget(box)

        # 2. dust and scratches
        box = QGroupBox("2  Dust and scratches")
        form = QVBoxLayout(box)
        self.find_defects = QPushButton("Find dust and scratches")
        self.find_defects.setToolTip(
            "Mark likely dust specks, hairline scratches and torn corners (add to or erase "
            "from the marks with the brush)"
        )
        form.addWidget(self.find_defects)
        row = QHBoxLayout()
        self.brush_tool = QToolButton()
        self.brush_tool.setText("Brush")
        self.brush_tool.setToolTip("Paint over a defect to fill it in")
        self.erase_tool = QToolButton()
        self.erase_tool.setText("Erase")
        self.erase_tool.setToolTip("Take marks away (detail that is not a defect)")
        self.brush_size = QSpinBox()
        self.brush_size.setObjectName("brushSize")
        self.brush_size.setRange(1, 200)
        self.brush_size.setValue(6)
        self.brush_size.setSuffix(" px")
        self.brush_size.setToolTip("Brush radius, in pixels of the photo")
        row.addWidget(self.brush_tool)
        row.addWidget(self.erase_tool)
        row.addWidget(self.brush_size, 1)
        form.addLayout(row)
        row = QHBoxLayout()
        self.show_mask = QCheckBox("Show marks")
        self.show_mask.setChecked(True)
        self.clear_mask = QPushButton("Clear marks")
        row.addWidget(self.show_mask)
        row.addWidget(self.clear_mask)
        form.addLayout(row)
        grid = QFormLayout()
        self.method = QComboBox()
        self.method.addItem("Fast marching (Telea)", "telea")
        self.method.addItem("Navier-Stokes", "ns")
        grid.addRow("Fill thin defects", self.method)
        self.denoise = _slider()
        self.denoise.setObjectName("denoiseSlider")
        self.denoise.setToolTip("Reduce film grain (non-local means); slow on large scans")
        grid.addRow("Grain", self.denoise)
        form.addLayout(grid)
        layout.addWidget(box)

        # 3. tone
        box = QGroupBox("3  Tone")
        grid = QFormLayout(box)
        self.levels = _slider()
        self.levels.setObjectName("levelsSlider")
        self.levels.setToolTip("Automatic levels: black and white points from the histogram")
        self.clahe = _slider()
        self.clahe.setObjectName("claheSlider")
        self.clahe.setToolTip("Local contrast (CLAHE on the lightness)")
        self.cast = _slider()
        self.cast.setObjectName("castSlider")
        self.cast.setToolTip("Remove the colour cast of a yellowed or sepia scan")
        grid.addRow("Levels", self.levels)
        grid.addRow("Local contrast", self.clahe)
        grid.addRow("Remove cast", self.cast)
        layout.addWidget(box)
        self.export_button = QPushButton("Export repaired photo…")
        self.export_button.setObjectName("exportRepaired")
        self.export_button.setToolTip("Write the repaired photo as it is shown, before colour")
        layout.addWidget(self.export_button)
        layout.addStretch(1)

        self._tools = QButtonGroup(self)
        self._tools.setExclusive(False)
        self._tool_buttons = {
            "brush": self.brush_tool,
            "erase": self.erase_tool,
            "guide": self.guide_tool,
            "crop": self.crop_tool,
        }
        for name, button in self._tool_buttons.items():
            button.setCheckable(True)
            button.setObjectName(f"{name}Tool")
            button.toggled.connect(lambda on, n=name: self._tool_toggled(n, on))

        self.turn_left.clicked.connect(lambda: self.turn_requested.emit(-1))
        self.turn_right.clicked.connect(lambda: self.turn_requested.emit(1))
        self.flip_h.clicked.connect(lambda: self.flip_requested.emit("h"))
        self.flip_v.clicked.connect(lambda: self.flip_requested.emit("v"))
        self.straighten.valueChanged.connect(self._emit_straighten)
        self.reset_geometry.clicked.connect(self.reset_geometry_requested)
        self.find_defects.clicked.connect(self.find_defects_requested)
        self.export_button.clicked.connect(self.export_requested)
        self.clear_mask.clicked.connect(self.clear_mask_requested)
        self.show_mask.toggled.connect(self.show_mask_changed)
        self.brush_size.valueChanged.connect(self.brush_size_changed)
        self.method.currentIndexChanged.connect(
            lambda: self._emit_value("inpaint_method", self.method.currentData())
        )
        self.denoise.valueChanged.connect(lambda v: self._emit_value("denoise", v / 100))
        for name, slider in (("levels", self.levels), ("clahe", self.clahe), ("cast", self.cast)):
            slider.valueChanged.connect(lambda v, n=name: self._emit_tone(n, v / 100))

    # -- showing -------------------------------------------------------------------------
    def show_settings(self, settings: RepairSettings, has_photo: bool, has_mask: bool) -> None:
        self._updating = True
        try:
            self.straighten.setValue(settings.geometry.straighten)
            self.method.setCurrentIndex(max(self.method.findData(settings.inpaint_method), 0))
            self.denoise.setValue(round(settings.denoise * 100))
            self.levels.setValue(round(settings.tone.levels * 100))
            self.clahe.setValue(round(settings.tone.clahe * 100))
            self.cast.setValue(round(settings.tone.cast * 100))
        finally:
            self._updating = False
        for widget in self.findChildren(QWidget):
            if isinstance(widget, (QPushButton, QToolButton, QSlider, QDoubleSpinBox, QComboBox)):
                widget.setEnabled(has_photo)
        self.clear_mask.setEnabled(has_photo and has_mask)

    def set_tool(self, tool: str) -> None:
        for name, button in self._tool_buttons.items():
            button.blockSignals(True)
            button.setChecked(name == tool)
            button.blockSignals(False)

    # -- emitting ------------------------------------------------------------------------
    def _tool_toggled(self, name: str, on: bool) -> None:
        self.set_tool(name if on else "none")
        self.tool_requested.emit(name if on else "none")

    def _emit_straighten(self, value: float) -> None:
        if not self._updating:
            self.straighten_requested.emit(float(value))

    def _emit_value(self, name: str, value: object) -> None:
        if not self._updating:
            self.repair_value_requested.emit(name, value)

    def _emit_tone(self, name: str, value: float) -> None:
        if not self._updating:
            self.tone_requested.emit(name, float(value))


# ----------------------------------------------------------------------------- canvas


class MaskOverlay(QGraphicsPixmapItem):
    """The defect mask, red and half transparent, over the photo (under the hint rings)."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(2)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setVisible(False)

    def set_mask(self, mask: np.ndarray | None) -> None:
        if mask is None or not mask.any():
            self.setPixmap(QPixmap())
            self.setVisible(False)
            return
        # one byte a pixel and a two-colour table: no RGBA array the size of the scan
        index = np.ascontiguousarray(mask, dtype=np.uint8)
        h, w = index.shape
        image = QImage(index.data, w, h, w, QImage.Format.Format_Indexed8)
        image.setColorTable([qRgba(0, 0, 0, 0), qRgba(*MASK_COLOUR)])
        self.setPixmap(QPixmap.fromImage(image.copy()))
        self.setVisible(True)


class CanvasTools(QObject):
    """Brush, guide line and crop on the canvas (an event filter on its viewport).

    Emits, in working-photo pixels: ``stroke_finished(points, erase)``,
    ``guide_finished(x0, y0, x1, y1)`` and ``crop_finished(x, y, w, h)``.
    """

    stroke_finished = Signal(list, bool)
    guide_finished = Signal(float, float, float, float)
    crop_finished = Signal(int, int, int, int)

    def __init__(self, canvas: PhotoCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.tool = "none"
        self.radius = 6.0
        self._points: list[tuple[float, float]] = []
        self._start: QPointF | None = None
        scene = canvas.scene()
        pen = QPen(QColor(255, 255, 255, 220), 0)
        pen.setCosmetic(True)
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setPen(pen)
        self._path = QGraphicsPathItem()
        self._line = QGraphicsLineItem()
        guide_pen = QPen(QColor(255, 210, 0), 2)
        guide_pen.setCosmetic(True)
        self._line.setPen(guide_pen)
        self._rect = QGraphicsRectItem()
        crop_pen = QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine)
        crop_pen.setCosmetic(True)
        self._rect.setPen(crop_pen)
        for item in (self._cursor, self._path, self._line, self._rect):
            item.setZValue(5)
            item.setVisible(False)
            scene.addItem(item)
        canvas.viewport().installEventFilter(self)

    def set_tool(self, tool: str) -> None:
        self.tool = tool if tool in TOOLS else "none"
        self._cursor.setVisible(False)
        cursor = Qt.CursorShape.CrossCursor if self.tool != "none" else Qt.CursorShape.ArrowCursor
        self.canvas.viewport().setCursor(cursor)

    def set_radius(self, radius: float) -> None:
        self.radius = max(float(radius), 0.5)
        self._path.setPen(self._stroke_pen())

    def _stroke_pen(self) -> QPen:
        colour = (
            QColor(*MASK_COLOUR[:3], 150) if self.tool != "erase" else QColor(80, 160, 255, 150)
        )
        pen = QPen(colour, 2 * self.radius)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def _image_point(self, event: QMouseEvent) -> tuple[QPointF, tuple[float, float]]:
        scene = self.canvas.mapToScene(event.position().toPoint())
        return scene, (scene.x() - 0.5, scene.y() - 0.5)  # pixel i's centre is at i + 0.5

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if self.tool == "none" or not self.canvas.has_image():
            return False
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            if getattr(self.canvas, "_space_down", False):
                return False  # Space + drag pans
            scene, point = self._image_point(event)
            self._begin(scene, point)
            return True
        if kind == QEvent.Type.MouseMove:
            scene, point = self._image_point(event)
            self._move(scene, point)
            return self._start is not None
        if kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            if self._start is None:
                return False
            scene, point = self._image_point(event)
            self._finish(scene, point)
            return True
        if kind == QEvent.Type.Leave:
            self._cursor.setVisible(False)
        return False

    def _begin(self, scene: QPointF, point: tuple[float, float]) -> None:
        self._start = scene
        if self.tool in ("brush", "erase"):
            self._points = [point]
            path = QPainterPath(scene)
            path.lineTo(scene)
            self._path.setPen(self._stroke_pen())
            self._path.setPath(path)
            self._path.setVisible(True)
        elif self.tool == "guide":
            self._line.setLine(QLineF(scene, scene))
            self._line.setVisible(True)
        elif self.tool == "crop":
            self._rect.setRect(QRectF(scene, scene))
            self._rect.setVisible(True)

    def _move(self, scene: QPointF, point: tuple[float, float]) -> None:
        if self.tool in ("brush", "erase"):
            r = self.radius
            self._cursor.setRect(QRectF(scene.x() - r, scene.y() - r, 2 * r, 2 * r))
            self._cursor.setVisible(True)
        if self._start is None:  # not dragging
            return
        if self.tool in ("brush", "erase"):
            self._points.append(point)
            path = self._path.path()
            path.lineTo(scene)
            self._path.setPath(path)
        elif self.tool == "guide":
            self._line.setLine(QLineF(self._start, scene))
        elif self.tool == "crop":
            self._rect.setRect(QRectF(self._start, scene).normalized())

    def _finish(self, scene: QPointF, point: tuple[float, float]) -> None:
        start, self._start = self._start, None
        if self.tool in ("brush", "erase"):
            self._points.append(point)
            self._path.setVisible(False)
            self.stroke_finished.emit(list(self._points), self.tool == "erase")
            self._points = []
        elif self.tool == "guide":
            self._line.setVisible(False)
            x0, y0 = start.x() - 0.5, start.y() - 0.5
            if QLineF(start, scene).length() >= 4:
                self.guide_finished.emit(x0, y0, point[0], point[1])
        elif self.tool == "crop":
            self._rect.setVisible(False)
            h, w = self.canvas.image_size()
            rect = QRectF(start, scene).normalized().intersected(QRectF(0, 0, w, h))
            if rect.width() >= 8 and rect.height() >= 8:
                self.crop_finished.emit(
                    int(round(rect.x())), int(round(rect.y())),
                    int(round(rect.width())), int(round(rect.height())),
                )  # fmt: skip


# ----------------------------------------------------------------------------- the editor


class RepairEditor(QObject):
    """Connects the panel and the canvas tools to the document through the undo stack."""

    def __init__(
        self,
        model: DocumentModel,
        undo_stack: QUndoStack,
        canvas: PhotoCanvas,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.undo_stack = undo_stack
        self.canvas = canvas
        self.panel = RepairPanel()
        self.tools = CanvasTools(canvas)
        self.overlay = MaskOverlay()
        canvas.scene().addItem(self.overlay)
        self.tools.set_radius(self.panel.brush_size.value())
        self._ready: tuple[Photo, np.ndarray, QImage] | None = None
        p = self.panel
        p.turn_requested.connect(self.turn)
        p.flip_requested.connect(self.flip)
        p.straighten_requested.connect(self.set_straighten)
        p.reset_geometry_requested.connect(self.reset_geometry)
        p.tool_requested.connect(self.set_tool)
        p.brush_size_changed.connect(self.tools.set_radius)
        p.find_defects_requested.connect(self.find_defects)
        p.clear_mask_requested.connect(self.clear_mask)
        p.show_mask_changed.connect(self._show_mask)
        p.repair_value_requested.connect(self.set_repair_value)
        p.tone_requested.connect(self.set_tone)
        p.export_requested.connect(self.export_repaired)
        self.tools.stroke_finished.connect(self.paint)
        self.tools.guide_finished.connect(self.straighten_along)
        self.tools.crop_finished.connect(self.crop)
        model.photo_changed.connect(self.refresh)
        self.refresh()

    # -- state -----------------------------------------------------------------------------
    @property
    def settings(self) -> RepairSettings:
        doc = self.model.doc
        return RepairSettings() if doc is None else doc.repair

    def refresh(self) -> None:
        doc = self.model.doc
        has_mask = doc is not None and doc.defect_mask is not None and bool(doc.defect_mask.any())
        self.panel.show_settings(self.settings, doc is not None, has_mask)
        self.overlay.set_mask(None if doc is None else mask_overlay(doc))
        self.overlay.setVisible(self.overlay.isVisible() and self.panel.show_mask.isChecked())

    def _show_mask(self, show: bool) -> None:
        self.refresh() if show else self.overlay.setVisible(False)

    def set_tool(self, tool: str) -> None:
        self.tools.set_tool(tool)
        self.panel.set_tool(tool)

    def _push(self, text: str, command: object, merge_key: object = None) -> None:
        doc = self.model.doc
        if doc is None:
            return
        self._prepare(command)
        merge_id = MERGE_SETTING if merge_key is not None else -1
        self.undo_stack.push(DocumentCommand(
            self.model, text, [command], merge_id=merge_id, merge_key=merge_key,
            prepare=self._prepare_replay,
        ))

    def _prepare(self, command: object) -> None:
        """Compute the working photo the edit leads to, and its image, off the GUI thread.

        The edit is applied to a copy of the document (sharing its pixels: nothing is
        changed in place) in a worker thread; the working photo is cached by content, so the
        document returns that very object once the undo stack applies the edit, and the
        window shows the image made here (``display_for``).
        """
        doc = self.model.doc
        preview = copy.copy(doc)
        preview.hints = list(doc.hints)
        try:
            self._ready = run_in_background(
                self.panel.window(), "Repairing…", _preview_display, command, preview
            )
        except Exception:  # noqa: BLE001 - the edit itself then computes (and reports) it
            logger.exception("repair preview failed")
            self._ready = None

    def _prepare_replay(self, commands: list[object], undo: bool) -> None:
        """Before an undo or redo of a repair edit: the working photo it leads back to, off
        the GUI thread (a 12-megapixel inpainting takes seconds; only the newest two working
        photos stay cached)."""
        doc = self.model.doc
        if doc is None:
            return
        preview = copy.copy(doc)
        preview.hints = list(doc.hints)
        try:
            self._ready = run_in_background(
                self.panel.window(), "Repairing…", _replayed_display, commands, undo, preview
            )
        except Exception:  # noqa: BLE001 - the edit itself then computes (and reports) it
            logger.exception("repair preview failed")
            self._ready = None

    def display_for(self, photo: Photo) -> tuple[np.ndarray, QImage] | None:
        """The gray image and ``QImage`` made ahead of time for ``photo``, if any."""
        ready, self._ready = self._ready, None
        if ready is not None and ready[0] is photo:
            return ready[1], ready[2]
        return None

    def _set(self, settings: RepairSettings, text: str, merge_key: object = None) -> None:
        if self.model.doc is None or settings == self.settings:
            return
        self._push(text, SetRepair(settings, text), merge_key)

    # -- geometry --------------------------------------------------------------------------
    def _geometry(self, **changes: object) -> None:
        text = str(changes.pop("_text", "Change geometry"))
        g = replace(self.settings.geometry, **changes)
        self._set(self.settings.with_geometry(g), text)

    def turn(self, direction: int) -> None:
        g = self.settings.geometry
        self._geometry(rotate=(g.rotate + direction) % 4, crop=None, _text="Turn photo")

    def flip(self, axis: str) -> None:
        g = self.settings.geometry
        if axis == "h":
            self._geometry(flip_h=not g.flip_h, crop=None, _text="Flip photo")
        else:
            self._geometry(flip_v=not g.flip_v, crop=None, _text="Flip photo")

    def set_straighten(self, degrees: float) -> None:
        degrees = float(np.clip(degrees, -MAX_STRAIGHTEN, MAX_STRAIGHTEN))
        self._set(
            self.settings.with_geometry(
                replace(self.settings.geometry, straighten=degrees, crop=None)
            ),
            "Straighten photo",
            merge_key=("repair", "straighten"),
        )

    def straighten_along(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """A guide line drawn on the shown photo: turn so that it becomes level (or upright)."""
        total = self.settings.geometry.straighten + angle_of_line(x0, y0, x1, y1)
        total = float(np.clip(total, -MAX_STRAIGHTEN, MAX_STRAIGHTEN))
        g = replace(self.settings.geometry, straighten=round(total, 2), crop=None)
        self._set(self.settings.with_geometry(g), "Straighten along guide line")
        self.set_tool("none")

    def crop(self, x: int, y: int, w: int, h: int) -> None:
        g = self.settings.geometry
        if g.crop is not None:  # the shown photo is already cropped: crop inside that crop
            x, y = x + g.crop[0], y + g.crop[1]
        self._geometry(crop=(x, y, w, h), _text="Crop photo")
        self.set_tool("none")

    def reset_geometry(self) -> None:
        self._set(self.settings.with_geometry(Geometry()), "Reset geometry")

    # -- dust and scratches ----------------------------------------------------------------
    def paint(self, points: list, erase: bool) -> None:
        if self.model.doc is None or not points:
            return
        radius = self.panel.brush_size.value()
        command = PaintMask(points, radius, erase)
        self._push(command.text, command)

    def find_defects(self) -> None:
        doc = self.model.doc
        if doc is None:
            return
        options = DefectOptions(sensitivity=self.settings.sensitivity)
        found = run_in_background(  # on the source photo
            self.panel.window(),
            "Finding dust and scratches…",
            propose_defect_mask,
            doc.photo.lightness,
            options,
        )
        self._push(
            "Find dust and scratches", SetDefectMask(found, "Find dust and scratches", add=True)
        )

    def clear_mask(self) -> None:
        if self.model.doc is not None and self.model.doc.defect_mask is not None:
            self._push("Clear defect marks", SetDefectMask(None, "Clear defect marks"))

    def set_repair_value(self, name: str, value: object) -> None:
        if name == "denoise":
            self._set(replace(self.settings, denoise=float(value)), "Reduce grain",
                      merge_key=("repair", name))  # fmt: skip
        elif name == "inpaint_method":
            self._set(replace(self.settings, inpaint_method=str(value)), "Change fill method")

    # -- tone ------------------------------------------------------------------------------
    def set_tone(self, name: str, strength: float) -> None:
        tone: ToneSettings = replace(self.settings.tone, **{name: float(strength)})
        text = {"levels": "Levels", "clahe": "Local contrast", "cast": "Remove colour cast"}[name]
        self._set(self.settings.with_tone(tone), text, merge_key=("repair", name))

    # -- export ----------------------------------------------------------------------------
    def export_repaired(self, path: str | Path | None = None) -> Path | None:
        """Write the working photo (repaired, before colour); ask where when ``path`` is None."""
        doc = self.model.doc
        photo = self.model.photo
        if doc is None or photo is None:
            return None
        parent = self.panel.window()
        if path is None:
            source = Path(doc.source_path) if doc.source_path else Path.home() / doc.name
            suggested = str(source.with_name(f"{source.stem}-repaired.png"))
            path, _ = QFileDialog.getSaveFileName(
                parent,
                "Export repaired photo",
                suggested,
                "PNG (*.png);;TIFF (*.tif *.tiff);;JPEG (*.jpg *.jpeg)",
            )
            if not path:
                return None
        try:  # the save dialog has asked before replacing a file
            written = run_in_background(
                parent,
                "Exporting the repaired photo…",
                _export_photo,
                photo,
                Path(path),
                doc.source_path,
            )
        except PhotoError as exc:
            QMessageBox.warning(parent, "Export failed", str(exc))
            return None
        return written


def _export_photo(photo: Photo, path: Path, source_path: object) -> Path:
    return export_image(
        photo.rgb,
        path,
        bit_depth=photo.bit_depth,
        overwrite=True,
        icc_profile=photo.icc_profile,
        exif=photo.exif,
        source_path=source_path,
    )


def _preview_display(command: object, preview: object) -> tuple[Photo, np.ndarray, QImage]:
    """(worker thread) The working photo after ``command``, its gray and its image."""
    return _replayed_display([command], False, preview)


def _replayed_display(
    commands: list[object], undo: bool, preview: object
) -> tuple[Photo, np.ndarray, QImage]:
    """(worker thread) The working photo after doing (or undoing, in the order given) the
    ``commands`` on ``preview``, a copy of the document; its gray and its image."""
    for command in commands:
        if undo:
            command.undo(preview)
        else:
            command.do(preview)
    photo = preview.working_photo
    gray = lightness_to_gray_rgb(photo.lightness)
    return photo, gray, rgb_to_qimage(gray)
