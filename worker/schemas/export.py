"""Export the schemas' JSON Schema to docs/schemas/ so Node.js validates with the same rules."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

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


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in render_schemas().items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas(Path(__file__).resolve().parents[2] / "docs" / "schemas"):
        print(path)
