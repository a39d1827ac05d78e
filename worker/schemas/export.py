"""Export the schemas' JSON Schema to docs/schemas/, and the input bounds to the Node client
(clients/node/limits.json), so Node.js validates with the same rules."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from worker.bounds import MAX_INPUT_BYTES, MAX_INPUT_DEPTH
from worker.schemas.artifact import ArtifactCreate, ArtifactRead
from worker.schemas.dataset import DatasetCreate, DatasetRead
from worker.schemas.event import EventCreate, EventRead
from worker.schemas.run import RunCreate, RunRead
from worker.schemas.strategy import StrategyCreate, StrategyRead

EXPORTED: dict[str, type[BaseModel]] = {
    "dataset.create": DatasetCreate,
    "dataset.read": DatasetRead,
    "strategy.create": StrategyCreate,
    "strategy.read": StrategyRead,
    "run.create": RunCreate,
    "run.read": RunRead,
    "artifact.create": ArtifactCreate,
    "artifact.read": ArtifactRead,
    "event.create": EventCreate,
    "event.read": EventRead,
}


def render_schemas() -> dict[str, str]:
    """File name -> JSON text, deterministic, for every exported model."""
    rendered = {}
    for name, model in EXPORTED.items():
        mode: JsonSchemaMode = "validation" if name.endswith(".create") else "serialization"
        schema = model.model_json_schema(mode=mode)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{name}.schema.json"
        rendered[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return rendered


def render_client_limits() -> str:
    """The input bounds for the Node client (clients/node/limits.json)."""
    limits = {"maxJsonBytes": MAX_INPUT_BYTES, "maxJsonDepth": MAX_INPUT_DEPTH}
    return json.dumps(limits, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in render_schemas().items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    for path in write_schemas(root / "docs" / "schemas"):
        print(path)
    limits = root / "clients" / "node" / "limits.json"
    limits.write_text(render_client_limits(), encoding="utf-8")
    print(limits)
