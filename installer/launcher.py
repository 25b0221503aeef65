"""The script PyInstaller freezes: both executables (windowed ``PiggyDesk`` and console
``piggydesk-cli``) start here and ``piggydesk.frozen.launch`` routes to the GUI or the CLI."""

from piggydesk.frozen import launch

if __name__ == "__main__":
    raise SystemExit(launch())
