"""The sandbox around local runs (execution/sandbox.py), probed by a hostile script.

A run tries everything issue 12 found a run could do on the server: read the data
dir's secrets and database, talk to the broker, look at another run and another team's
dataset, read the server processes' environment, write outside its run dir, and make
the root worker copy a host path as an output. Every attempt must fail, while the run
still reaches the API with its token, logs a metric and writes outputs/. Its processes
die with a cancel and with the worker process that started them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from execution import sandbox
from execution.backends.procs import descendants
from runs import metricstore
from runs.models import Artifact, Run
from runs.status import Status
from tests.conftest import wait_for
from tests.executor.helpers import alive, lines, run_pids, submit, wait_status

HERE = sandbox.status()
pytestmark = [
    pytest.mark.worker,
    pytest.mark.xdist_group("live"),
    pytest.mark.skipif(not HERE.sandboxed, reason=f"local runs are {HERE.describe()} (apt-get install bubblewrap)"),
]

PROBE = r"""
import json, os, socket, sys

targets = json.loads(sys.argv[1])
report = {}


def probe(name, attempt):
    try:
        value = attempt()
    except OSError as exc:
        report[name] = {"found": False, "error": f"{type(exc).__name__}: {exc}"}
    else:
        report[name] = {"found": True, "value": value if isinstance(value, list) else repr(value)[:300]}


def redis(path):
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(5)
    client.connect(path)
    client.sendall(b"PING\r\n")
    return client.recv(64)


def write(path):
    with open(path, "w") as handle:
        handle.write("pwned")


for name, path in targets["read"].items():
    probe(f"read {name}", lambda path=path: open(path, "rb").read(64))
for name, path in targets["list"].items():
    probe(f"list {name}", lambda path=path: sorted(os.listdir(path)))
for name, path in targets["write"].items():
    probe(f"write {name}", lambda path=path: write(path))
for name, path in targets["sockets"].items():
    probe(f"connect {name}", lambda path=path: redis(path))
for name, pid in targets["pids"].items():
    probe(f"environ of {name}", lambda pid=pid: open(f"/proc/{pid}/environ", "rb").read())
    probe(f"cmdline of {name}", lambda pid=pid: open(f"/proc/{pid}/cmdline", "rb").read())
    probe(f"signal {name}", lambda pid=pid: os.kill(pid, 0))
print("PROBE " + json.dumps(report, sort_keys=True), flush=True)

# What a run may do.
write("/tmp/private-" + targets["tag"])
print("SEEN", json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "user": os.environ.get("USER"),
    "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
}), flush=True)
from runyard import Run

Run.get_context().log("probe_metric", 1.5)
with open("outputs/ok.txt", "w") as handle:
    handle.write("fine")
"""

# Another run, alive while the probe runs: it also points its outputs/ at the data
# dir, for the worker (root) to copy when it collects outputs.
NEIGHBOUR = r"""
import os, shutil, sys, time
shutil.rmtree("outputs")
os.symlink(sys.argv[1], "outputs")
open("mine.txt", "w").write("neighbour's file")
print("neighbour ready", flush=True)
deadline = time.monotonic() + 300
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def _other_team_blob(world: Any) -> Path:
    from datasets.storage import blob_path
    from tests.datasets.helpers import create_dataset, folder, register

    ds = create_dataset(world.bob.client, f"private-{uuid.uuid4().hex[:8]}")
    version = register(world.bob.client, ds["id"], files=folder({"secret.csv": "team b only\n"}))
    detail = world.bob.client.get(f"/api/dataset-versions/{version['id']}/").json()
    return blob_path(detail["files"][0]["sha256"])


def test_a_hostile_run_finds_nothing(live: Any, world: Any) -> None:
    hostile_run(live, world)


