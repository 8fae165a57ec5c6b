"""Environment builds: cold build vs cache hit vs warm rebuild, through real runs.

A new environment whose spec has a few real packages (numpy, six, attrs) and a unique
``attrs!=0.0.<random>`` exclusion (a content hash never seen before) is created via
the API. The stack uses an empty uv cache and a private environment directory, so:

- cold: the first run builds it (``uv venv`` + ``uv pip install`` from the configured
  package index into an empty uv cache);
- cache hit: later runs reuse it: how long does Preparing take, and how much of it is
  the environment lookup (from the run's system log stamps, and timed in-process);
- warm rebuild: the built venv directory (with its completion marker) is deleted,
  uv's cache kept; the next run builds it again (from the pins the cold build
  recorded, offline, when uv's cache still has them).

``--conda``: the same packages as a conda specification (conda names and versions,
a runtime library that is skipped, the unique exclusion in its pip section), so the
numbers include translating it.

Targets (DESIGN.md): a cache hit adds ≤ 50 ms; a warm rebuild ≥ 10× faster than cold.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import summary
from harness import Api, Section, Stack, parse_at, pct, verdict

SCRIPT = "import numpy, six, attrs\nprint('ok', numpy.__version__)\n"
HEAVY_SCRIPT = "import pandas, scipy, sklearn, attrs\nprint('ok', pandas.__version__)\n"


def one_run(api: Api, env_name: str, script: str = SCRIPT) -> dict[str, Any]:
    from environments.models import BuildLogLine, EnvironmentBuild

    run = api.submit({"train.py": script}, environment=env_name, experiment="bench-env")
    final = api.wait_terminal(run["id"], timeout=600, interval=0.1)
    if final["status"] != "Completed":
        raise RuntimeError(f"run {run['id']} ended {final['status']}: {final.get('error')}")
    history = {h["to"]: parse_at(h["at"]) for h in api.get(f"/api/runs/{run['id']}/status-history/")}
    lines = api.all_logs(run["id"])
    system = [(ln["text"], parse_at(ln["at"])) for ln in lines if ln["rank"] == -1]
    hit_at = next((at for text, at in system if text.startswith("Using cached environment")), None)
    snap_at = next((at for text, at in system if text.startswith("Snapshot extracted")), None)
    lookup = hit_at - snap_at if hit_at is not None and snap_at is not None else None
    build = EnvironmentBuild.objects.get(pk=final["build"])
    stamps = list(BuildLogLine.objects.filter(build=build).order_by("seq").values_list("text", "at"))
    uv_said = [t.strip() for t, _ in stamps if t.strip().startswith(("Resolved", "Prepared", "Installed", "Audited"))]
    at = {t.split(" ", 1)[0].rstrip(":"): a for t, a in stamps}
    # "Installing: …" (online) or "Installing the N packages of the previous build offline …"
    venv_step = at["Installing"] - at["Building"] if "Installing" in at and "Building" in at else None
    offline = any(t.startswith("Installing the ") and "offline" in t for t, _ in stamps)
    fell_back = any(t.startswith("Offline install failed") for t, _ in stamps)
    return {
        "uv": ("offline from recorded pins: " if offline and not fell_back else "")
        + ("offline failed, online: " if fell_back else "")
        + "; ".join(uv_said),
        "venv_step": venv_step.total_seconds() if venv_step is not None else None,
        "id": run["id"],
        "preparing": history["Starting"] - history["Preparing"],
        "lookup": lookup,
        "build_seconds": build.duration_seconds,
        "cache_hit": hit_at is not None,
        "build_id": build.pk,
    }


def conda_yaml(conda: list[str], pip: list[str]) -> str:
    deps = "".join(f"  - {c}\n" for c in conda) + "  - pip:\n" + "".join(f"    - {p}\n" for p in pip)
    return "channels:\n  - conda-forge\ndependencies:\n" + deps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 cache-hit runs and 1 warm rebuild")
    parser.add_argument(
        "--index",
        choices=["configured", "pypi"],
        default="configured",
        help="configured: RUNYARD_PIP_* as set (here: local file:// mirrors); pypi: PyPI itself, no extra index",
    )
    parser.add_argument(
        "--heavy",
        action="store_true",
        help="a spec with bigger packages (pandas, scipy, scikit-learn) instead of numpy, six, attrs",
    )
    parser.add_argument(
        "--conda",
        action="store_true",
        help="the packages as a conda specification (environment.yml) instead of pip requirements",
    )
    args = parser.parse_args()
    hits_n, warm_n = (3, 1) if args.quick else (10, 3)
    key, title = "env_build", "Environment builds: cold, cache hit, warm rebuild"
    if args.index == "pypi":
        key, title = "env_build_pypi", title + " (packages from PyPI itself)"
    packages, script = ["numpy", "six"], SCRIPT
    if args.heavy:
        key, title = key + "_heavy", title + " (bigger packages)"
        packages, script = ["pandas", "scipy", "scikit-learn"], HEAVY_SCRIPT
    if args.conda:
        key, title = key + "_conda", title + " (a conda specification)"
    section = Section(key, title, args.quick)
    tmp = Path(tempfile.mkdtemp(prefix="runyard-bench-env-", dir="/tmp"))
    env_dir, uv_cache = tmp / "envs", tmp / "uv-cache"
    uv_cache.mkdir(parents=True)
    env = {"RUNYARD_ENV_DIR": str(env_dir), "RUNYARD_UV_CACHE_DIR": str(uv_cache)}
    if args.index == "pypi":
        env.update({"RUNYARD_PIP_INDEX_URL": "", "RUNYARD_PIP_EXTRA_INDEX_URLS": "", "RUNYARD_PIP_FIND_LINKS": ""})
        env["RUNYARD_PIP_HOST_CONFIG"] = "off"  # nor this machine's pip configuration
    try:
        with Stack(tmp / "data", env=env) as stack:
            from environments.builder import ensure_venv
            from environments.models import EnvironmentVersion

            api = stack.api()
            tag = random.randint(1, 10**9)
            name = f"bench-env-{tag}"
            requirements = [*packages, f"attrs!=0.0.{tag}"]
            spec: dict[str, Any] = {"python_version": "3.11", "pip_requirements": requirements}
            if args.conda:
                conda = ["python=3.11", *(f"{p}=2" if p == "numpy" else p for p in packages), "libgcc-ng"]
                spec = {"conda_specification": conda_yaml(conda, [f"attrs!=0.0.{tag}"])}
                requirements = [*conda, f"pip: attrs!=0.0.{tag}"]
            api.post_json("/api/environments/", {"name": name, "spec": spec})
            version = EnvironmentVersion.objects.filter(environment__name=name).get()
            print(f"environment {name} hash {version.content_hash[:12]}; cold build…", flush=True)
            cold = one_run(api, name, script)
            print(f"cold: build {cold['build_seconds']:.2f}s, preparing {cold['preparing']:.2f}s", flush=True)
            hits = [one_run(api, name, script) for _ in range(hits_n)]
            for h in hits:
                print(f"hit: preparing {h['preparing'] * 1000:.1f} ms, lookup {(h['lookup'] or 0) * 1000:.1f} ms")
            # The lookup alone, in this process (same database, same directory).
            lookups = []
            for _ in range(20):
                t = time.perf_counter()
                built = ensure_venv(version, env_dir)
                lookups.append(time.perf_counter() - t)
                assert built.cache_hit
            warms = []
            for _ in range(warm_n):
                path = env_dir / version.content_hash
                # The venv and its completion marker: the row stays Succeeded, and the
                # next run finds the directory gone and starts the build again.
                shutil.rmtree(path)
                warm = one_run(api, name, script)
                warms.append(warm)
                print(f"warm rebuild: build {warm['build_seconds']:.2f}s, preparing {warm['preparing']:.2f}s")
            api.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    hit_prep = [h["preparing"] for h in hits]
    hit_lookup = [h["lookup"] for h in hits if h["lookup"] is not None]
    warm_build = [w["build_seconds"] for w in warms]
    ratio = cold["build_seconds"] / pct(warm_build, 50)
    index = stack.env.get("RUNYARD_PIP_EXTRA_INDEX_URLS") or stack.env.get("RUNYARD_PIP_INDEX_URL") or "PyPI"
    kind = " (conda specification)" if args.conda else ""
    section.add(
        f"Spec{kind}: Python 3.11, `{', '.join(requirements)}`; empty uv cache and private env dir for this stack; "
        f"package index: {index} (+ find-links {stack.env.get('RUNYARD_PIP_FIND_LINKS') or 'none'})."
    )
    section.add("")
    section.add("| case | environment build | Preparing → Starting (whole run preparation) |")
    section.add("| --- | --- | --- |")
    section.add(f"| cold (empty uv cache) | {cold['build_seconds']:.2f} s | {cold['preparing']:.2f} s |")
    section.add(
        f"| cache hit (p50 of {len(hits)}) | {pct(hit_lookup, 50) * 1000:.1f} ms from 'Snapshot extracted' to "
        f"'Using cached environment' (inputs, run token, env lookup) | "
        f"{pct(hit_prep, 50) * 1000:.1f} ms (max {max(hit_prep) * 1000:.1f} ms) |"
    )
    section.add(
        f"| warm rebuild (p50 of {len(warms)}, uv cache kept) | {pct(warm_build, 50):.2f} s | "
        f"{pct([w['preparing'] for w in warms], 50):.2f} s |"
    )
    section.add("")
    section.add(f"- uv, cold: {cold['uv']}; `uv venv` step ≈ {(cold['venv_step'] or 0):.2f} s")
    for w in warms:
        section.add(f"- uv, warm rebuild: {w['uv']}; `uv venv` step ≈ {(w['venv_step'] or 0):.2f} s")
    section.add(
        f"- `ensure_venv` cache hit timed in-process (20 calls): p50 {pct(lookups, 50) * 1000:.1f} ms, "
        f"max {max(lookups) * 1000:.1f} ms"
    )
    section.add(
        f"- **cache hit adds {pct(hit_lookup, 50) * 1000:.1f} ms** (p50, run log stamps around the lookup); "
        f"target ≤ 50 ms {verdict(pct(hit_lookup, 50) <= 0.050)}"
    )
    section.add(
        f"- **warm rebuild {ratio:.1f}× faster than cold** ({cold['build_seconds']:.2f} s → "
        f"{pct(warm_build, 50):.2f} s); target ≥ 10× {verdict(ratio >= 10)}"
    )
    section.write()
    what = ", ".join(packages) + (", conda spec" if args.conda else "") + (", PyPI" if args.index == "pypi" else "")
    summary.record(
        key,
        [
            summary.Row(
                "Environment cache hit adds (p50)", "ms", pct(hit_lookup, 50) * 1000, "lower", 50.0,
                load=summary.current_load(), note=what,
            ),
            summary.Row(
                "Warm rebuild speed-up over cold", "×", ratio, "higher", 10.0, load=summary.current_load(), note=what
            ),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
