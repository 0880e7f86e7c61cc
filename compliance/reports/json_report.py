"""Machine output: one JSON object with the findings, the tool and the summary.

The shape is documented in docs/json-report.md and pinned by docs/json-report.schema.json;
`version` only changes when a field changes meaning or goes away, so scripts can rely on it.
"""

from __future__ import annotations

import json
from typing import Any

from compliance import __version__

FORMAT_VERSION = 1


def build(result: Any, *, include_suppressed: bool = False) -> dict[str, Any]:
    """The report as a dict, for callers that embed it rather than print it."""
    return {
        "version": FORMAT_VERSION,
        "tool": {"name": "compliance", "version": __version__},
        # result.reported keeps the engine's order (path, line, column, severity), so two runs
        # over the same files diff cleanly
        "findings": [f.to_dict() for f in result.reported(include_suppressed)],
        "summary": result.summary(),
    }


def render(result: Any, *, include_suppressed: bool = False, color: bool = False) -> str:
    # color is ignored: escape codes would corrupt the JSON
    data = build(result, include_suppressed=include_suppressed)
    # ensure_ascii=False keeps non-English message text readable in the file; JSON still
    # escapes control characters, so the output stays one valid UTF-8 document
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
