"""Compute target configs are typed and validated when saved; admins can test a target."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from compute import configs
from compute.models import ComputeTarget
from runs.status import Status
from tests.executor.helpers import lines, submit

URL = "/api/compute-targets/"


def create(world: Any, kind: str, config: Any, **fields: Any) -> Any:
    body = {"name": fields.pop("name", f"t-{kind}"), "kind": kind, "config": config, **fields}
    return world.admin.client.post(URL, body, format="json")


@pytest.mark.parametrize(
    ("kind", "config", "field", "message"),
    [
        ("slurm", {}, "shared_dir", "required"),
        ("slurm", {"shared_dir": "shared"}, "shared_dir", "absolute path"),
        ("slurm", {"shared_dir": "/s", "time_limit": "abc"}, "time_limit", "minutes"),
        ("slurm", {"shared_dir": "/s", "time_limit": -5}, "time_limit", "minutes"),
        ("slurm", {"shared_dir": "/s", "time_limit": "1:75:00"}, "time_limit", "minutes"),
        ("slurm", {"shared_dir": "/s", "partition": "a b"}, "partition", "single word"),
        ("slurm", {"shared_dir": "/s", "cpus_per_task": 0}, "cpus_per_task", "at least 1"),
        ("slurm", {"shared_dir": "/s", "mem_per_task_mb": "lots"}, "mem_per_task_mb", "whole number"),
        ("slurm", {"shared_dir": "/s", "gpus_per_node": True}, "gpus_per_node", "whole number"),
        ("slurm", {"shared_dir": "/s", "extra_sbatch_args": "--exclusive"}, "extra_sbatch_args", "list"),
        ("slurm", {"shared_dir": "/s", "extra_sbatch_args": ["exclusive"]}, "extra_sbatch_args", "Item 0"),
        ("slurm", {"shared_dir": "/s", "extra_sbatch_args": ["--x\n#SBATCH -N 9"]}, "extra_sbatch_args", "one line"),
        ("slurm", {"shared_dir": "/s", "env": {"1A": "x"}}, "env", "Variable names"),
        ("slurm", {"shared_dir": "/s", "env": {"A": {"b": 1}}}, "env", "string or a number"),
        ("slurm", {"shared_dir": "/s", "slurm_conf": "slurm.conf"}, "slurm_conf", "absolute path"),
        ("slurm", {"shared_dir": "/s", "poll_seconds": 0}, "poll_seconds", "positive number"),
        ("docker", {"base_url": "not a url"}, "base_url", "Docker Engine address"),
        ("docker", {"base_url": "tcp://:2376"}, "base_url", "naming a host"),
        ("docker", {"base_url": "tcp://host:99999"}, "base_url", "valid port"),
        ("docker", {"base_url": "unix://relative.sock"}, "base_url", "absolute socket path"),
        ("docker", {"gpus": "lots"}, "gpus", "number of GPUs"),
        ("docker", {"gpus": -1}, "gpus", "number of GPUs"),
        ("docker", {"shm_size": "huge"}, "shm_size", "positive size"),
        ("docker", {"shm_size": "2t"}, "shm_size", "positive size"),
        ("docker", {"memory": -5}, "memory", "positive size"),
        ("docker", {"memory": 0}, "memory", "positive size"),
        ("docker", {"cpus": "many"}, "cpus", "positive number"),
        ("docker", {"api_timeout": 0}, "api_timeout", "at least 1"),
        ("docker", {"public_url": "host:8000"}, "public_url", "http://"),
        ("docker", {"pip_index_url": "ftp://mirror"}, "pip_index_url", "http://"),
        ("docker", {"pip_wheel_dirs": ["wheels"]}, "pip_wheel_dirs", "absolute path"),
        ("docker", {"extra_ca_certs": ["ca.pem"]}, "extra_ca_certs", "absolute path"),
        ("docker", {"base_image": "python:3.11 slim"}, "base_image", "single word"),
        ("docker", {"tls": "yes"}, "tls", "object"),
    ],
)
def test_bad_config_is_refused_naming_the_field(world: Any, kind: str, config: Any, field: str, message: str) -> None:
    response = create(world, kind, config)
    assert response.status_code == 400, response.content
    errors = response.json()["config"]
    assert list(errors) == [field], errors
    assert message in errors[field][0]
    assert not ComputeTarget.objects.filter(name=f"t-{kind}").exists()


def test_nested_and_whole_config_errors(world: Any) -> None:
    made = create(world, "docker", {"tls": {"client_cert": "/etc/c.pem", "ca_cert": "ca.pem"}})
    assert made.status_code == 400
    assert made.json()["config"] == {"tls": {"ca_cert": ["Must be an absolute path."]}}
    pair = create(world, "docker", {"tls": {"client_cert": "/etc/c.pem"}})
    assert pair.json()["config"] == {"tls": {"client_key": ["client_cert and client_key go together."]}}
    not_object = create(world, "slurm", ["shared_dir", "/s"])
    assert not_object.status_code == 400 and not_object.json()["config"] == ["Must be an object."]


def test_every_problem_is_reported_at_once(world: Any) -> None:
    response = create(world, "docker", {"gpus": "lots", "shm_size": "huge", "memory": -5}, name="bad name!")
    assert response.status_code == 400
    body = response.json()
    assert set(body["config"]) == {"gpus", "shm_size", "memory"} and "name" in body
    both = create(world, "docker", {"base_url": "bad", "tls": {"ca_cert": "/ca.pem", "client_cert": "/c.pem"}})
    assert both.status_code == 400 and set(both.json()["config"]) == {"base_url", "tls"}
    assert list(both.json()["config"]["tls"]) == ["client_key"]


def test_values_are_not_echoed_in_errors(world: Any) -> None:
    response = create(world, "docker", {"base_url": "hunter2-secret"})
    assert response.status_code == 400 and "hunter2" not in response.content.decode()


def test_unknown_keys_are_saved_with_warnings(world: Any) -> None:
    response = create(world, "slurm", {"shared_dir": "/srv/shared", "partiton": "gpu", "zzz": 1})
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == [
        "config.partiton is not a known key (did you mean 'partition'?).",
        "config.zzz is not a known key.",
    ]
    target = ComputeTarget.objects.get(name="t-slurm")
    assert target.config["partiton"] == "gpu"  # kept as given
    assert world.alice.client.get(f"{URL}{target.pk}/").json()["warnings"][0].startswith("config.partiton")
    nested = create(world, "docker", {"tls": {"ca_cert": "/etc/ca.pem", "verfy": True}})
    assert nested.json()["warnings"] == ["config.tls.verfy is not a known key (did you mean 'verify'?)."]


def test_good_configs_are_accepted_and_typed(world: Any) -> None:
    slurm = {
        "shared_dir": "/srv/shared",
        "slurm_conf": "/etc/slurm/slurm.conf",
        "partition": "gpu,cpu",
        "account": "ml",
        "qos": "normal",
        "time_limit": "1-02:00:30",
        "gpus_per_node": 2,
        "cpus_per_task": 4,
        "mem_per_task_mb": 8000,
        "extra_sbatch_args": ["--exclusive", "--constraint=a100"],
        "env": {"OMPI_MCA_btl": "self,tcp", "N": 2, "FLAG": True},
        "mpi": "pmix_v4",
        "poll_seconds": 0.5,
    }
    made = create(world, "slurm", slurm)
    assert made.status_code == 201, made.content
    assert made.json()["warnings"] == []
    typed = ComputeTarget.objects.get(name="t-slurm").typed_config
    assert isinstance(typed, configs.SlurmConfig)
    assert typed.shared_dir == Path("/srv/shared") and typed.time_limit == 26 * 60 + 1
    assert typed.env == {"OMPI_MCA_btl": "self,tcp", "N": "2", "FLAG": "true"}
    assert typed.sbatch_options() == [
        "--partition=gpu,cpu",
        "--account=ml",
        "--qos=normal",
        "--gres=gpu:2",
        "--cpus-per-task=4",
        "--mem-per-cpu=2000M",
        "--exclusive",
        "--constraint=a100",
    ]
    docker = {
        "base_url": "tcp://engine.example:2376",
        "tls": {"ca_cert": "/etc/d/ca.pem", "client_cert": "/etc/d/c.pem", "client_key": "/etc/d/k.pem"},
        "api_timeout": 60,
        "public_url": "http://host.docker.internal:8000",
        "shm_size": "2g",
        "cpus": 1.5,
        "memory": "512m",
        "gpus": "all",
        "base_image": "python:3.11-slim",
        "extra_ca_certs": ["/etc/ssl/corp.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
        "pip_index_url": "https://pypi.example/simple",
        "pip_extra_index_urls": ["https://extra.example/simple"],
        "pip_wheel_dirs": ["/opt/wheels"],
    }
    made = create(world, "docker", docker)
    assert made.status_code == 201, made.content
    typed_docker = ComputeTarget.objects.get(name="t-docker").typed_config
    assert isinstance(typed_docker, configs.DockerConfig)
    assert typed_docker.shm_size == 2 * 1024**3 and typed_docker.memory == 512 * 1024**2 and typed_docker.gpus == "all"
    assert typed_docker.tls is not None and typed_docker.tls.client_key == Path("/etc/d/k.pem")
    default = ComputeTarget(name="d", kind="docker").typed_config
    assert isinstance(default, configs.DockerConfig) and default.base_url == "unix:///var/run/docker.sock"
    assert configs.parse("slurm", {"shared_dir": "/s", "time_limit": 90})[0].time_limit == 90  # type: ignore[union-attr]
    for good in ("90", "90:30", "2:00:00", "3-12", "1-1:01"):
        configs.parse("slurm", {"shared_dir": "/s", "time_limit": good})


def test_edits_are_validated_too(world: Any) -> None:
    made = create(world, "slurm", {"shared_dir": "/srv/shared"})
    url = f"{URL}{made.json()['id']}/"
    bad = world.admin.client.patch(url, {"config": {"shared_dir": "relative"}}, format="json")
    assert bad.status_code == 400 and list(bad.json()["config"]) == ["shared_dir"]
    ok = world.admin.client.patch(
        url, {"config": {"shared_dir": "/srv/s2", "qos": "x", "parition": "p"}}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["warnings"][0].startswith("config.parition")
    # Changing the kind re-checks the stored config against the new kind's keys.
    switched = world.admin.client.patch(url, {"kind": "docker"}, format="json")
    assert switched.status_code == 200 and "config.shared_dir is not a known key." in switched.json()["warnings"]
    local = world.admin.client.patch(url, {"kind": "local"}, format="json")
    assert local.status_code == 400 and "max_nodes" in local.json()


def test_max_nodes_follows_the_kind(world: Any) -> None:
    kinds = {}
    for kind, config in (("local", {}), ("docker", {}), ("slurm", {"shared_dir": "/s"})):
        body = create(world, kind, config).json()
        kinds[kind] = (body["max_nodes"], "multi-node" in body["can_run"])
    assert kinds == {"local": (1, False), "docker": (2, True), "slurm": (4, True)}
    assert ComputeTarget.objects.create(name="orm", kind="slurm", config={"shared_dir": "/s"}).max_nodes == 4
    refused = create(world, "local", {}, name="l2", max_nodes=2)
    assert refused.status_code == 400 and refused.json()["max_nodes"] == ["A local target has exactly one node."]
    zero = create(world, "docker", {}, name="d0", max_nodes=0)
    assert zero.status_code == 400 and "max_nodes" in zero.json()
    one = create(world, "docker", {}, name="d1", max_nodes=1).json()
    assert one["max_nodes"] == 1 and "multi-node" not in one["can_run"]


def test_model_clean_and_admin_form_validate_config(world: Any) -> None:
    target = ComputeTarget(name="s", kind="slurm", config={"shared_dir": "x", "time_limit": "abc"})
    with pytest.raises(ValidationError) as caught:
        target.full_clean()
    assert caught.value.message_dict["config"] == [
        "shared_dir: Must be an absolute path.",
        "time_limit: " + configs.DURATION_HINT,
    ]
    client = world.admin.client
    client.force_login(world.admin.user)
    form = {
        "name": "adm",
        "kind": "slurm",
        "description": "",
        "max_concurrent_runs": 2,
        "max_nodes": "",
        "max_processes_per_node": 8,
        "enabled": "on",
    }
    refused = client.post("/admin/compute/computetarget/add/", {**form, "config": "{}"})
    assert refused.status_code == 200 and b"shared_dir: This key is required." in refused.content
    saved = client.post(
        "/admin/compute/computetarget/add/", {**form, "config": '{"shared_dir": "/s", "qso": "x"}'}, follow=True
    )
    # Django's message list capitalises the first letter.
    assert saved.status_code == 200 and b"onfig.qso is not a known key (did you mean &#x27;qos&#x27;?)" in saved.content
    assert ComputeTarget.objects.get(name="adm").max_nodes == 4


def test_seeded_local_target_is_valid(world: Any) -> None:
    local = ComputeTarget.objects.get(name="local")
    local.full_clean()
    assert isinstance(local.typed_config, configs.LocalConfig) and local.max_nodes == 1


# ---- test connection ------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket is: nothing listens


def test_only_admins_test_connections(world: Any) -> None:
    local = ComputeTarget.objects.get(name="local")
    assert world.alice.client.post(f"{URL}{local.pk}/test/").status_code == 403
    assert world.bob.client.post(f"{URL}{local.pk}/test/").status_code == 403
    assert world.anon.post(f"{URL}{local.pk}/test/").status_code in (401, 403)
    assert world.admin.client.post(f"{URL}999999/test/").status_code == 404


def test_local_check_reports_sandbox_and_uv(world: Any) -> None:
    local = ComputeTarget.objects.get(name="local")
    body = world.admin.client.post(f"{URL}{local.pk}/test/").json()
    names = [c["name"] for c in body["checks"]]
    assert names == ["config", "sandbox", "uv"]
    by_name = {c["name"]: c for c in body["checks"]}
    assert by_name["uv"]["ok"] and "uv" in by_name["uv"]["detail"]
    assert by_name["sandbox"]["ok"] == (os.path.exists("/usr/bin/bwrap") or "bwrap" in by_name["sandbox"]["detail"])
    assert body["ok"] == all(c["ok"] for c in body["checks"])


def test_docker_check_against_a_closed_port_fails_cleanly(world: Any) -> None:
    made = create(world, "docker", {"base_url": f"tcp://127.0.0.1:{closed_port()}"})
    response = world.admin.client.post(f"{URL}{made.json()['id']}/test/")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert [(c["name"], c["ok"]) for c in body["checks"]] == [("config", True), ("engine", False)]
    assert body["checks"][1]["detail"] == "connection refused (nothing listens there)"


def test_docker_check_with_a_missing_socket_or_tls_file(world: Any, tmp_path: Path) -> None:
    made = create(world, "docker", {"base_url": f"unix://{tmp_path}/no.sock"}, name="sock")
    engine = world.admin.client.post(f"{URL}{made.json()['id']}/test/").json()["checks"][1]
    assert engine["ok"] is False and "no such socket" in engine["detail"]
    tls = {"ca_cert": str(tmp_path / "ca.pem"), "client_cert": "/nope/c.pem", "client_key": "/nope/k.pem"}
    made = create(world, "docker", {"base_url": "tcp://127.0.0.1:1", "tls": tls}, name="tls")
    body = world.admin.client.post(f"{URL}{made.json()['id']}/test/").json()
    assert body["ok"] is False and body["checks"][1] == {
        "name": "engine",
        "ok": False,
        "detail": f"tls.ca_cert {tmp_path / 'ca.pem'} is not a file on this host",
    }


def test_check_of_a_target_saved_without_validation(world: Any) -> None:
    target = ComputeTarget.objects.create(name="raw", kind="slurm", config={"partition": "x"})
    body = world.admin.client.post(f"{URL}{target.pk}/test/").json()
    assert body == {
        "ok": False,
        "checks": [{"name": "config", "ok": False, "detail": "shared_dir: This key is required."}],
    }
    listed = world.alice.client.get(f"{URL}{target.pk}/").json()
    assert listed["warnings"] == ["config is invalid, runs on this target will fail: shared_dir: This key is required."]


def test_slurm_check_with_a_missing_slurm_conf(world: Any, tmp_path: Path) -> None:
    config = {"shared_dir": str(tmp_path), "slurm_conf": str(tmp_path / "missing.conf")}
    made = create(world, "slurm", config)
    body = world.admin.client.post(f"{URL}{made.json()['id']}/test/").json()
    assert body["ok"] is False
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["slurm_conf"] == {
        "name": "slurm_conf",
        "ok": False,
        "detail": f"SLURM_CONF {tmp_path / 'missing.conf'} does not exist on this host",
    }
    assert checks["shared_dir"]["ok"] is True
    assert checks["sinfo"]["ok"] is False  # not installed, or it cannot read the configuration
    assert "sbatch --test-only" not in checks


def test_a_run_on_a_target_saved_without_validation_fails_saying_why(world: Any, transactional_db: Any) -> None:
    from execution import executor

    ComputeTarget.objects.create(name="broken", kind="slurm", max_nodes=2, config={"partition": "x"})
    run_id = submit(world.alice, {"train.py": "print('never')\n"}, compute_target="broken")["id"]
    assert executor.execute(run_id, "test-worker") == "claimed"
    run = executor.Run.objects.get(pk=run_id)
    assert run.status == Status.FAILED
    assert run.error == "Compute target 'broken' has an invalid config: shared_dir: This key is required."
    assert run.error in lines(run_id)


ODD_VALUES: list[Any] = [0, -1, 1.5, float("nan"), float("inf"), True, [], {}, "x", "/abs", ["x", 1], {"a": {}}]
ODD_VALUES += ["1e400", "\n", "9" * 400]


@pytest.mark.parametrize("kind", ["local", "docker", "slurm"])
def test_no_value_of_any_key_raises_anything_but_config_error(kind: str) -> None:
    from dataclasses import fields

    names = [f.name for f in fields(configs.CONFIGS[kind])] + ["tls.ca_cert", "tls.verify"]
    for name in names:
        for value in ODD_VALUES:
            raw: dict[str, Any] = {"shared_dir": "/s"} if kind == "slurm" else {}
            if name.startswith("tls."):
                raw["tls"] = {name[4:]: value}
            else:
                raw[name] = value
            try:
                configs.parse(kind, raw)
            except configs.ConfigError as exc:
                assert exc.messages()
