"""Engine error types.

Every problem caused by the caller's input is an :class:`EngineInputError`: the queue marks
the run failed at once (no retry) and stores ``{"type", "message", "detail"}`` as the run's
``error``. ``.type`` is a short machine code, ``.message`` a sentence a person can act on,
``.detail`` a JSON-safe dict.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base class of everything the engine raises on purpose."""

    type: str = "engine_error"

    def __init__(
        self, message: str, *, type: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        if type is not None:
            self.type = type
        self.message = message
        self.detail: dict[str, Any] = detail or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape stored in ``runs.error``."""
        return {"type": self.type, "message": self.message, "detail": self.detail}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r}, message={self.message!r})"


class EngineInputError(EngineError):
    """Bad input: permanent, never retried.

    Types used: ``unknown_strategy``, ``invalid_params``, ``invalid_config``,
    ``empty_window``, ``unknown_symbol``, ``invalid_bars``, ``invalid_dataset``,
    ``invalid_grid``, ``dataset_not_found``.
    """

    type = "invalid_input"


class DatasetValidationError(EngineInputError):
    """A bars file breaks a rule; ``detail`` holds ``row`` (1-based data row) and ``rule``."""

    type = "invalid_dataset"


class RunCancelled(EngineError):
    """``should_cancel()`` returned True; the run stops between stages or chunks."""

    type = "cancelled"
