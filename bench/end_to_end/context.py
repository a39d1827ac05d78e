"""What every step of one benchmark run shares."""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.end_to_end.node import NodeSide


@dataclass
class Bench:
    args: argparse.Namespace
    node: NodeSide
    env: dict[str, str]
    dirs: dict[str, Path]
    datasets: dict[str, uuid.UUID] = field(default_factory=dict)
    strategy: uuid.UUID = field(default_factory=uuid.uuid4)  # set by setup()
    clock_offset: float = 0.0
    artifacts_off: str = "untested"  # supported | not supported (…) | untested