def hostile_run(live: Any, world: Any, worker: str = "runner") -> tuple[Run, Run]:
    """The probe and its neighbour, run on ``worker`` (test_held_launch runs them held)."""
    from datasets.storage import root as dataset_root
    from execution.sdkdir import sdk_path
    from stack.embedded_redis import socket_path
    from stack.seed import ensure_admin

    ensure_admin()  # writes the data dir's admin-password file
    data = Path(settings.DATA_DIR)
    work = Path(settings.RUNYARD["WORK_DIR"])
    neighbour = submit(world.bob, {"train.py": NEIGHBOUR}, arguments=[str(data)])
    wait_for(lambda: "neighbour ready" in lines(neighbour["id"], rank=0), timeout=120, what="the other run")
    blob = _other_team_blob(world)
    runner = live.procs[worker].pid
    pids = {"web": live.procs["web"].pid, "worker": runner}
    pids.update({f"worker child {pid}": pid for pid in descendants(runner)})
    venv = next(p for p in Path(settings.RUNYARD["ENV_DIR"]).iterdir() if (p / "pyvenv.cfg").exists())
    assert venv.is_dir()
    tag = uuid.uuid4().hex
    read = {
        "secret_key": data / "secret_key",
        "admin-password": data / "admin-password",
        "other run's file": work / str(neighbour["id"]) / "mine.txt",
        "other team's dataset blob": blob,
        "/root/.bashrc": Path("/root/.bashrc"),
        "/etc/shadow": Path("/etc/shadow"),
    }
    database = Path(connection.settings_dict["NAME"])
    if database.is_file():  # SQLite (the default)
        read["database"] = database
    sockets = {}
    if settings.REDIS_EMBEDDED:
        sockets["embedded Redis"] = socket_path(data)
    listing = {
        "data dir": data,
        "runs": work,
        "other run's dir": work / str(neighbour["id"]),
        "checkpoints": Path(settings.RUNYARD["CHECKPOINT_DIR"]),
        "other run's checkpoint dir": Path(settings.RUNYARD["CHECKPOINT_DIR"]) / str(neighbour["id"]),
        "dataset store": dataset_root(),
        "environments": Path(settings.RUNYARD["ENV_DIR"]),
        "/root": Path("/root"),
    }
    writes = {
        "data dir": data / f"pwned-{tag}",
        "other run's dir": work / str(neighbour["id"]) / f"pwned-{tag}",
        "an environment": venv / f"pwned-{tag}",
        "the SDK copy": sdk_path() / f"pwned-{tag}",
        "/usr": Path("/usr") / f"pwned-{tag}",
        "/etc": Path("/etc") / f"pwned-{tag}",
    }
    for path in [*read.values(), *sockets.values(), *listing.values()]:
        assert path.exists(), f"{path} must exist on the host for its probe to mean anything"
    targets = {
        "read": {k: str(v) for k, v in read.items()},
        "list": {k: str(v) for k, v in listing.items()},
        "write": {k: str(v) for k, v in writes.items()},
        "sockets": {k: str(v) for k, v in sockets.items()},
        "pids": pids,
        "tag": tag,
    }
    made = submit(world.alice, {"train.py": PROBE}, arguments=[json.dumps(targets)])
    run = wait_status(made["id"], timeout=300)
    out = lines(run.pk, rank=0, stream="stdout")
    assert run.status == Status.COMPLETED, f"{run.error}\n" + "\n".join(lines(run.pk))

    report = json.loads(next(t for t in out if t.startswith("PROBE "))[len("PROBE ") :])
    expected = {f"read {k}" for k in read} | {f"list {k}" for k in listing} | {f"write {k}" for k in writes}
    assert expected <= set(report)
    # Bound paths sit at their real paths, so a listing of one of their parents shows
    # the next step down to them, and nothing else.
    assert run.build is not None
    env = Path(run.build.path)
    # The run's own RUNYARD_CHECKPOINT_DIR (issue 22) is bound too: a listing of the data dir
    # may show the step down to it, never another run's.
    checkpoint = Path(settings.RUNYARD["CHECKPOINT_DIR"]) / str(run.pk)
    bound = [work / str(run.pk), checkpoint, sdk_path(), env, *sandbox.interpreter_prefixes(env)]
    for name, path in listing.items():
        result = report[f"list {name}"]
        if result["found"]:
            allowed = {b.relative_to(path).parts[0] for b in bound if path in b.parents}
            assert set(result["value"]) <= allowed, (name, result, allowed)
            report.pop(f"list {name}")
    found = {name: result for name, result in report.items() if result["found"]}
    assert not found, f"the sandbox let the run see: {json.dumps(found, indent=1)}"
    for path in writes.values():
        assert not path.exists(), path
    assert not Path(f"/tmp/private-{tag}").exists(), "the run's /tmp is the host's"

    seen = json.loads(next(t for t in out if t.startswith("SEEN "))[len("SEEN ") :])
    assert (seen["uid"], seen["gid"], seen["groups"]) == (
        settings.RUNYARD["SANDBOX_UID"],
        settings.RUNYARD["SANDBOX_GID"],
        [],
    )
    assert seen["user"] == pwd.getpwuid(settings.RUNYARD["SANDBOX_UID"]).pw_name, seen
    assert len(seen["processes"]) <= 3, seen  # its own PID namespace: init, the script, /proc's reader
    # What a run may do still works: the API with its token, a metric, outputs/.
    assert 1.5 in [p.value for p in metricstore.scalar_points(run.pk, "probe_metric")]
    assert Artifact.objects.filter(run=run, path="outputs/ok.txt").exists()
    # The neighbour's outputs/ link to the data dir is not followed by the collector.
    (work / str(neighbour["id"]) / "go").touch()
    other = wait_status(neighbour["id"])
    assert other.status == Status.COMPLETED, other.error
    assert not Artifact.objects.filter(run=other).exists()
    return run, other


