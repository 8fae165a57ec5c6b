"""Package-index settings of environment builds (environments.indexes): the host's pip
configuration read by default, admins' allowed indexes (API, audit, masked password),
specs that select them or are refused naming the field, the content hash, and the
Docker build's view of the same settings. The builds are real uv builds against
package indexes on disk (tests.local_index)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from audit.models import AuditEvent
from compute.configs import DockerConfig
from environments import indexes
from environments import spec as specs
from environments.builder import BuildFailed, ensure_venv
from environments.image_builder import dockerfile_for, image_sources
from environments.models import BuildLogLine, Environment, PackageIndex
from tests.local_index import LocalIndex, make_index, pip_conf


def _runyard(settings: Any, **values: Any) -> None:
    settings.RUNYARD = {**django_settings.RUNYARD, **values}


def _python_of(venv: Path, code: str) -> str:
    import subprocess

    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _version(spec: dict[str, Any], name: str = "idx-env") -> Any:
    env = Environment.objects.create(name=name)
    return env.add_version(spec)


# ---- the host's pip configuration ---------------------------------------------------------
def test_host_settings_come_from_pip_config(tmp_path: Path, monkeypatch: Any, settings: Any) -> None:
    conf = pip_conf(
        tmp_path / "pip.conf",
        index_url="https://mirror.example/simple",
        extra_index_url="file:///srv/a/simple file:///srv/b/simple",
        find_links="/srv/wheels",
        trusted_host="mirror.example",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    _runyard(settings, PIP_INDEX_URL="", PIP_EXTRA_INDEX_URLS=[], PIP_FIND_LINKS=[], PIP_TRUSTED_HOSTS=[])
    host = indexes.host_settings()
    assert host.index_url == "https://mirror.example/simple"
    assert host.extra_index_urls == ("file:///srv/a/simple", "file:///srv/b/simple")
    assert host.find_links == ("/srv/wheels",)
    assert host.trusted_hosts == ("mirror.example",)
    assert host.origins["index-url"].startswith("pip config")

    # pip's own variables win over its files, as in pip.
    monkeypatch.setenv("PIP_FIND_LINKS", "/env/wheels")
    assert indexes.host_settings().find_links == ("/env/wheels",)

    # A RUNYARD_PIP_* setting replaces its key; the others still come from pip.
    _runyard(settings, PIP_INDEX_URL="", PIP_EXTRA_INDEX_URLS=["https://other.example/simple"], PIP_FIND_LINKS=[])
    host = indexes.host_settings()
    assert host.extra_index_urls == ("https://other.example/simple",)
    assert host.origins["extra-index-url"] == "RUNYARD_PIP_EXTRA_INDEX_URLS"
    assert host.index_url == "https://mirror.example/simple"

    # RUNYARD_PIP_HOST_CONFIG=off: only the RUNYARD_PIP_* settings.
    _runyard(settings, PIP_HOST_CONFIG="off", PIP_INDEX_URL="", PIP_EXTRA_INDEX_URLS=[], PIP_FIND_LINKS=[])
    assert indexes.host_settings() == indexes.HostSettings()


@pytest.mark.django_db(transaction=True)
def test_a_build_uses_the_host_pip_config(tmp_path: Path, monkeypatch: Any, settings: Any) -> None:
    index = make_index(tmp_path / "mirror")
    _runyard(settings, PIP_INDEX_URL="", PIP_EXTRA_INDEX_URLS=[], PIP_FIND_LINKS=[])
    version = _version({"pip_requirements": [index.requirement]})

    # Not in any index but the one on disk: without the pip config naming it, the build fails.
    monkeypatch.setenv("PIP_CONFIG_FILE", str(pip_conf(tmp_path / "empty.conf")))
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels-here"))
    with pytest.raises(BuildFailed):
        ensure_venv(version, tmp_path / "envs")

    monkeypatch.setenv("PIP_CONFIG_FILE", str(pip_conf(tmp_path / "pip.conf", extra_index_url=index.url)))
    built = ensure_venv(version, tmp_path / "envs")
    assert _python_of(built.path, f"import {index.module}; print({index.module}.VALUE)") == index.token
    log = list(BuildLogLine.objects.filter(build=built.build).values_list("text", flat=True))
    assert f"Extra package index: {index.url}, from pip config (global.extra-index-url)" in log, log


# ---- allowed indexes: the API ---------------------------------------------------------------
def test_admins_manage_allowed_indexes_and_the_password_stays_hidden(world: Any) -> None:
    made = world.admin.client.post(
        "/api/package-indexes/",
        {"name": "corp", "url": "https://bot:hunter2-s3cret@pypi.corp.example/simple/", "description": "mirror"},
        format="json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["url"] == "https://pypi.corp.example/simple"
    assert (body["username"], body["has_password"]) == ("bot", True)
    assert "password" not in body and "hunter2" not in made.content.decode()
    row = PackageIndex.objects.get(name="corp")
    assert row.password == "hunter2-s3cret"

    listed = world.alice.client.get("/api/package-indexes/")
    assert listed.status_code == 200
    assert "corp" in {r["name"] for r in listed.json()["results"]} and "hunter2" not in listed.content.decode()
    assert (
        world.alice.client.post("/api/package-indexes/", {"name": "x", "url": "https://x.example"}).status_code == 403
    )

    changed = world.admin.client.patch(f"/api/package-indexes/{row.pk}/", {"password": "n3w-passw0rd"}, format="json")
    assert changed.status_code == 200 and changed.json()["has_password"]
    assert world.admin.client.delete(f"/api/package-indexes/{row.pk}/").status_code == 204

    events = AuditEvent.objects.filter(action__startswith="environments.packageindex.").order_by("pk")
    assert [e.action.rsplit(".", 1)[1] for e in events] == ["created", "updated", "deleted"]
    trail = json.dumps([e.changes for e in events]) + "".join(e.object_repr for e in events)
    assert "hunter2" not in trail and "n3w-passw0rd" not in trail
    assert events[1].changes["rotated"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name!", "url": "https://x.example/simple"}, "name"),
        ({"name": "ftp", "url": "ftp://x.example/simple"}, "url"),
        ({"name": "rel", "url": "file://relative/simple"}, "url"),
        ({"name": "pytorch-cpu", "url": "https://x.example/simple"}, "name"),  # taken (seeded)
    ],
)
def test_bad_allowed_index_is_refused_naming_the_field(world: Any, body: dict[str, str], field: str) -> None:
    response = world.admin.client.post("/api/package-indexes/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content


# ---- specs that select indexes ------------------------------------------------------------
def _allow(name: str, url: str, **fields: str) -> PackageIndex:
    return PackageIndex.objects.create(name=name, url=url, **fields)


def test_spec_lines_matching_an_allowed_index_become_its_name(world: Any, tmp_path: Path) -> None:
    _allow("probe", "https://probe.example/simple")
    spec = {
        "pip_requirements": ["--extra-index-url https://PROBE.example/simple/", "six", "--trusted-host probe.example"],
        "conda_specification": "dependencies:\n  - python=3.11\n  - pip:\n    - --index-url=https://probe.example/simple\n",
    }
    made = world.alice.client.post("/api/environments/", {"name": "sel", "spec": spec}, format="json")
    assert made.status_code == 201, made.content
    stored = made.json()["latest_version"]["spec"]
    assert stored["pip_requirements"] == ["six"]
    assert (stored["package_indexes"], stored["default_index"]) == ([], "probe")
    by_name = world.alice.client.post(
        "/api/environments/",
        {"name": "sel2", "spec": {"package_indexes": ["probe"], "pip_requirements": ["six"]}},
        format="json",
    )
    assert by_name.status_code == 201 and by_name.json()["latest_version"]["spec"]["package_indexes"] == ["probe"]
    assert specs.pip_requirements_of(stored) == ["six"]  # the conda file's option line is no requirement


@pytest.mark.parametrize(
    ("spec", "field", "named"),
    [
        ({"pip_requirements": ["--extra-index-url https://evil.example/simple", "six"]}, "pip_requirements", "evil"),
        ({"pip_requirements": ["-i https://evil.example/simple"]}, "pip_requirements", "evil"),
        ({"pip_requirements": ["--extra-index-url https://u:pw@probe.example/simple"]}, "pip_requirements", "***"),
        ({"pip_requirements": ["--trusted-host evil.example"]}, "pip_requirements", "evil.example"),
        ({"pip_requirements": ["--find-links /tmp/wheels"]}, "pip_requirements", "--find-links"),
        ({"package_indexes": ["nope"]}, "package_indexes", "nope"),
        ({"package_indexes": "probe"}, None, None),  # a single name is accepted
        ({"package_indexes": [3]}, "package_indexes", "list"),
        ({"default_index": "nope"}, "default_index", "nope"),
        (
            {"conda_specification": "dependencies:\n  - pip:\n    - --extra-index-url https://evil.example/simple\n"},
            "conda_specification",
            "evil",
        ),
    ],
)
def test_other_indexes_are_refused_naming_the_field(
    world: Any, spec: dict[str, Any], field: str | None, named: str | None
) -> None:
    _allow("probe", "https://probe.example/simple")
    response = world.alice.client.post("/api/environments/", {"name": "refused", "spec": spec}, format="json")
    if field is None:
        assert response.status_code == 201, response.content
        return
    assert response.status_code == 400, response.content
    errors = response.json()["spec"]
    assert field in errors, errors
    assert named in " ".join(errors[field]), errors
    assert "pw@" not in response.content.decode()


def test_the_content_hash_covers_the_index_settings(db: Any) -> None:
    _allow("a", "https://a.example/simple")
    _allow("b", "https://b.example/simple")
    plain = specs.normalize({"pip_requirements": ["six"]})
    hashes = {
        specs.content_hash(plain),
        specs.content_hash(specs.normalize({"pip_requirements": ["six"], "package_indexes": ["a"]})),
        specs.content_hash(specs.normalize({"pip_requirements": ["six"], "package_indexes": ["b"]})),
        specs.content_hash(specs.normalize({"pip_requirements": ["six"], "default_index": "a"})),
    }
    assert len(hashes) == 4
    line = specs.normalize({"pip_requirements": ["six", "--extra-index-url https://a.example/simple"]})
    by_name = specs.normalize({"pip_requirements": ["six"], "package_indexes": ["a"]})
    assert specs.content_hash(line) == specs.content_hash(by_name)
    # A spec that selects no index keeps the hash it had before index settings existed.
    old = {k: plain[k] for k in specs.BUILD_KEYS}
    digest = hashlib.sha256(json.dumps(old, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert specs.content_hash(plain) == digest


@pytest.mark.django_db(transaction=True)
def test_a_build_uses_an_allowed_index_with_credentials_kept_out_of_the_log(
    tmp_path: Path, monkeypatch: Any, settings: Any
) -> None:
    index: LocalIndex = make_index(tmp_path / "allowed")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(pip_conf(tmp_path / "empty.conf")))
    _runyard(settings, PIP_INDEX_URL="", PIP_EXTRA_INDEX_URLS=[], PIP_FIND_LINKS=[])
    _allow("probe", index.url)
    version = _version({"pip_requirements": [f"--extra-index-url {index.url}", index.requirement]})
    assert version.spec["package_indexes"] == ["probe"]
    built = ensure_venv(version, tmp_path / "envs")
    assert _python_of(built.path, f"import {index.module}; print({index.module}.VALUE)") == index.token
    log = list(BuildLogLine.objects.filter(build=built.build).values_list("text", flat=True))
    assert f"Extra package index: 'probe' {index.url}, from allowed index" in log, log

    # An index with credentials: uv gets them by name in its environment, never as an
    # argument, and the log masks them wherever uv echoes them.
    _allow("private", "http://127.0.0.1:9/simple", username="bot", password="pr1vate-pw")
    sources = indexes.sources_for(specs.normalize({"pip_requirements": ["six"], "default_index": "private"}))
    assert "pr1vate-pw" not in " ".join(sources.uv_args())
    assert sources.uv_env() == {"UV_INDEX_PRIVATE_USERNAME": "bot", "UV_INDEX_PRIVATE_PASSWORD": "pr1vate-pw"}
    failing = _version({"pip_requirements": ["six"], "default_index": "private"}, name="private-env")
    with pytest.raises(BuildFailed):
        ensure_venv(failing, tmp_path / "envs")
    texts = " ".join(BuildLogLine.objects.values_list("text", flat=True))
    assert "Package index: 'private' http://127.0.0.1:9/simple (as bot)" in texts
    assert "pr1vate-pw" not in texts


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_allowed_extra_index_is_left_out_with_a_warning(
    tmp_path: Path, monkeypatch: Any, settings: Any
) -> None:
    index = make_index(tmp_path / "mirror")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(pip_conf(tmp_path / "pip.conf", extra_index_url=index.url)))
    _runyard(settings, PIP_INDEX_URL="", PIP_EXTRA_INDEX_URLS=[], PIP_FIND_LINKS=[])
    _allow("gone", "http://127.0.0.1:9/simple")  # nothing listens on the discard port
    built = ensure_venv(_version({"pip_requirements": [index.requirement], "package_indexes": ["gone"]}), tmp_path)
    log = " ".join(BuildLogLine.objects.filter(build=built.build).values_list("text", flat=True))
    assert "Warning: package index 'gone' http://127.0.0.1:9/simple is unreachable from this worker" in log


@pytest.mark.django_db(transaction=True)
def test_a_removed_allowed_index_fails_the_build_naming_it(tmp_path: Path, settings: Any) -> None:
    row = _allow("temporary", "https://temporary.example/simple")
    version = _version({"pip_requirements": ["six"], "package_indexes": ["temporary"]})
    row.delete()
    with pytest.raises(BuildFailed, match="temporary, which are no longer allowed"):
        ensure_venv(version, tmp_path)


# ---- the same settings in Docker image builds -------------------------------------------------
@pytest.fixture
def http_index(tmp_path: Path) -> Iterator[tuple[LocalIndex, str]]:
    """A local index served over HTTP on 127.0.0.1: (the index, its http:// URL)."""
    index = make_index(tmp_path / "served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(index.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index, f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_image_builds_see_allowed_indexes_host_wheels_and_refuse_credentials(
    db: Any, http_index: tuple[LocalIndex, str]
) -> None:
    index, served = http_index
    _allow("pub", served)
    host = indexes.HostSettings(
        index_url="",
        extra_index_urls=("file:///opt/pypi/simple", "https://mirror.example/simple"),
        find_links=(str(index.wheels),),
    )
    spec = specs.normalize({"pip_requirements": [index.requirement], "package_indexes": ["pub"]})
    said: list[str] = []
    sources = image_sources(spec, DockerConfig(), said.append, host)
    assert sources.extra_index_urls == (served, "https://mirror.example/simple")
    assert sources.wheel_dirs == (index.wheels,)
    assert any("file:///opt/pypi/simple" in note for note in sources.notes)
    dockerfile = dockerfile_for(spec, DockerConfig(), mpi=False, cas=0, wheels=True, sources=sources)
    assert f"--extra-index-url {served} --extra-index-url https://mirror.example/simple" in dockerfile
    assert "--find-links /tmp/runyard-wheels" in dockerfile

    # The target's own extra indexes replace the host's; the spec's stay.
    target = DockerConfig(pip_extra_index_urls=("https://target.example/simple",))
    assert image_sources(spec, target, said.append, host).extra_index_urls == (served, "https://target.example/simple")

    _allow("secret", "https://secret.example/simple", username="u", password="p4ssword")
    private = specs.normalize({"pip_requirements": ["six"], "package_indexes": ["secret"]})
    with pytest.raises(BuildFailed, match="secret has credentials"):
        image_sources(private, DockerConfig(), said.append, host)


# ---- the curated CPU environment ----------------------------------------------------------
def test_seed_replaces_an_older_releases_curated_spec_but_never_an_admins(world: Any) -> None:
    from stack.seed import seed

    env = Environment.objects.get(name="Runyard-PyTorch-2.13-CPU")
    seeded = env.latest_version()
    assert seeded.spec["pip_requirements"] == ["torch==2.13.0+cpu", "numpy"]
    assert seeded.spec["package_indexes"] == ["pytorch-cpu"]
    assert PackageIndex.objects.get(name="pytorch-cpu").url == "https://download.pytorch.org/whl/cpu"
    assert seed() == []  # nothing changes on the next start

    env.add_version({"python_version": "3.11", "pip_requirements": ["torch==2.13.0", "numpy"]})  # an older release
    assert "environment Runyard-PyTorch-2.13-CPU (new version)" in seed()
    assert env.latest_version().content_hash == seeded.content_hash

    # An admin pointed the index at a mirror and registered their own spec: both are kept.
    PackageIndex.objects.filter(name="pytorch-cpu").update(url="https://mirror.example/pytorch-cpu")
    mine = env.add_version({"python_version": "3.11", "pip_requirements": ["torch==2.13.0+cpu"]}, user=world.admin.user)
    assert seed() == []
    assert env.latest_version() == mine
    assert PackageIndex.objects.get(name="pytorch-cpu").url == "https://mirror.example/pytorch-cpu"


# ---- the SDK's forms of the same settings ---------------------------------------------------
def test_sdk_pip_options_reach_the_server_as_allowed_indexes(world: Any, tmp_path: Path) -> None:
    from runyard.conda_dependencies import CondaDependencies
    from runyard.environment import Environment as SdkEnvironment

    _allow("probe", "https://probe.example/simple")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("--extra-index-url https://probe.example/simple\nsix\n--no-binary :all:\n")
    with pytest.warns(UserWarning, match="--no-binary"):
        env = SdkEnvironment.from_pip_requirements("sdk-idx", reqs)
    spec = env.to_spec()
    assert spec["pip_requirements"] == ["--extra-index-url https://probe.example/simple", "six"]
    made = world.alice.client.post("/api/environments/", {"name": "sdk-idx", "spec": spec}, format="json")
    assert made.status_code == 201, made.content
    stored = made.json()["latest_version"]["spec"]
    assert (stored["package_indexes"], stored["pip_requirements"]) == (["probe"], ["six"])
    loaded = SdkEnvironment("sdk-idx")
    loaded._load_spec(stored)
    assert loaded.package_indexes == ["probe"] and loaded.to_spec()["package_indexes"] == ["probe"]

    deps = CondaDependencies.create(pip_packages=["six"], pip_indexurl="https://evil.example/simple")
    assert deps.pip_options == ["--extra-index-url https://evil.example/simple"]
    assert "    - --extra-index-url https://evil.example/simple" in deps.serialize_to_string()
    other = SdkEnvironment("sdk-evil")
    other.python.conda_dependencies = deps
    refused = world.alice.client.post(
        "/api/environments/", {"name": "sdk-evil", "spec": other.to_spec()}, format="json"
    )
    assert refused.status_code == 400 and "evil.example" in " ".join(refused.json()["spec"]["pip_requirements"])
