"""The ``docker`` compute kind: environments are images, a run's nodes are containers.

Any Docker Engine API host works (a local socket, ``tcp://`` with TLS, Podman's
compat service). Per run: a network made for it, one container per node (a
TensorFlow task gets its own container), each named ``runyard-<instance>-<run>-<node>``
and labelled ``io.runyard.run``, so cleanup and recovery find them by label. The run
directory is bind-mounted at its host path (dataset paths in arguments stay valid),
dataset mounts read-only on top, the SDK copy read-only on PYTHONPATH.

Distributed wiring: PyTorch runs torchrun in every node's container with a static
rendezvous on ``node0``; MPI runs mpirun in ``node0`` with a host file and a small
remote-shell agent (``docker_rsh``) serving in the other nodes (no sshd needed);
TensorFlow gets one container per task with TF_CONFIG naming the containers.
The executor owns the lifecycle; this module only starts, watches and removes.

Containers outlive the worker: after a restart, a run whose containers are all still
there (running or ended) is re-attached like a Slurm job (``reattach``), its logs
continuing where the stored log ends; only what cannot be resumed is removed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import docker.types

from compute.backends.base import Backend, Job, ProcessInfo, RunContext
from compute.backends.docker_job import DockerJob, Node, Position, follow_logs, sink_lines
from environments.image_builder import build_location, ensure_image, image_build_row, requirement_names
from environments.models import EnvironmentVersion
from environments.spec import pip_requirements_of
from runs import launch

RSH_AGENT = Path(__file__).with_name("docker_rsh.py")
IN_CONTAINER_SDK = "/opt/runyard/sdk"
IN_CONTAINER_RSH = "/opt/runyard/rsh.py"
RDZV_PORT = 29500
TF_PORT = 2222
# Worker-host variables that mean nothing inside a container (the image sets its own).
HOST_ONLY = ("PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SLURM_CONF",
             "VIRTUAL_ENV", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
             "no_proxy")  # fmt: skip


class DockerError(RuntimeError):
    pass


def client_for(config: dict[str, Any]) -> docker.DockerClient:
    """A client for the target's engine: ``base_url`` (unix:// or tcp://) and ``tls``."""
    tls: Any = False
    options = config.get("tls") or {}
    if options:
        cert = (options["client_cert"], options["client_key"]) if options.get("client_cert") else None
        tls = docker.tls.TLSConfig(
            client_cert=cert, ca_cert=options.get("ca_cert"), verify=options.get("verify", options.get("ca_cert"))
        )
    return docker.DockerClient(
        base_url=config.get("base_url") or "unix:///var/run/docker.sock",
        tls=tls,
        timeout=int(config.get("api_timeout", 300)),
    )


def instance_id() -> str:
    """Tells this Runyard install's containers from another's on a shared engine."""
    from django.conf import settings

    return hashlib.sha256(str(settings.DATA_DIR).encode()).hexdigest()[:8]


def name_prefix(run_id: int) -> str:
    """What every container name of the run starts with."""
    return f"runyard-{instance_id()}-{run_id}-"


def run_label(run_id: int) -> dict[str, str]:
    return {"io.runyard.run": str(run_id), "io.runyard.instance": instance_id()}


def _label_filter(run_id: int) -> dict[str, Any]:
    return {"label": [f"{k}={v}" for k, v in run_label(run_id).items()]}


def remove_run_resources(client: docker.DockerClient, run_id: int) -> list[str]:
    """Force-remove every container, network and volume labelled with the run; return their names."""
    removed = []
    for container in client.containers.list(all=True, filters=_label_filter(run_id)):
        try:
            container.remove(force=True, v=True)
            removed.append(container.name)
        except docker.errors.NotFound:
            pass
    for network in client.networks.list(filters=_label_filter(run_id)):
        try:
            network.remove()
            removed.append(str(network.name))
        except docker.errors.NotFound:
            pass
    for volume in client.volumes.list(filters=_label_filter(run_id)):
        try:
            volume.remove(force=True)
            removed.append(str(volume.name))
        except docker.errors.NotFound:
            pass
    return removed


