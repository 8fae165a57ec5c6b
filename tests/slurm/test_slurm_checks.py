"""Test connection of a slurm target against the private cluster (slurm_cluster fixture)."""

from __future__ import annotations

from typing import Any


def check(world: Any, name: str, config: dict[str, Any]) -> dict[str, Any]:
    made = world.admin.client.post(
        "/api/compute-targets/", {"name": name, "kind": "slurm", "config": config}, format="json"
    )
    assert made.status_code == 201, made.content
    body: dict[str, Any] = world.admin.client.post(f"/api/compute-targets/{made.json()['id']}/test/").json()
    return body


def test_slurm_target_check_runs_sinfo_and_sbatch_test_only(world: Any, slurm_cluster: Any) -> None:
    shared = slurm_cluster.state_dir / "shared"
    shared.mkdir(exist_ok=True)
    config = {
        "partition": slurm_cluster.partition,
        "shared_dir": str(shared),
        "slurm_conf": str(slurm_cluster.conf_path),
        "time_limit": "0:30:00",
    }
    body = check(world, "cluster", config)
    assert body["ok"] is True, body
    checks = {c["name"]: c for c in body["checks"]}
    assert list(checks) == ["config", "slurm_conf", "shared_dir", "sinfo", "sbatch --test-only"]
    assert checks["sinfo"]["detail"].startswith(slurm_cluster.partition)
    assert "to start at" in checks["sbatch --test-only"]["detail"]
    # The target's own options are what sbatch judges: more CPUs per task than a node has is refused.
    too_big = check(world, "too-big", {**config, "cpus_per_task": slurm_cluster.cpus_per_node * 4})
    failed = {c["name"]: c for c in too_big["checks"]}["sbatch --test-only"]
    assert too_big["ok"] is False and failed["ok"] is False and "sbatch failed" in failed["detail"]
    missing = check(world, "no-part", {**config, "partition": "nosuchpartition"})
    assert missing["ok"] is False and {c["name"]: c for c in missing["checks"]}["sinfo"]["ok"] is False
