"""Run the provguard command line: python -m provguard."""

from provguard.cli import main

raise SystemExit(main())