SLEEPER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("started", flush=True)
time.sleep(600)
"""


def _started(run_id: int) -> list[int]:
    wait_for(lambda: "started" in lines(run_id, rank=0), timeout=120, what="the script to start")
    pids = run_pids(run_id)
    # bubblewrap, the namespace's init, the script and its child
    assert len(pids) >= 4, pids
    return pids


def test_cancel_leaves_no_process_of_a_sandboxed_run(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": SLEEPER})
    pids = _started(made["id"])
    wait_status(made["id"], {Status.RUNNING})
    world.alice.client.post(f"/api/runs/{made['id']}/cancel/")
    assert wait_status(made["id"]).status == Status.CANCELED
    assert not any(alive(p) for p in pids)
    assert run_pids(made["id"]) == []


def test_ranks_die_with_the_worker_process_that_started_them(live: Any, world: Any) -> None:
    """SIGKILL of the pool process running the run: bubblewrap's --die-with-parent takes
    the whole sandbox down at once, with no restarted worker needed to reap it."""
    live.stop("runner")
    live.start_worker("sandbox-doomed", queues="compute.local", concurrency=1)
    try:
        made = submit(world.alice, {"train.py": SLEEPER})
        pids = _started(made["id"])
        parents = {pid: int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in pids}
        parent = next(ppid for ppid in parents.values() if ppid not in parents)  # bubblewrap's parent
        assert parent != live.procs["sandbox-doomed"].pid  # a pool child, not the main process
        os.kill(parent, signal.SIGKILL)
        wait_for(lambda: not any(alive(p) for p in pids), timeout=30, what="the sandbox to die with its parent")
    finally:
        live.stop("sandbox-doomed")
        live.start_worker("runner")


def test_a_required_sandbox_that_cannot_start_fails_the_run_with_the_reason(live: Any, world: Any) -> None:
    live.stop("runner")
    saved = dict(live.env)
    live.env["RUNYARD_SANDBOX_BWRAP"] = "/nonexistent/bwrap"
    try:
        live.start_worker("no-bwrap", queues="compute.local", concurrency=1)
        made = submit(world.alice, {"train.py": "print('ran unsandboxed')"})
        run = wait_status(made["id"], timeout=120)
    finally:
        live.env.clear()
        live.env.update(saved)
        if "no-bwrap" in live.procs:
            live.stop("no-bwrap")
        live.start_worker("runner")
    assert run.status == Status.FAILED
    assert "refuses to run unsandboxed" in run.error and "/nonexistent/bwrap" in run.error
    assert "RUNYARD_SANDBOX=off" in run.error
    assert "ran unsandboxed" not in lines(run.pk)
    assert run.build_id is None  # refused before any environment build


def test_compute_page_says_whether_local_runs_are_sandboxed(world: Any, settings: Any) -> None:
    def local() -> Any:
        targets = world.alice.client.get("/api/compute-targets/").json()["results"]
        return next(t for t in targets if t["kind"] == "local")["isolation"]

    assert local()["sandboxed"] is True and "bubblewrap" in local()["summary"]
    settings.RUNYARD = {**settings.RUNYARD, "SANDBOX": "off"}
    assert local() == {"sandboxed": False, "summary": sandbox.status().describe()}
    assert "UNSANDBOXED" in local()["summary"]
    settings.RUNYARD = {**settings.RUNYARD, "SANDBOX": "on", "SANDBOX_BWRAP": "/nonexistent/bwrap"}
    assert local()["sandboxed"] is False and local()["summary"].startswith("REFUSED")


BACKEND = r'''
"""A PEP 517 build backend that probes the sandbox instead of building."""
import json, os, socket

TARGETS = json.loads(__TARGETS__)


def _probe():
    report = {}
    for name, path in TARGETS["read"].items():
        try:
            open(path, "rb").read(64)
            report[name] = True
        except OSError:
            report[name] = False
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(TARGETS["redis"])
        report["redis"] = True
    except OSError:
        report["redis"] = False
    try:
        open(TARGETS["elsewhere"], "w").write("pwned")
        report["write elsewhere"] = True
    except OSError:
        report["write elsewhere"] = False
    report["uid"] = os.getuid()
    report["capabilities"] = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1]
    report["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
    return report


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    raise RuntimeError("BUILDPROBE " + json.dumps(_probe(), sort_keys=True))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("BUILDPROBE " + json.dumps(_probe(), sort_keys=True))
'''


def _sdist(folder: Path, targets: dict[str, Any]) -> Path:
    import io
    import tarfile

    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "probe_backend"\nbackend-path = ["."]\n',
        "probe_backend.py": BACKEND.replace("__TARGETS__", repr(json.dumps(targets))),
        "PKG-INFO": "Metadata-Version: 2.1\nName: runyard-build-probe\nVersion: 0.1\n",
    }
    path = folder / "runyard_build_probe-0.1.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"runyard_build_probe-0.1/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_a_package_build_script_finds_nothing_either(live: Any, world: Any, tmp_path: Path) -> None:
    """``uv pip install`` runs packages' build backends: that code is sandboxed too (it
    keeps the worker's uid, without any capability, to fill its venv and uv's cache)."""
    import http.server
    import threading

    from stack.embedded_redis import socket_path

    data = Path(settings.DATA_DIR)
    other_env = next(p for p in Path(settings.RUNYARD["ENV_DIR"]).iterdir() if (p / "pyvenv.cfg").exists())
    tag = uuid.uuid4().hex
    targets = {
        "read": {"secret_key": str(data / "secret_key"), "database": str(connection.settings_dict["NAME"])},
        "redis": str(socket_path(data)),
        "elsewhere": str(other_env / f"pwned-{tag}"),
    }
    served = tmp_path / tag
    served.mkdir()
    _sdist(served, targets)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{tag}/runyard_build_probe-0.1.tar.gz"
        spec = {"pip_requirements": [f"runyard-build-probe @ {url}"]}
        created = world.alice.client.post(
            "/api/environments/", {"name": f"probe-{tag[:8]}", "spec": spec}, format="json"
        )
        assert created.status_code == 201, created.content
        made = submit(world.alice, {"train.py": "print('never')"}, environment=f"probe-{tag[:8]}")
        run = wait_status(made["id"], timeout=300)
    finally:
        server.shutdown()
    assert run.status == Status.FAILED
    assert "Environment build failed: 'uv pip' exited with code 1" in run.error
    text = run.error + "\n" + "\n".join(lines(run.pk))
    report = _probe_report(text)
    assert report["secret_key"] is False and report["database"] is False, report
    assert report["redis"] is False and report["write elsewhere"] is False, report
    assert not (other_env / f"pwned-{tag}").exists()
    assert int(report["capabilities"], 16) == 0, report
    assert report["processes"] <= 6, report  # its own PID namespace: init, uv, the backend's Python


def test_dataset_inputs_are_read_only_and_nothing_beside_them_shows(tmp_path: Path) -> None:
    """``wrap`` alone, on a run dir whose inputs are a link to a stored tree (the
    fallback without bind mounts) and a copy: the link resolves, read-only, and the
    store's other trees and the run dir's neighbours stay hidden."""
    import subprocess
    import sys

    store = tmp_path / "store"
    (store / "tree-a").mkdir(parents=True)
    (store / "tree-a" / "data.csv").write_text("1,2\n")
    (store / "tree-b").mkdir()
    (store / "tree-b" / "other-team.csv").write_text("secret\n")
    (tmp_path / "neighbour.txt").write_text("not yours")
    run = tmp_path / "work" / "7"
    (run / "inputs").mkdir(parents=True)
    (run / "inputs" / "train").symlink_to(store / "tree-a", target_is_directory=True)
    spec = sandbox.spec_for(run, mounts=[(store / "tree-a", run / "inputs" / "train")])
    sandbox.hand_over(run, spec)
    script = (
        "import errno, json, os\n"
        "out = {'data': open('inputs/train/data.csv').read()}\n"
        "for name, path in [('write', 'inputs/train/new.csv'), ('own', 'outputs.txt')]:\n"
        "    try:\n"
        "        open(path, 'w').write('x'); out[name] = 'written'\n"
        "    except OSError as exc:\n"
        "        out[name] = errno.errorcode[exc.errno]\n"
        f"out['store'] = sorted(os.listdir({str(store)!r}))\n"
        f"out['neighbour'] = os.path.exists({str(tmp_path / 'neighbour.txt')!r})\n"
        "print(json.dumps(out))\n"
    )
    python = Path(sys.base_prefix) / "bin" / "python3"
    spec = dataclasses.replace(spec, extra_ro=(Path(sys.base_prefix),))  # an interpreter, no venv here
    done = subprocess.run(sandbox.wrap([str(python), "-c", script], spec), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["data"] == "1,2\n"
    assert out["write"] == "EROFS"  # a read-only bind, whoever the uid
    assert out["own"] == "written"
    assert out["store"] == ["tree-a"]  # the other tree is not there
    assert out["neighbour"] is False
    assert not (store / "tree-a" / "new.csv").exists()


def _probe_report(text: str) -> dict[str, Any]:
    """The build probe's JSON report from the build output. uv may wrap a long error
    line (seen under load in CI): the report's pieces are joined back until it parses."""
    all_lines = text.splitlines()
    start = next(i for i, t in enumerate(all_lines) if "RuntimeError: BUILDPROBE " in t)
    raw = all_lines[start].split("BUILDPROBE ", 1)[1]
    for following in [*all_lines[start + 1 :], None]:
        try:
            parsed = json.loads(raw)
            assert isinstance(parsed, dict)
            return parsed
        except json.JSONDecodeError:
            if following is None:
                raise
            raw += " " + following.strip()
    raise AssertionError("no probe report")
