"""Undo/redo: ``QUndoCommand``s that wrap core's Qt-free document commands.

Each ``DocumentCommand`` holds one or more core commands (``do``/``undo`` on the document) and
applies them through the ``DocumentModel`` so the right ``*_changed`` signals fire. Merging
(``mergeWith``) appends the newer command's core commands, so undo replays them in reverse:
exact whatever the command is. What merges:

* a drag of one hint (same ``drag_id``): one entry per drag, not per mouse move;
* one wheel gesture resizing one hint (same gesture id);
* typing in one text field, as long as the pauses are shorter than ``TYPING_PAUSE_S``;
* spin box changes of one setting in quick succession.

``prepare`` (optional) is called with the core commands about to be replayed and whether they
are undone, before an undo and before every redo but the first: the repair dock uses it to
compute the working photo they lead to off the GUI thread (``ui.repair_panel``). The GUI's
event loop runs meanwhile, inside the stack's undo or redo, so the model says so
(``DocumentModel.replaying``) and nothing pushes until it is over (a run that lands then
waits: ``ui.run_controller``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from piggydesk.ui.document_model import DocumentModel

logger = logging.getLogger(__name__)

TYPING_PAUSE_S = 1.5
MERGE_MOVE = 1
MERGE_RESIZE = 2
MERGE_TEXT = 3
MERGE_SETTING = 4


class DocumentCommand(QUndoCommand):
    """A user-visible edit made of core commands applied in order.

    ``merge_id``: -1 never merges; otherwise commands with the same ``merge_id`` and equal
    ``merge_key`` merge (and, for text, only within ``TYPING_PAUSE_S`` of each other).
    """

    def __init__(
        self,
        model: DocumentModel,
        text: str,
        core_commands: list[Any],
        *,
        merge_id: int = -1,
        merge_key: Any = None,
        select_after: int | None = None,
        prepare: Callable[[list[Any], bool], None] | None = None,
    ) -> None:
        super().__init__(text)
        self._model = model
        self._commands = list(core_commands)
        self._merge_id = merge_id
        self._merge_key = merge_key
        self._stamp = time.monotonic()
        self._select_after = select_after
        self._select_before = model.selected
        self._prepare = prepare
        self._pushed = False  # the first redo is the push itself: its caller prepared it

    @property
    def core_commands(self) -> list[Any]:
        return list(self._commands)

    def id(self) -> int:  # noqa: A003 - Qt API
        return self._merge_id

    def redo(self) -> None:
        if self._prepare is not None and self._pushed:
            self._prepared(list(self._commands), False)
        self._pushed = True
        with self._model.batch():
            for command in self._commands:
                self._model.apply(command)
            if self._select_after is not None:
                self._model.set_selected(self._select_after)

    def undo(self) -> None:
        if self._prepare is not None:
            self._prepared(list(reversed(self._commands)), True)
        with self._model.batch():
            for command in reversed(self._commands):
                self._model.revert(command)
            self._model.set_selected(self._select_before)

    def _prepared(self, commands: list[Any], undo: bool) -> None:
        assert self._prepare is not None
        self._model.replaying = True
        try:
            self._prepare(commands, undo)
        finally:
            self._model.replaying = False

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, DocumentCommand) or other._merge_id != self._merge_id:
            return False
        if other._merge_key != self._merge_key:
            return False
        if self._merge_id in (MERGE_TEXT, MERGE_SETTING) and (
            other._stamp - self._stamp > TYPING_PAUSE_S
        ):
            return False
        self._commands.extend(other._commands)
        self._stamp = other._stamp
        if other._select_after is not None:
            self._select_after = other._select_after
        return True
