"""What the main window does with a person's gestures on the document: each becomes one
undoable command.

``DocumentEdits`` is a mixin of ``MainWindow``: a click on the photo adds a hint, a drag moves
it (one undo entry per drag), Ctrl+wheel or the slider resizes it, a colour recolours the
selected hint, a panel edit changes a setting (typing merges into one entry), a thumbnail
chooses a variant and "Use these settings" restores a variant's ``RunSettings``. Every edit is a
core command (``core.document``) wrapped in ``ui.undo.DocumentCommand`` and pushed on the
window's undo stack; the ``DocumentModel`` then tells the widgets what changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from piggydesk.core.hints import Hint
from piggydesk.ui.undo import (
    MERGE_MOVE,
    MERGE_RESIZE,
    MERGE_SETTING,
    MERGE_TEXT,
    DocumentCommand,
)

if TYPE_CHECKING:
    from piggydesk.ui.main_window import MainWindow

TEXT_SETTINGS = ("prompt", "negative_prompt")
REMEMBERED_SETTINGS = ("num_variants", "steps", "guidance_scale", "random_seed", "engine")
SETTING_LABELS = {
    "prompt": "Edit prompt",
    "negative_prompt": "Edit negative prompt",
    "engine": "Change engine",
    "num_variants": "Change number of variants",
    "seed": "Change seed",
    "random_seed": "Toggle random seed",
    "steps": "Change steps",
    "guidance_scale": "Change guidance",
    "vividness": "Change vividness",
    "freedom": "Change freedom",
    "fast": "Toggle fast sampling",
    "conditioning_scale": "Change ControlNet strength",
}


class DocumentEdits:
    """Edit handlers of ``MainWindow`` (see the module docstring)."""

    def push(self: MainWindow, command: DocumentCommand) -> None:
        self.undo_stack.push(command)
        self._update_actions()

    def add_hint(self: MainWindow, x: float, y: float) -> None:
        if self.model.photo is None:
            return
        hint = Hint(x=x, y=y, color=self.colour_panel.current_color,
                    radius=self.settings.get("hint_radius"))
        index = len(self.model.hints())
        self.push(DocumentCommand(self.model, "Add hint", [self.model.cmd_add_hint(hint)],
                                  select_after=index))
        self._remember_color(hint.color)

    def move_hint(self: MainWindow, index: int, x: float, y: float, drag_id: int) -> None:
        hints = self.model.hints()
        if not 0 <= index < len(hints) or (hints[index].x, hints[index].y) == (x, y):
            return
        self.push(DocumentCommand(self.model, "Move hint", [self.model.cmd_move_hint(index, x, y)],
                                  merge_id=MERGE_MOVE, merge_key=(index, drag_id),
                                  select_after=index))

    def resize_hint(self: MainWindow, index: int, radius: float, gesture_id: int) -> None:
        hints = self.model.hints()
        if not 0 <= index < len(hints) or hints[index].radius == radius:
            return
        self.push(DocumentCommand(self.model, "Resize hint",
                                  [self.model.cmd_resize_hint(index, radius)],
                                  merge_id=MERGE_RESIZE, merge_key=(index, gesture_id),
                                  select_after=index))
        self.set_status(f"Hint radius {radius:g} (Ctrl+wheel over a hint changes it)")

    def _radius_from_slider(self: MainWindow, radius: float, gesture_id: int) -> None:
        if self.model.selected >= 0:
            self.resize_hint(self.model.selected, radius, gesture_id)
            self.settings.set("hint_radius", radius)

    def remove_hint(self: MainWindow, index: int) -> None:
        if 0 <= index < len(self.model.hints()):
            self.push(DocumentCommand(self.model, "Delete hint",
                                      [self.model.cmd_remove_hint(index)], select_after=-1))

    def delete_selected_hint(self: MainWindow) -> None:
        self.remove_hint(self.model.selected)

    def recolour_hint(self: MainWindow, index: int, color: tuple[int, int, int]) -> None:
        hints = self.model.hints()
        if 0 <= index < len(hints) and hints[index].color != tuple(color):
            self.push(DocumentCommand(self.model, "Recolour hint",
                                      [self.model.cmd_recolour_hint(index, color)],
                                      select_after=index))

    def clear_hints(self: MainWindow) -> None:
        if self.model.hints():
            self.push(DocumentCommand(self.model, "Clear hints", [self.model.cmd_clear_hints()],
                                      select_after=-1))

    def apply_color(self: MainWindow, color: tuple[int, int, int]) -> None:
        """A colour was picked: it becomes the current colour and recolours the selected hint."""
        self.colour_panel.set_current_color(color)
        self.settings.set("current_color", "#{:02x}{:02x}{:02x}".format(*color))
        if self.model.selected >= 0:
            self.recolour_hint(self.model.selected, color)
            self._remember_color(color)

    def _remember_color(self: MainWindow, color: tuple[int, int, int]) -> None:
        self.colour_panel.set_recent(
            self.settings.add_recent_color("#{:02x}{:02x}{:02x}".format(*color))
        )

    def edit_setting(self: MainWindow, name: str, value: object) -> None:
        if self.model.value(name) == value:
            return
        merge = MERGE_TEXT if name in TEXT_SETTINGS else MERGE_SETTING
        self.push(DocumentCommand(self.model, SETTING_LABELS.get(name, f"Change {name}"),
                                  [self.model.cmd_set_value(name, value)],
                                  merge_id=merge, merge_key=name))
        if name in REMEMBERED_SETTINGS:
            self.settings.set(name, value)

    def choose_variant(self: MainWindow, run_index: int, variant_index: int) -> None:
        self.runs.drop_preview()
        if (run_index, variant_index) != self.model.chosen():
            self.push(DocumentCommand(self.model, f"Choose variant {variant_index + 1}",
                                      [self.model.cmd_choose_variant(run_index, variant_index)]))
        else:
            self._show_result()

    def use_settings(self: MainWindow, run_index: int, variant_index: int) -> None:
        """Restore the engine, seed, prompt and hints that produced a variant (one undo step)."""
        commands = self.model.cmd_use_settings(run_index, variant_index)
        if not commands:
            return
        self.push(DocumentCommand(self.model, "Use these settings", commands, select_after=-1))
        restore = commands[0]
        dropped = (f" {restore.dropped} hint{'s' * (restore.dropped != 1)} lay outside the "
                   "present crop and were left out." if restore.dropped else "")
        self.set_status(f"Restored the settings of variant {variant_index + 1} "
                        f"(seed {restore.settings.seed}).{dropped}")

    def set_show_hints(self: MainWindow, show: bool) -> None:
        self.settings.set("show_hints", show)
        self.canvas.set_show_hints(show)

    def _on_color_picked(self: MainWindow, color: tuple[int, int, int]) -> None:
        self.apply_color(color)
        self.set_status("Picked {} from the result.".format("#{:02x}{:02x}{:02x}".format(*color)))

    def _on_eyedropper_changed(self: MainWindow, on: bool) -> None:
        self.eyedropper_action.setChecked(on)
        self.colour_panel.set_eyedropper_checked(on)
