"""The worker's keys of runs.config: one list, shared by the engine (which drops them) and the
pipeline (which validates them)."""

from __future__ import annotations

from worker.engine.params import WORKER_CONFIG_KEYS
from worker.pipeline.inputs import RunOptions
from worker.results.catalogue import DEFAULT_ARTIFACTS


def test_the_engine_drops_exactly_the_keys_the_pipeline_validates() -> None:
    assert set(RunOptions.model_fields) == WORKER_CONFIG_KEYS


def test_artifacts_default_to_the_catalogue_defaults_and_an_empty_list_means_none() -> None:
    assert RunOptions().artifact_selection == DEFAULT_ARTIFACTS
    assert RunOptions(artifacts=()).artifact_selection == frozenset()
    assert RunOptions(tags=(" a ",)).tags == ("a",)
