"""The photo canvas: a ``QGraphicsView`` showing the photo, its result and the hint points.

It shows state and reports intentions; it edits nothing itself. The main window feeds it the
"before" image (the photo's lightness as gray), the "after" image (the chosen result) and the
hints, and turns its signals into undoable commands.

Mouse: left-click adds a hint, dragging a ring moves it (one ``drag_id`` per drag, so the undo
stack merges the drag into one entry), right-click removes it, Ctrl+wheel over a ring resizes
it, the wheel (or a pinch) zooms around the cursor, the middle button or Space+drag pans.
Before/after: a split divider dragged across the photo, and ``set_comparing`` (hold Space)
shows the original. An eyedropper mode picks a colour from the shown result.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from piggydesk.core.hints import Hint
from piggydesk.ui.hint_items import HintRingItem
from piggydesk.ui.image_convert import rgb_to_pixmap

logger = logging.getLogger(__name__)

MIN_ZOOM = 0.02
MAX_ZOOM = 32.0
DIVIDER_GRAB_PX = 8.0
_drag_ids = itertools.count(1)


class _SplitPixmapItem(QGraphicsPixmapItem):
    """The result image, drawn only right of ``split_x`` (image pixels) when splitting."""

    def __init__(self) -> None:
        super().__init__()
        self.split_x: float | None = None

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self.split_x is not None:
            rect = self.boundingRect()
            painter.setClipRect(QRectF(self.split_x, rect.top(), rect.right() - self.split_x,
                                       rect.height()))
        super().paint(painter, option, widget)


class PhotoCanvas(QGraphicsView):
    hint_add_requested = Signal(float, float)  # image pixels
    hint_move_requested = Signal(int, float, float, int)  # index, x, y, drag id
    hint_drag_finished = Signal(int)
    hint_remove_requested = Signal(int)
    hint_radius_requested = Signal(int, float, int)  # index, new radius, wheel gesture id
    selection_requested = Signal(int)  # index or -1
    color_picked = Signal(object)  # (r, g, b) 8-bit
    eyedropper_changed = Signal(bool)
    zoom_changed = Signal(float)
    files_dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHints(
            QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform
        )
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor(38, 38, 40))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # the main window accepts dropped files
        self.viewport().grabGesture(Qt.GestureType.PinchGesture)

        self._before_item = QGraphicsPixmapItem()
        self._before_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._after_item = _SplitPixmapItem()
        self._after_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._after_item.setZValue(1)
        self._scene.addItem(self._before_item)
        self._scene.addItem(self._after_item)

        self._before_rgb: np.ndarray | None = None
        self._after_rgb: np.ndarray | None = None
        self._rings: list[HintRingItem] = []
        self._selected = -1
        self._show_hints = True
        self._split_enabled = False
        self._split_fraction = 0.5
        self._comparing = False
        self._eyedropper = False
        self._space_down = False
        # interaction state
        self._drag_index = -1
        self._drag_id = 0
        self._drag_offset = QPointF()
        self._dragging_divider = False
        self._pan_last: QPoint | None = None
        self._wheel_id = 0
        self._wheel_hint = -1
        # "Fit" sticks until the person zooms: a resized view (window, docks growing when
        # the first results arrive) shows the whole photo again
        self._fitting = True

    # -- content -----------------------------------------------------------------------
    def has_image(self) -> bool:
        return self._before_rgb is not None

    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the shown photo, ``(0, 0)`` if none."""
        return (0, 0) if self._before_rgb is None else self._before_rgb.shape[:2]

    def set_before(self, rgb: np.ndarray | None, fit: bool = True,
                   image: QImage | None = None) -> None:
        """Show the photo ``rgb``; ``image`` is its ``QImage`` when already made (off the GUI
        thread, for big photos)."""
        self._before_rgb = rgb
        if rgb is None:
            self._before_item.setPixmap(rgb_to_pixmap(np.zeros((1, 1, 3), np.float32)))
            self._before_item.setVisible(False)
            self.set_after(None)
            return
        self._before_item.setPixmap(
            QPixmap.fromImage(image) if image is not None else rgb_to_pixmap(rgb))
        self._before_item.setVisible(True)
        h, w = rgb.shape[:2]
        self._scene.setSceneRect(QRectF(0, 0, w, h))
        if fit:
            self.fit()
        self.viewport().update()

    def set_after(self, rgb: np.ndarray | None, image: QImage | None = None) -> None:
        if rgb is not None and self._before_rgb is not None and rgb.shape[:2] != self._before_rgb.shape[:2]:
            logger.warning("result size %s differs from photo size %s", rgb.shape, self._before_rgb.shape)
        self._after_rgb = rgb
        if rgb is not None:
            self._after_item.setPixmap(
                QPixmap.fromImage(image) if image is not None else rgb_to_pixmap(rgb))
        self._update_after_visibility()

    def after_image(self) -> np.ndarray | None:
        return self._after_rgb

    def before_image(self) -> np.ndarray | None:
        """The photo as shown (the working photo's gray)."""
        return self._before_rgb

    def set_hints(self, hints: list[Hint], selected: int = -1) -> None:
        """Show ``hints``, reusing ring items (cheap during drags)."""
        while len(self._rings) > len(hints):
            self._scene.removeItem(self._rings.pop())
        for i, hint in enumerate(hints):
            if i < len(self._rings):
                self._rings[i].set_hint(hint, i)
            else:
                ring = HintRingItem(hint, i)
                ring.setVisible(self._show_hints)
                self._scene.addItem(ring)
                self._rings.append(ring)
        self.set_selected(selected)

    def set_selected(self, index: int) -> None:
        self._selected = index if 0 <= index < len(self._rings) else -1
        for ring in self._rings:
            ring.set_highlighted(ring.index == self._selected)

    def rings(self) -> list[HintRingItem]:
        return list(self._rings)

    def set_show_hints(self, show: bool) -> None:
        self._show_hints = show
        for ring in self._rings:
            ring.setVisible(show)

    # -- before / after ----------------------------------------------------------------
    def set_split_enabled(self, enabled: bool) -> None:
        self._split_enabled = enabled
        self._update_after_visibility()

    @property
    def split_enabled(self) -> bool:
        return self._split_enabled

    def set_split_fraction(self, fraction: float) -> None:
        self._split_fraction = float(min(max(fraction, 0.0), 1.0))
        self._update_after_visibility()

    @property
    def split_fraction(self) -> float:
        return self._split_fraction

    def set_comparing(self, comparing: bool) -> None:
        """Show the original while ``comparing`` (hold-to-compare)."""
        if comparing != self._comparing:
            self._comparing = comparing
            self._update_after_visibility()

    @property
    def comparing(self) -> bool:
        return self._comparing

    def showing_result(self) -> bool:
        return self._after_item.isVisible()

    def _update_after_visibility(self) -> None:
        visible = self._after_rgb is not None and not self._comparing
        self._after_item.setVisible(visible)
        if self._split_enabled and self._before_rgb is not None:
            self._after_item.split_x = self._split_fraction * self._before_rgb.shape[1]
        else:
            self._after_item.split_x = None
        self._after_item.update()
        self.viewport().update()

    def _divider_view_x(self) -> float | None:
        if not (self._split_enabled and self._after_rgb is not None and self._before_rgb is not None):
            return None
        x = self._split_fraction * self._before_rgb.shape[1]
        return float(self.mapFromScene(QPointF(x, 0)).x())

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        super().drawForeground(painter, rect)
        x = self._divider_view_x()
        if x is None or self._comparing:
            return
        h = self._before_rgb.shape[0]
        painter.save()
        painter.resetTransform()
        top = self.mapFromScene(QPointF(0, 0)).y()
        bottom = self.mapFromScene(QPointF(0, h)).y()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 4))
        painter.drawLine(QPointF(x, top), QPointF(x, bottom))
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(x, top), QPointF(x, bottom))
        mid = (max(top, 0) + min(bottom, self.viewport().height())) / 2
        painter.setBrush(QColor(255, 255, 255))
        painter.setPen(QPen(QColor(0, 0, 0), 1.5))
        painter.drawEllipse(QPointF(x, mid), 9, 9)
        painter.setPen(QPen(QColor(40, 40, 40), 1.5))
        painter.drawLine(QPointF(x - 4, mid), QPointF(x - 1, mid - 3))
        painter.drawLine(QPointF(x - 4, mid), QPointF(x - 1, mid + 3))
        painter.drawLine(QPointF(x + 4, mid), QPointF(x + 1, mid - 3))
        painter.drawLine(QPointF(x + 4, mid), QPointF(x + 1, mid + 3))
        painter.setFont(self.font())
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(QPointF(x - 60, max(top, 0) + 18), "Before")
        painter.drawText(QPointF(x + 14, max(top, 0) + 18), "After")
        painter.restore()

    # -- zoom --------------------------------------------------------------------------
    def zoom(self) -> float:
        return float(self.transform().m11())

    def set_zoom(self, zoom: float, anchor_view: QPointF | None = None) -> None:
        self._fitting = False
        zoom = float(min(max(zoom, MIN_ZOOM), MAX_ZOOM))
        factor = zoom / self.zoom()
        if abs(factor - 1.0) < 1e-9:
            return
        if anchor_view is None:
            self.scale(factor, factor)
        else:
            before = self.mapToScene(anchor_view.toPoint())
            old_anchor = self.transformationAnchor()
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
            self.scale(factor, factor)
            after = self.mapToScene(anchor_view.toPoint())
            delta = after - before
            self.translate(delta.x(), delta.y())
            self.setTransformationAnchor(old_anchor)
        self.zoom_changed.emit(self.zoom())

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * 1.25)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / 1.25)

    def actual_size(self) -> None:
        """100%: one image pixel per physical screen pixel (sharp on HiDPI screens)."""
        self.set_zoom(1.0 / max(self.devicePixelRatioF(), 1.0))

    def fit(self) -> None:
        """Show the whole photo, and keep showing it whole when the view is resized (until
        the next zoom)."""
        self._fitting = True
        if self._before_rgb is None:
            return
        h, w = self._before_rgb.shape[:2]
        self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom())

    def is_fitting(self) -> bool:
        """Whether the view follows its size to show the whole photo (Fit, not a zoom)."""
        return self._fitting

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fitting and self._before_rgb is not None:
            self.fit()

    # -- eyedropper --------------------------------------------------------------------
    def set_eyedropper(self, on: bool) -> None:
        if on != self._eyedropper:
            self._eyedropper = on
            self.viewport().setCursor(
                QCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)
            )
            self.eyedropper_changed.emit(on)

    @property
    def eyedropper(self) -> bool:
        return self._eyedropper

    def color_at(self, x: float, y: float) -> tuple[int, int, int] | None:
        """Mean colour of the 3x3 pixels around (x, y) in the shown result (or the photo)."""
        source = self._after_rgb if self._after_rgb is not None else self._before_rgb
        if source is None:
            return None
        h, w = source.shape[:2]
        xi, yi = int(x), int(y)
        if not (0 <= xi < w and 0 <= yi < h):
            return None
        patch = source[max(yi - 1, 0) : yi + 2, max(xi - 1, 0) : xi + 2].reshape(-1, 3)
        mean = np.clip(np.rint(patch.mean(axis=0) * 255.0), 0, 255).astype(int)
        return int(mean[0]), int(mean[1]), int(mean[2])

    # -- hit testing -------------------------------------------------------------------
    def hint_at(self, view_pos: QPointF) -> int:
        """Index of the topmost ring under ``view_pos`` (view pixels), the selected one first."""
        best, best_d = -1, float("inf")
        for ring in self._rings:
            if not ring.isVisible():
                continue
            centre = self.mapFromScene(ring.pos())
            d = ((centre.x() - view_pos.x()) ** 2 + (centre.y() - view_pos.y()) ** 2) ** 0.5
            limit = ring.screen_radius() + 3.0
            if d <= limit and (d < best_d or ring.index == self._selected):
                best, best_d = ring.index, (-1.0 if ring.index == self._selected else d)
        return best

    def _image_point(self, view_pos: QPointF) -> QPointF:
        return self.mapToScene(view_pos.toPoint())

    def _inside_image(self, p: QPointF) -> bool:
        if self._before_rgb is None:
            return False
        h, w = self._before_rgb.shape[:2]
        return 0 <= p.x() < w and 0 <= p.y() < h

    def _clamp(self, p: QPointF) -> tuple[float, float]:
        h, w = self._before_rgb.shape[:2]
        return float(min(max(p.x(), 0.0), w - 1.0)), float(min(max(p.y(), 0.0), h - 1.0))

    # -- events ------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._pan_last = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if self._before_rgb is None:
            super().mousePressEvent(event)
            return
        if button == Qt.MouseButton.LeftButton:
            divider = self._divider_view_x()
            if divider is not None and abs(pos.x() - divider) <= DIVIDER_GRAB_PX:
                self._dragging_divider = True
                event.accept()
                return
            p = self._image_point(pos)
            if self._eyedropper:
                color = self.color_at(p.x(), p.y())
                if color is not None:
                    self.color_picked.emit(color)
                self.set_eyedropper(False)
                event.accept()
                return
            index = self.hint_at(pos)
            if index >= 0:
                self.selection_requested.emit(index)
                ring = self._rings[index]
                self._drag_index = index
                self._drag_id = next(_drag_ids)
                self._drag_offset = ring.pos() - p
            elif self._inside_image(p):
                x, y = self._clamp(p - QPointF(0.5, 0.5))  # pixel i's centre is at i + 0.5
                self.hint_add_requested.emit(x, y)
            else:
                self.selection_requested.emit(-1)
            event.accept()
            return
        if button == Qt.MouseButton.RightButton:
            index = self.hint_at(pos)
            if index >= 0:
                self.hint_remove_requested.emit(index)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._pan_last is not None:
            delta = pos.toPoint() - self._pan_last
            self._pan_last = pos.toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        if self._dragging_divider and self._before_rgb is not None:
            p = self._image_point(pos)
            self.set_split_fraction(p.x() / self._before_rgb.shape[1])
            event.accept()
            return
        if self._drag_index >= 0 and self._before_rgb is not None:
            p = self._image_point(pos) + self._drag_offset
            x, y = self._clamp(p - QPointF(0.5, 0.5))
            self.hint_move_requested.emit(self._drag_index, x, y, self._drag_id)
            event.accept()
            return
        if not self._eyedropper and self._before_rgb is not None:
            divider = self._divider_view_x()
            over = self.hint_at(pos) >= 0
            near_divider = divider is not None and abs(pos.x() - divider) <= DIVIDER_GRAB_PX
            shape = (
                Qt.CursorShape.SplitHCursor if near_divider
                else Qt.CursorShape.OpenHandCursor if (over or self._space_down)
                else Qt.CursorShape.CrossCursor
            )
            self.viewport().setCursor(shape)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_last is not None:
            self._pan_last = None
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        if self._dragging_divider:
            self._dragging_divider = False
            event.accept()
            return
        if self._drag_index >= 0:
            index = self._drag_index
            self._drag_index = -1
            self.hint_drag_finished.emit(index)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if not delta:
            return
        if event.modifiers() & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        ):
            index = self.hint_at(event.position())
            if index < 0:
                index = self._selected
            if index >= 0:
                if index != self._wheel_hint:
                    self._wheel_hint = index
                    self._wheel_id = next(_drag_ids)
                radius = self._rings[index].hint.radius
                step = 0.5 if delta > 0 else -0.5
                self.hint_radius_requested.emit(index, max(0.5, radius + step), self._wheel_id)
                event.accept()
                return
        self._wheel_hint = -1
        self.set_zoom(self.zoom() * (1.0015 ** delta), event.position())
        event.accept()

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.NativeGesture:
            gesture = event  # type: QNativeGestureEvent
            if gesture.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
                self.set_zoom(self.zoom() * (1.0 + gesture.value()), gesture.position())
                return True
        if event.type() == QEvent.Type.Gesture:
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if pinch is not None:
                self.set_zoom(self.zoom() * pinch.scaleFactor(),
                              self.viewport().mapFromGlobal(pinch.centerPoint().toPoint()).toPointF())
                return True
        return super().viewportEvent(event)

    def set_space_held(self, held: bool) -> None:
        """Space held: pan with the left button and show the original (hold-to-compare)."""
        self._space_down = held
        self.set_comparing(held)
