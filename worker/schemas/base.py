"""Common model configuration for the API schemas."""

from pydantic import BaseModel, ConfigDict


class CreateModel(BaseModel):
    """What a client sends: unknown fields are errors, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReadModel(BaseModel):
    """What the database holds, read back (from ORM objects or asyncpg records)."""

    model_config = ConfigDict(from_attributes=True)
