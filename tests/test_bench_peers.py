"""bench/peers.py stops everything a peer started, by process id, including daemons that
left the process group (as Ray's and MLflow's do) and children whose leader already
exited. A real process tree stands in for a peer here (installing MLflow or Ray in the
test suite would take minutes); `python bench/peers.py check` exercises the real peers."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import peers

# A leader with a child in its group, a grandchild that made a session of its own (a
# daemon: a group signal misses it), and one that ignores SIGTERM (needs SIGKILL).
TREE = """
import os, signal, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)"])
time.sleep(300)
"""


class Tree(peers.Peer):
    name = "tree"
    grace_s = 2.0

    def install(self) -> peers.PeerEnv:
        return peers.PeerEnv("tree", Path(sys.prefix))

    def peer_version(self) -> str:
        return "test"

    def start(self) -> None:
        self.leader = self.spawn("tree", [sys.executable, "-c", TREE])

        def up() -> bool:
            self.check_alive(self.leader)
            return len(self.pids()) == 4 and "ready" in self.leader.tail()

        peers.wait_for(up, 30, "the tree")


def test_stop_leaves_no_process_of_the_tree() -> None:
    with Tree(log=lambda _msg: None) as tree:
        started = tree.pids()
        assert len(started) == 4
        assert all(peers.alive(pid) for pid in started)
        state = tree.state
        assert state is not None and state.is_dir()
    assert not [pid for pid in started if peers.alive(pid)]
    assert not state.exists()


def test_stop_finds_children_after_their_leader_exited() -> None:
    with Tree(log=lambda _msg: None) as tree:
        started = tree.pids()
        tree.leader.proc.kill()  # the daemons are re-parented to init: only the recorded pids find them
        tree.leader.proc.wait()
        time.sleep(0.2)
        orphans = {pid for pid in started if peers.alive(pid)}
        assert len(orphans) == 3
        assert orphans <= tree.pids()
    assert not [pid for pid in started if peers.alive(pid)]


def test_a_peer_that_fails_to_start_is_stopped() -> None:
    class Broken(Tree):
        def start(self) -> None:
            super().start()
            raise RuntimeError("no health answer")

    broken = Broken(log=lambda _msg: None)
    with pytest.raises(RuntimeError, match="no health answer"):
        broken.__enter__()
    assert broken.children and not broken.pids()


def test_peers_dir_is_the_main_checkouts_unless_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNYARD_BENCH_PEERS_DIR", str(tmp_path))
    assert peers.peers_dir() == tmp_path
    monkeypatch.delenv("RUNYARD_BENCH_PEERS_DIR")
    assert peers.peers_dir().parts[-2:] == (".runyard-data", "bench-peers")
