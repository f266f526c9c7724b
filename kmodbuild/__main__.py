"""``python -m kmodbuild``: same as the ``kmodbuild`` command."""
from kmodbuild.cli import main

raise SystemExit(main())
