"""The SDK's preemption hook in a real Python process: SIGTERM with the worker's notice
runs the ``on_preempt`` callbacks once with the time left and exits cleanly (or keeps
running with ``exit=False``); SIGTERM without a notice (a cancel) still ends the process
as a signal; a non-preemptible run keeps the default handler. And the steps a resumed
attempt starts from."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runyard.preemption import StepCounter, next_steps

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, time
from runyard.run import Run
run = Run.get_context()
keep = sys.argv[1] == "keep"
run.on_preempt(lambda left: print(f"callback {left:.0f} preempted={run.preempted}", flush=True), exit=not keep)
run.on_preempt(lambda left: print("second callback", flush=True))
print("ready", run.attempt, run.checkpoint_dir, flush=True)
for _ in range(200):
    time.sleep(0.05)
    if run.preempted:
        print("stopping at a step boundary", flush=True)
        break
"""


def start(tmp_path: Path, mode: str, preemptible: str = "1") -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RUNYARD_RUN_ID": "7",
        "RUNYARD_URL": "http://127.0.0.1:9",  # never called: attempt 1 reads nothing
        "RUNYARD_RUN_TOKEN": "t",
        "RUNYARD_ATTEMPT": "1",
        "RUNYARD_PREEMPTIBLE": preemptible,
        "RUNYARD_CHECKPOINT_DIR": str(tmp_path / "ckpt"),
        "RUNYARD_PREEMPT_NOTICE": str(tmp_path / "notice.json"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["ready", "1", str(tmp_path / "ckpt")]
    return proc


def notice(tmp_path: Path, grace: float) -> None:
    (tmp_path / "notice.json").write_text(json.dumps({"deadline": time.time() + grace, "why": "for run 9"}))


def test_preemption_runs_the_callbacks_once_then_exits(tmp_path: Path) -> None:
    proc = start(tmp_path, "exit")
    notice(tmp_path, 30)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out.splitlines() == ["callback 30 preempted=True", "second callback"]
    assert "preempted (for run 9)" in err


def test_exit_false_keeps_running_to_the_scripts_own_boundary(tmp_path: Path) -> None:
    proc = start(tmp_path, "keep")
    notice(tmp_path, 30)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # a second SIGTERM does not call the callbacks again
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out.splitlines() == ["callback 30 preempted=True", "second callback", "stopping at a step boundary"]


@pytest.mark.parametrize("preemptible", ["1", "0"])
def test_sigterm_without_a_notice_still_ends_the_process(tmp_path: Path, preemptible: str) -> None:
    proc = start(tmp_path, "exit", preemptible)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGTERM
    assert out == ""


def test_a_resumed_attempt_continues_each_metric_after_the_earlier_ones() -> None:
    starts = next_steps(
        {
            "loss": {"count": 5, "step": None},  # step-less points: indexes 0..4
            "acc": {"count": 3, "step": 99},  # explicit steps up to 99
            "lr": {"count": 10, "step": 4},  # mixed: more points than steps
        }
    )
    assert starts == {"loss": 5, "acc": 100, "lr": 10}
    counter = StepCounter(starts)
    assert [counter.step("loss") for _ in range(3)] == [5, 6, 7]
    assert counter.step("new") is None  # never logged before: stays step-less
