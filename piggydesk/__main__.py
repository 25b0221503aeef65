"""``python -m piggydesk``: the same as the ``piggydesk`` command."""

from piggydesk.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
