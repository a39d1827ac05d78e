"""Export the API's OpenAPI document to docs/openapi.json (a test keeps it current):
`python -m worker.api.openapi`."""

from __future__ import annotations

import json
from pathlib import Path

from worker.api.app import create_app
from worker.config import load_settings

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def render() -> str:
    app = create_app(load_settings(database_url=None))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(render(), encoding="utf-8")
    print(DOCUMENT)