def needs_mpi(version: EnvironmentVersion, distributed: dict[str, Any] | None) -> bool:
    wants_mpi4py = "mpi4py" in requirement_names(pip_requirements_of(version.spec))
    return wants_mpi4py or (distributed or {}).get("type") == "mpi"


def _lock_dir() -> Path:
    from django.conf import settings

    return Path(settings.RUNYARD["ENV_DIR"]) / "image-locks"


class DockerBackend(Backend):
    kind = "docker"

    # ---- environments ------------------------------------------------------------
    def build_environment(self, version: EnvironmentVersion, config: dict[str, Any]) -> Any:
        with closing(client_for(config)) as client:
            return ensure_image(version, client, config, mpi=needs_mpi(version, None), lock_dir=_lock_dir())

    def build_record(self, version: EnvironmentVersion, config: dict[str, Any]) -> Any:
        return image_build_row(version.content_hash, build_location(config, needs_mpi(version, None)))

    def prepare_environment(self, ctx: RunContext) -> dict[str, Any]:
        mpi = needs_mpi(ctx.env_version, ctx.distributed)
        with closing(client_for(ctx.target_config)) as client:
            built = ensure_image(
                ctx.env_version,
                client,
                ctx.target_config,
                mpi=mpi,
                log=ctx.system_log,
                canceled=ctx.canceled,
                lock_dir=_lock_dir(),
            )
        if built.cache_hit:
            ctx.system_log(f"Using cached image {built.tag} for environment {ctx.env_version}.")
        return {"image": built.tag, "build_id": built.build.pk, "cache_hit": built.cache_hit}

    # ---- containers ----------------------------------------------------------------
    def _container_env(self, ctx: RunContext, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in ctx.env.items() if k not in HOST_ONLY}
        env["PYTHONPATH"] = IN_CONTAINER_SDK
        public_url = ctx.target_config.get("public_url")
        if public_url:
            env["RUNYARD_URL"] = str(public_url).rstrip("/")
        if os.getuid() != 0:
            env["HOME"] = "/tmp"
        env.update(extra)
        return env

    def _host_config(self, client: docker.DockerClient, ctx: RunContext, mpi_agent: bool) -> dict[str, Any]:
        config = ctx.target_config
        binds: dict[str, dict[str, str]] = {
            str(ctx.workdir): {"bind": str(ctx.workdir), "mode": "rw"},
            str(self.sdk_dir(config)): {"bind": IN_CONTAINER_SDK, "mode": "ro"},
        }
        for source, path, read_only in ctx.mounts:
            # The worker's own bind mount of a dataset is not visible to the engine: bind the source.
            binds[str(source)] = {"bind": str(path), "mode": "ro" if read_only else "rw"}
        if mpi_agent:
            binds[str(RSH_AGENT)] = {"bind": IN_CONTAINER_RSH, "mode": "ro"}
        options: dict[str, Any] = {"binds": binds, "init": True}
        if config.get("shm_size"):
            options["shm_size"] = config["shm_size"]
        if config.get("cpus"):
            options["nano_cpus"] = int(float(config["cpus"]) * 1e9)
        if config.get("memory"):
            options["mem_limit"] = config["memory"]
        gpus = config.get("gpus")
        if gpus:
            count = -1 if gpus == "all" else int(gpus)
            options["device_requests"] = [docker.types.DeviceRequest(count=count, capabilities=[["gpu"]])]
        return dict(client.api.create_host_config(**options))

    def _plan(self, ctx: RunContext, prefix: str) -> list[tuple[Node, list[str], dict[str, str]]]:
        """(node, command, extra environment) for every container of the run."""
        python = "python3"
        entry = ctx.entrypoint if ctx.is_command else [python, *ctx.entrypoint]
        cfg = ctx.distributed or {}
        kind = cfg.get("type")
        plan: list[tuple[Node, list[str], dict[str, str]]] = []
        if kind == "pytorch":
            nodes = int(cfg["node_count"])
            per_node = int(cfg["process_count"]) // nodes
            args = ["--no-python", *ctx.entrypoint] if ctx.is_command else ctx.entrypoint
            for k in range(nodes):
                cmd = launch.torchrun(python, cfg, args, nnodes=nodes, node_rank=k, master="node0", port=RDZV_PORT)
                ranks = [ProcessInfo(rank=k * per_node + i, node_rank=k, local_rank=i) for i in range(per_node)]
                name = f"{prefix}-node{k}"
                # torchrun's own lines name no rank: tagged per node so each node's are told apart.
                tag = f"[{name}] " if nodes > 1 else ""
                node = Node(name, "worker", "torchrun", ranks, node_rank=k, per_node=per_node, tag=tag)
                plan.append((node, cmd, {}))
        elif kind == "mpi":
            nodes = int(cfg["node_count"])
            per_node = int(cfg["process_count_per_node"])
            ranks = [
                ProcessInfo(rank=r, node_rank=r // per_node, local_rank=r % per_node) for r in range(nodes * per_node)
            ]
            extra = ["--mca", "btl", "self,tcp"]
            if nodes > 1:
                hostfile = ctx.workdir / ".runyard" / "hostfile"
                hostfile.parent.mkdir(parents=True, exist_ok=True)
                hostfile.write_text("".join(f"node{k} slots={per_node}\n" for k in range(nodes)))
                extra += ["--hostfile", str(hostfile), "--mca", "plm_rsh_agent", f"{python} {IN_CONTAINER_RSH}",
                          "--mca", "plm_rsh_no_tree_spawn", "1"]  # fmt: skip
            names = sorted(self._container_env(ctx, {}))
            cmd = launch.mpirun(python, cfg, ctx.entrypoint[1:] if ctx.is_command else ctx.entrypoint, names, extra)
            if ctx.is_command:
                cmd[cmd.index(python)] = ctx.entrypoint[0]
            for k in range(1, nodes):
                helper = Node(f"{prefix}-node{k}", "helper", "none", [], node_rank=k)
                plan.append((helper, [python, IN_CONTAINER_RSH, "serve"], {}))
            plan.append((Node(f"{prefix}-node0", "launcher", "mpi", ranks), cmd, {}))
        elif kind == "tensorflow":
            tasks = launch.tf_tasks(cfg)
            workers = [f"worker{i}:{TF_PORT}" for t, i, _ in tasks if t == "worker"]
            ps = [f"ps{i}:{TF_PORT}" for t, i, _ in tasks if t == "ps"]
            for task_type, index, rank in tasks:
                info = ProcessInfo(rank=rank, node_rank=rank, role=task_type)
                tf = {"TF_CONFIG": launch.tf_config(workers, ps, task_type, index), "RUNYARD_RANK": str(rank)}
                plan.append((Node(f"{prefix}-{task_type}{index}", task_type, "plain", [info]), entry, tf))
        else:
            plan.append(
                (Node(f"{prefix}-node0", "worker", "plain", [ProcessInfo(rank=0)]), entry, {"RUNYARD_RANK": "0"})
            )
        return plan

    def start(self, ctx: RunContext, prepared: dict[str, Any]) -> Job:
        client = client_for(ctx.target_config)
        prefix = name_prefix(ctx.run_id).rstrip("-")
        remove_run_resources(client, ctx.run_id)  # an earlier attempt's leftovers
        labels = run_label(ctx.run_id)
        network = client.networks.create(prefix, driver="bridge", labels=labels)
        plan = self._plan(ctx, prefix)
        mpi_agent = any(node.role == "helper" for node, _, _ in plan)
        common = {"RUNYARD_RSH_TOKEN": secrets.token_hex(16)} if mpi_agent else {}
        if mpi_agent:
            common.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        host_config = self._host_config(client, ctx, mpi_agent)
        user = None if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"
        nodes: list[Node] = []
        job = DockerJob(client, ctx, nodes, str(network.name))
        try:
            for node, command, extra in plan:
                alias = node.name.rsplit("-", 1)[1]  # node0, worker1, ps0: what peers dial
                client.api.create_container(
                    prepared["image"],
                    command=command,
                    name=node.name,
                    hostname=alias,
                    environment=self._container_env(ctx, {**common, **extra}),
                    working_dir=str(ctx.workdir),
                    labels={**labels, "io.runyard.node": alias, "io.runyard.role": node.role},
                    host_config=host_config,
                    networking_config=client.api.create_networking_config(
                        {str(network.name): client.api.create_endpoint_config(aliases=[alias])}
                    ),
                    user=user,
                )
                nodes.append(node)
            for node in nodes:
                client.api.start(node.name)
                node.status = "running"
                for info in node.ranks:
                    info.host = node.name
                follow_logs(client, ctx, node)
        except docker.errors.DockerException as exc:
            failed = node.name if "node" in locals() else "a container"
            job.signal_all(9)
            job.close()
            remove_run_resources(client, ctx.run_id)
            raise DockerError(f"Container {failed} of run {ctx.run_id} failed to start: {exc}") from exc
        ctx.system_log(f"Started {len(nodes)} container(s) on network {network.name} from image {prepared['image']}.")
        return job

    def cleanup(self, ctx: RunContext, prepared: dict[str, Any]) -> None:
        with closing(client_for(ctx.target_config)) as client:
            removed = remove_run_resources(client, ctx.run_id)
        if removed:
            ctx.system_log(f"Removed {len(removed)} container(s)/network(s) of the run.")

    # ---- recovery ------------------------------------------------------------------
    def can_resume(self, state: dict[str, Any]) -> bool:
        names = state.get("containers") or []
        # Another install's containers (same database, other DATA_DIR) are not ours to watch.
        prefix = name_prefix(int(state.get("run_id") or 0))
        return bool(names) and all(str(name).startswith(prefix) for name in names)

    def reattach(self, ctx: RunContext, state: dict[str, Any]) -> Job | None:
        """Rebuild the job from the stored container names, each stream's log continuing
        after the last stored line. A container that is gone counts as killed, and the
        run fails saying so."""
        names = list(state.get("containers") or [])
        if not self.can_resume(state):
            return None
        from runs.models import LogLine

        client = client_for(ctx.target_config)
        existing = {c.name for c in client.containers.list(all=True, filters=_label_filter(ctx.run_id))}
        lines = LogLine.objects.filter(run_id=ctx.run_id)
        saved = state.get("logs") or {}
        nodes = []
        for name in names:
            role, router, node_rank, per_node, *rest = state["roles"][name]
            ranks = [ProcessInfo(rank=r, node_rank=node_rank, local_rank=lr, role=ro, host=name)
                     for r, lr, ro in state["ranks"][name]]  # fmt: skip
            tag = str(rest[0]) if rest else ""
            node = Node(name, role, router, ranks, node_rank=node_rank, per_node=per_node, tag=tag, status="running")
            nodes.append(node)
            if name not in existing:
                node.status, node.exit_code = "gone", 137
                ctx.system_log(f"Container {name} was removed while no worker watched the run.")
                continue
            resume = {}
            for stream in ("stdout", "stderr"):
                position = Position.of_state((saved.get(name) or {}).get(stream))
                stored = lines.filter(sink_lines(node, stream, name_prefix(ctx.run_id))).count()
                # Fewer stored than the saved position counts: lines still queued in the
                # dead worker's log writer were lost, so read this stream from its start.
                resume[stream] = (position if stored >= position.lines else Position(), stored)
            follow_logs(client, ctx, node, resume)
        return DockerJob(client, ctx, nodes, str(state.get("network", "")))

    def reap_orphans(self, state: dict[str, Any]) -> None:
        """After a worker restart: a run whose containers are all still there, running or
        ended, is left for ``reattach`` (the restarted worker resumes it); the resources of
        a run that cannot be resumed (a container gone, the run no longer active, another
        install's state) are removed, and the run fails."""
        run_id = state.get("run_id")
        if not run_id or state.get("reaped"):
            return
        from runs.models import Run
        from runs.status import ACTIVE, Status

        run = Run.objects.select_related("compute_target").filter(pk=run_id).first()
        if run is None:
            return
        with closing(client_for(run.target.config)) as client:
            if self.can_resume(state) and run.status in (*ACTIVE, Status.NOT_RESPONDING):
                present = {c.name for c in client.containers.list(all=True, filters=_label_filter(int(run_id)))}
                if set(state["containers"]) <= present:
                    return
            remove_run_resources(client, int(run_id))
