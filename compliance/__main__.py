from __future__ import annotations

from compliance.cli import main

raise SystemExit(main())
