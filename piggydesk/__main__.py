"""``python -m piggydesk``: the same as the ``piggydesk`` command."""

from piggydesk.cli import main

raise SystemExit(main())
