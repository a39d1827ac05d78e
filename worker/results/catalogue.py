"""The artifacts a run can ask for (`runs.config.artifacts`): one entry per name.

Defaults follow measured cost (`bench/artifacts.py`, figures in docs/benchmark-log.md): the
reports, the trade list and the full-resolution equity curve as parquet are cheap at every
size; the equity CSV repeats the parquet at 13x its size and 8x its time on a million bars,
and the PNG costs 0.2 s on a daily run and 11 s on a million bars, so both are written only
when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.db.enums import ArtifactKind


@dataclass(frozen=True)
class ArtifactSpec:
    name: str
    filename: str
    kind: ArtifactKind
    mime_type: str
    default: bool
    description: str


ARTIFACTS: dict[str, ArtifactSpec] = {
    spec.name: spec
    for spec in (
        ArtifactSpec(
            "report_html",
            "report.html",
            ArtifactKind.REPORT,
            "text/html; charset=utf-8",
            True,
            "self-contained interactive tearsheet (charts drawn in the browser, no network)",
        ),
        ArtifactSpec(
            "report_json",
            "report.json",
            ArtifactKind.JSON,
            "application/json",
            True,
            "metrics (undefined ones listed), buy-and-hold figures, drawdown periods, "
            "period returns, identity, config, timings",
        ),
        ArtifactSpec(
            "trades_csv",
            "trades.csv",
            ArtifactKind.CSV,
            "text/csv",
            True,
            "every closed trade",
        ),
        ArtifactSpec(
            "equity_parquet",
            "equity.parquet",
            ArtifactKind.PARQUET,
            "application/vnd.apache.parquet",
            True,
            "the equity curve, one row per bar (LZ4)",
        ),
        ArtifactSpec(
            "leaderboard_csv",
            "leaderboard.csv",
            ArtifactKind.CSV,
            "text/csv",
            True,
            "grid runs only: every parameter combination with its metrics, best first",
        ),
        ArtifactSpec(
            "equity_csv",
            "equity.csv",
            ArtifactKind.CSV,
            "text/csv",
            False,
            "the equity curve as CSV (the same rows as equity.parquet)",
        ),
        ArtifactSpec(
            "equity_png",
            "equity.png",
            ArtifactKind.PLOT,
            "image/png",
            False,
            "static chart: equity, drawdown beneath, trade markers (matplotlib)",
        ),
    )
}

ARTIFACT_NAMES: frozenset[str] = frozenset(ARTIFACTS)
DEFAULT_ARTIFACTS: frozenset[str] = frozenset(s.name for s in ARTIFACTS.values() if s.default)
