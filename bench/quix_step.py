"""Step 8, the peer: Quix Streams over the same preloaded topic, in its own virtual
environment (``var/bench/quix-venv``, made on first use), so its librdkafka client and
its pins never touch cxpulse's dependencies.  Two apps a run: do-nothing (at-least-once)
and a per-key count in its RocksDB state (exactly-once)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.processes import REPO
from bench.steps import Context

QUIX_VERSION = "3.28.1"
VENV = REPO / "var" / "bench" / "quix-venv"
INSTALL_TIMEOUT_S = 600


def quix_python(ctx: Context) -> Path:
    """The interpreter of the Quix Streams environment, made (once) if missing."""
    python = VENV / "bin" / "python"
    probe = f"import quixstreams as q; assert q.__version__ == {QUIX_VERSION!r}"
    check = [str(python), "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    ctx.say(f"quix: installing quixstreams {QUIX_VERSION} into {VENV} (first run only)")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(python), "-m", "pip", "install", "--quiet", f"quixstreams=={QUIX_VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(
            step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"quix: {' '.join(step[:4])} failed ({done.returncode}): {done.stderr[-1500:]}; "
                "skip the step with --skip quix"
            )
    return python


def quix_run(
    ctx: Context, python: Path, topic: str, count: int, mode: str, *, run: int
) -> dict[str, Any]:
    """One Quix Streams app (``noop`` or ``count``) over ``count`` records of ``topic``,
    run by ``python`` (``quix_python``)."""
    group = f"{ctx.run_id}-quix-{mode}{run}"
    state_dir = ctx.workdir / group
    done = subprocess.run(
        [
            str(python),
            "-m",
            "bench.quix_peer",
            ctx.bootstrap,
            topic,
            group,
            str(count),
            mode,
            str(state_dir),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=ctx.step_timeout_s,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    found: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if done.returncode != 0 or "events_per_s" not in found:
        raise RuntimeError(
            f"quix {mode}: exited {done.returncode}: {found.get('error', '')} {done.stderr[-1500:]}"
        )
    return found
