"""``python -m kmodbuild.linux``: ``kmodbuild check --flavor linux`` with a lean start-up."""
from kmodbuild.linux.command import main

raise SystemExit(main())
