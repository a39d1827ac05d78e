"""docs/openapi.json is the document the app serves; regenerate with
`python -m worker.api.openapi` when a route or schema changes."""

from __future__ import annotations

import json

from worker.api.openapi import DOCUMENT, render


def test_the_exported_document_is_current() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(), (
        "docs/openapi.json is stale: run `python -m worker.api.openapi`"
    )


def test_every_route_but_health_needs_a_key_and_documents_problems() -> None:
    document = json.loads(render())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in ("/healthz", "/readyz"):
                assert "security" not in operation
                continue
            assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
            assert "application/problem+json" in operation["responses"]["401"]["content"]


def test_the_node_constants_are_current() -> None:
    from worker.api.node_constants import TARGET
    from worker.api.node_constants import render as render_constants

    assert TARGET.read_text(encoding="utf-8") == render_constants(), (
        "clients/node/constants.js is stale: run `python -m worker.api.node_constants`"
    )
