"""``python -m lowlat`` is the ``lowlat`` command."""

from lowlat.cli.main import main

raise SystemExit(main())
