"""Hint rings drawn on the canvas: the same screen size at every zoom, visible on any background.

Each ring ignores the view's transformation (``ItemIgnoresTransformations``), so it is drawn in
screen pixels at the hint's image position: a black outer ring, a white inner ring, the hint's
colour inside, and a blue halo when selected. Its size grows gently with the hint's radius.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from piggydesk.core.hints import Hint

logger = logging.getLogger(__name__)

SELECTED_COLOR = QColor(0, 190, 255)
HINT_Z = 10.0


def ring_radius(hint_radius: float) -> float:
    """Screen radius (logical pixels) of a hint's ring for a radius in working pixels."""
    return max(6.0, min(24.0, 6.0 + 1.5 * float(hint_radius)))


class HintRingItem(QGraphicsItem):
    """One hint, positioned at its image coordinates (the pixel centre)."""

    def __init__(self, hint: Hint, index: int) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # the view handles the mouse
        self.setZValue(HINT_Z)
        self.index = index
        self._hint = hint
        self._selected = False
        self._sync_position()

    @property
    def hint(self) -> Hint:
        return self._hint

    def set_hint(self, hint: Hint, index: int) -> None:
        if hint.radius != self._hint.radius:
            self.prepareGeometryChange()
        self._hint = hint
        self.index = index
        self._sync_position()
        self.update()

    def set_highlighted(self, selected: bool) -> None:
        if selected != self._selected:
            self._selected = selected
            self.setZValue(HINT_Z + (1 if selected else 0))
            self.update()

    @property
    def highlighted(self) -> bool:
        return self._selected

    def screen_radius(self) -> float:
        return ring_radius(self._hint.radius)

    def _sync_position(self) -> None:
        self.setPos(QPointF(self._hint.x + 0.5, self._hint.y + 0.5))

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        r = self.screen_radius() + 7.0
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(  # noqa: D401 - Qt API
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        r = self.screen_radius()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self._selected:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 200), 5.0))
            painter.drawEllipse(QPointF(0, 0), r + 4.0, r + 4.0)
            painter.setPen(QPen(SELECTED_COLOR, 3.0))
            painter.drawEllipse(QPointF(0, 0), r + 4.0, r + 4.0)
        painter.setBrush(QBrush(QColor(*self._hint.color)))
        painter.setPen(QPen(QColor(0, 0, 0), 3.0))
        painter.drawEllipse(QPointF(0, 0), r, r)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        painter.drawEllipse(QPointF(0, 0), r - 1.5, r - 1.5)
