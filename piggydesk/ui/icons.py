"""Toolbar icons drawn with QPainter (crisp at any device pixel ratio, no image files).

Each icon is a few strokes in one colour that reads on light and dark toolbars; they are drawn
once, at 1x and 2x, and cached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

logger = logging.getLogger(__name__)

SIZE = 20
INK = QColor(70, 70, 76)
ACCENT = QColor(0, 150, 220)


def _folder(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(2, 5)
    path.lineTo(8, 5)
    path.lineTo(10, 7)
    path.lineTo(18, 7)
    path.lineTo(18, 16)
    path.lineTo(2, 16)
    path.closeSubpath()
    p.drawPath(path)


def _save(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(3, 3, 14, 14), 1.5, 1.5)
    p.drawRect(QRectF(6, 3, 8, 5))
    p.drawRect(QRectF(6, 11, 8, 6))


def _export(p: QPainter) -> None:
    p.drawPolyline([QPointF(7, 8), QPointF(3, 8), QPointF(3, 17), QPointF(17, 17),
                    QPointF(17, 8), QPointF(13, 8)])
    p.drawLine(QPointF(10, 13), QPointF(10, 2))
    p.drawPolyline([QPointF(6.5, 5.5), QPointF(10, 2), QPointF(13.5, 5.5)])


def _arrow(p: QPainter, mirror: bool) -> None:
    if mirror:
        p.translate(SIZE, 0)
        p.scale(-1, 1)
    path = QPainterPath()
    path.moveTo(5, 8)
    path.cubicTo(9, 3, 17, 5, 16, 12)
    path.cubicTo(15.5, 15, 13, 16, 11, 16)
    p.drawPath(path)
    p.drawPolyline([QPointF(4, 3.5), QPointF(4.5, 8.5), QPointF(9.5, 8)])


def _fit(p: QPainter) -> None:
    for x, y, dx, dy in ((3, 3, 1, 1), (17, 3, -1, 1), (3, 17, 1, -1), (17, 17, -1, -1)):
        p.drawPolyline([QPointF(x, y + 5 * dy), QPointF(x, y), QPointF(x + 5 * dx, y)])
    p.drawRect(QRectF(7, 7, 6, 6))


def _actual(p: QPainter) -> None:
    font = p.font()
    font.setPixelSize(9)
    font.setBold(True)
    p.setFont(font)
    p.drawRoundedRect(QRectF(2, 4, 16, 12), 2, 2)
    p.drawText(QRectF(2, 4, 16, 12), Qt.AlignmentFlag.AlignCenter, "1:1")


def _split(p: QPainter) -> None:
    p.drawRect(QRectF(2.5, 4, 15, 12))
    p.fillRect(QRectF(10, 4, 7.5, 12), ACCENT)
    p.drawLine(QPointF(10, 2), QPointF(10, 18))


def _hints(p: QPainter) -> None:
    p.setBrush(QColor(215, 80, 60))
    p.drawEllipse(QPointF(7, 8), 3.5, 3.5)
    p.setBrush(ACCENT)
    p.drawEllipse(QPointF(13.5, 13), 3.5, 3.5)


def _eyedropper(p: QPainter) -> None:
    p.drawLine(QPointF(4, 16), QPointF(12, 8))
    p.drawLine(QPointF(10, 6), QPointF(14, 10))
    p.setBrush(INK)
    p.drawEllipse(QPointF(14.5, 5.5), 3, 3)
    p.drawPoint(QPointF(3.5, 16.5))


def _colorize(p: QPainter) -> None:
    colors = (QColor(230, 80, 60), QColor(240, 190, 40), QColor(60, 170, 90), ACCENT)
    for i, color in enumerate(colors):
        p.setBrush(color)
        p.drawPie(QRectF(3, 3, 14, 14), i * 90 * 16, 90 * 16)


DRAWINGS: dict[str, Callable[[QPainter], None]] = {
    "open": _folder,
    "save": _save,
    "export": _export,
    "undo": lambda p: _arrow(p, False),
    "redo": lambda p: _arrow(p, True),
    "fit": _fit,
    "actual": _actual,
    "split": _split,
    "hints": _hints,
    "eyedropper": _eyedropper,
    "colorize": _colorize,
}


def _pixmap(name: str, scale: int, ink: QColor) -> QPixmap:
    pixmap = QPixmap(SIZE * scale, SIZE * scale)
    pixmap.fill(Qt.GlobalColor.transparent)
    pixmap.setDevicePixelRatio(scale)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    pen = QPen(ink, 1.6)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    DRAWINGS[name](painter)
    painter.end()
    return pixmap


@cache
def icon(name: str) -> QIcon:
    """The icon called ``name`` (see ``DRAWINGS``), with a greyed version for disabled actions."""
    result = QIcon()
    for scale in (1, 2):
        result.addPixmap(_pixmap(name, scale, INK), QIcon.Mode.Normal)
        result.addPixmap(_pixmap(name, scale, QColor(170, 170, 170)), QIcon.Mode.Disabled)
    return result
