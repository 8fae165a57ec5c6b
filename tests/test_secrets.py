"""Secret environment variables: write-only in the API, masked by value in the audit
trail and in stored and streamed run logs, and still given to the run for real."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import pytest
import websockets

from audit.models import AuditEvent
from config.masking import MASK, Masker, looks_secret_name
from environments.models import BuildLogLine, Environment
from runs.models import Run
from tests.executor.helpers import lines, submit, wait_status

OPENAI = "sk-live-0123456789abcdef"
DB_PASSWORD = "p@ss/w0rd!"
DB_URL = f"postgres://app:{quote(DB_PASSWORD, safe='')}@db.internal:5432/prod"
VARIABLES = {"OPENAI_KEY": OPENAI, "DATABASE_URL": DB_URL, "LR": "0.1", "PLAIN_NAME": "hush-hush-value"}


def _create(actor: Any, name: str = "sec", **spec: Any) -> dict[str, Any]:
    body = {"environment_variables": VARIABLES, "secret_variables": ["PLAIN_NAME"], **spec}
    made = actor.client.post("/api/environments/", {"name": name, "spec": body}, format="json")
    assert made.status_code == 201, made.content
    return dict(made.json())


def test_names_that_look_secret() -> None:
    for name in ["OPENAI_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "APIKEY", "githubToken", "PASSWD"]:
        assert looks_secret_name(name), name
    for name in ["LR", "TOKENIZERS_PARALLELISM", "AUTHOR", "KEYBOARD_LAYOUT", "PATH", "OMP_NUM_THREADS"]:
        assert not looks_secret_name(name), name


def test_masker_masks_values_and_their_encodings_only_when_long_enough() -> None:
    masker = Masker(["s3cr3t/value", "abc"])
    assert masker("x s3cr3t/value y") == f"x {MASK} y"
    assert masker(f"url {quote('s3cr3t/value', safe='')} end") == f"url {MASK} end"
    assert masker("abc is too short to mask") == "abc is too short to mask"
    assert not Masker([]) and Masker([])("anything") == "anything"


def test_secret_values_are_write_only_in_the_api(world: Any) -> None:
    made = _create(world.alice)
    shown = made["latest_version"]["spec"]
    assert shown["environment_variables"] == {
        "DATABASE_URL": f"postgres://app:{MASK}@db.internal:5432/prod",
        "LR": "0.1",
        "OPENAI_KEY": MASK,
        "PLAIN_NAME": MASK,
    }
    assert shown["secret_variables"] == ["DATABASE_URL", "OPENAI_KEY", "PLAIN_NAME"]
    for url in [f"/api/environments/{made['id']}/", f"/api/environments/{made['id']}/versions/"]:
        text = world.alice.client.get(url).content.decode()
        assert OPENAI not in text and quote(DB_PASSWORD, safe="") not in text and "hush-hush" not in text
    version = Environment.objects.get(pk=made["id"]).latest_version()
    assert version is not None and version.secret_values["OPENAI_KEY"] == OPENAI
    assert OPENAI not in json.dumps(version.spec)


def test_saving_the_masked_spec_back_keeps_the_secrets_and_the_hash(world: Any) -> None:
    made = _create(world.alice)
    spec = made["latest_version"]["spec"]
    spec["environment_variables"]["LR"] = "0.2"
    spec["environment_variables"]["DATABASE_URL"] = f"postgres://app:{MASK}@db2.internal:5432/prod"
    again = world.alice.client.post(f"/api/environments/{made['id']}/versions/", {"spec": spec}, format="json")
    assert again.status_code == 201, again.content
    assert again.json()["content_hash"] == made["latest_version"]["content_hash"]
    version = Environment.objects.get(pk=made["id"]).latest_version()
    assert version is not None and version.version == 2
    assert version.secret_values == {
        "OPENAI_KEY": OPENAI,
        "PLAIN_NAME": "hush-hush-value",
        "DATABASE_URL": DB_URL.replace("db.internal", "db2.internal"),
    }
    replaced = dict(spec, environment_variables={**spec["environment_variables"], "OPENAI_KEY": "sk-new-value"})
    world.alice.client.post(f"/api/environments/{made['id']}/versions/", {"spec": replaced}, format="json")
    latest = Environment.objects.get(pk=made["id"]).latest_version()
    assert latest is not None and latest.secret_values["OPENAI_KEY"] == "sk-new-value"


def test_secret_variables_must_name_a_variable(world: Any) -> None:
    bad = world.alice.client.post(
        "/api/environments/",
        {"name": "bad", "spec": {"environment_variables": {"A": "1"}, "secret_variables": ["B"]}},
        format="json",
    )
    assert bad.status_code == 400 and "secret_variables" in bad.json()["spec"]


def test_audit_masks_secrets_by_value(world: Any) -> None:
    made = world.alice.client.post(
        "/api/environments/",
        {
            "name": "audited",
            "description": f"the key is {OPENAI}",
            "spec": {"environment_variables": VARIABLES, "secret_variables": ["PLAIN_NAME"]},
        },
        format="json",
    )
    assert made.status_code == 201
    world.alice.client.patch(
        f"/api/environments/{made.json()['id']}/", {"description": "hush-hush-value is the word"}, format="json"
    )
    trail = json.dumps(list(AuditEvent.objects.values("changes", "object_repr")))
    assert OPENAI not in trail and "hush-hush-value" not in trail
    assert quote(DB_PASSWORD, safe="") not in trail and "db.internal" in trail


def test_audit_masks_url_passwords_and_secret_looking_keys_anywhere() -> None:
    from audit.services import MASK as AUDIT_MASK
    from audit.services import mask

    masked = mask({"OPENAI_KEY": "sk-1", "config": {"url": "redis://u:hunter22@h:6379/0", "n": 3}})
    assert masked == {"OPENAI_KEY": AUDIT_MASK, "config": {"url": f"redis://u:{MASK}@h:6379/0", "n": 3}}


PRINTS_SECRETS = """
import os, sys, time, urllib.parse
time.sleep(1)
key = os.environ["OPENAI_KEY"]
print("key:", key)
print("quoted:", urllib.parse.quote(key, safe=""))
print("db:", os.environ["DATABASE_URL"])
print("plain:", os.environ["PLAIN_NAME"], "lr:", os.environ["LR"])
print("stderr key", key, file=sys.stderr)
assert key == "OPENAI_VALUE"
""".replace("OPENAI_VALUE", OPENAI)


async def _stream(url: str, key: str, run_id: int) -> list[str]:
    texts: list[str] = []
    async with websockets.connect(
        f"{url.replace('http', 'ws')}/ws/runs/{run_id}/?after=0",
        additional_headers={"Authorization": f"Token {key}"},
        max_size=None,
    ) as ws:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=300))
            if message["type"] == "logs":
                texts.extend(line["text"] for line in message["lines"])
            elif message["type"] == "status" and message["run"]["status"] in ("Completed", "Failed", "Canceled"):
                return texts


@pytest.mark.worker
@pytest.mark.xdist_group("live")
def test_a_run_gets_its_secrets_and_its_log_shows_stars(live: Any, world: Any) -> None:
    _create(world.alice, "sec-run", pip_requirements=[])
    made = submit(world.alice, {"train.py": PRINTS_SECRETS}, environment="sec-run")
    streamed = asyncio.run(_stream(live.url, world.alice.key, made["id"]))
    run = wait_status(made["id"])
    stored = lines(made["id"])
    assert run.status == "Completed", (run.error, stored)
    for text in (stored, streamed, [run.error or ""]):
        joined = "\n".join(text)
        assert OPENAI not in joined and quote(OPENAI, safe="") not in joined
        assert quote(DB_PASSWORD, safe="") not in joined and "hush-hush-value" not in joined
    assert f"key: {MASK}" in stored and f"quoted: {MASK}" in stored
    assert f"db: postgres://app:{MASK}@db.internal:5432/prod" in stored
    assert f"plain: {MASK} lr: 0.1" in stored and f"stderr key {MASK}" in stored
    assert f"key: {MASK}" in streamed
    build_text = "\n".join(BuildLogLine.objects.values_list("text", flat=True))
    assert OPENAI not in build_text and "hush-hush-value" not in build_text and "sec-run" not in build_text
    assert Run.objects.filter(pk=made["id"], error__contains=OPENAI).count() == 0


@pytest.mark.worker
@pytest.mark.xdist_group("live")
def test_the_sdk_reads_secrets_masked_and_keeps_them_on_register(live: Any, world: Any) -> None:
    from runyard import Environment as SdkEnvironment
    from runyard import Workspace

    ws = Workspace(live.url, world.alice.key)
    env = SdkEnvironment("sdk-secrets")
    env.environment_variables = {"OPENAI_KEY": OPENAI, "MY_VAR": "my-own-secret", "LR": "0.1"}
    env.secret_variables = {"MY_VAR"}
    env.register(ws)
    fetched = SdkEnvironment.get(ws, "sdk-secrets")
    assert fetched.environment_variables == {"OPENAI_KEY": MASK, "MY_VAR": MASK, "LR": "0.1"}
    assert fetched.secret_variables == {"MY_VAR", "OPENAI_KEY"}
    fetched.environment_variables["LR"] = "0.2"
    fetched.register(ws)
    latest = Environment.objects.get(name="sdk-secrets").latest_version()
    assert latest is not None and latest.version == 2
    assert latest.secret_values == {"OPENAI_KEY": OPENAI, "MY_VAR": "my-own-secret"}
    assert latest.spec["environment_variables"]["LR"] == "0.2"


def test_the_migration_moves_existing_secret_values_out_of_specs(transactional_db: Any) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("environments", "0001_initial")], [("environments", "0002_secret_values")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    env = old.get_model("environments", "Environment").objects.create(name="legacy")
    spec = {"python_version": "3.11", "environment_variables": {"OPENAI_KEY": OPENAI, "DATABASE_URL": DB_URL, "A": "1"}}
    old.get_model("environments", "EnvironmentVersion").objects.create(
        environment=env, version=1, spec=spec, content_hash="h" * 64
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    version = Environment.objects.get(name="legacy").latest_version()
    assert version is not None
    assert version.spec["environment_variables"] == {
        "A": "1",
        "DATABASE_URL": f"postgres://app:{MASK}@db.internal:5432/prod",
        "OPENAI_KEY": MASK,
    }
    assert version.spec["secret_variables"] == ["DATABASE_URL", "OPENAI_KEY"]
    assert version.secret_values == {"OPENAI_KEY": OPENAI, "DATABASE_URL": DB_URL}
    assert version.content_hash == "h" * 64


HF = "hf_team_value_9876543210"


def test_team_secrets_are_write_only_and_team_scoped(world: Any) -> None:
    made = world.alice.client.post("/api/team-secrets/", {"name": "hf", "value": HF}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["set"] is True and "value" not in made.json() and made.json()["team"] == world.team_a.slug
    listed = world.alice.client.get("/api/team-secrets/")
    assert [s["name"] for s in listed.json()["results"]] == ["hf"] and HF not in listed.content.decode()
    assert world.bob.client.get("/api/team-secrets/").json()["results"] == []
    assert world.bob.client.patch(f"/api/team-secrets/{made.json()['id']}/", {"value": "x"}).status_code == 404
    again = world.alice.client.post("/api/team-secrets/", {"name": "hf", "value": "2"}, format="json")
    assert again.status_code == 400 and "name" in again.json()
    bad = world.alice.client.post("/api/team-secrets/", {"name": "no spaces", "value": "v"}, format="json")
    assert bad.status_code == 400 and "name" in bad.json()
    changed = world.alice.client.patch(f"/api/team-secrets/{made.json()['id']}/", {"value": HF + "2"}, format="json")
    assert changed.status_code == 200
    assert world.alice.client.delete(f"/api/team-secrets/{made.json()['id']}/").status_code == 204
    trail = json.dumps(list(AuditEvent.objects.values("changes", "object_repr")))
    assert HF not in trail and "environments.teamsecret.updated" in json.dumps(
        list(AuditEvent.objects.values_list("action", flat=True))
    )


def test_a_reference_to_a_team_secret_is_kept_as_is(world: Any) -> None:
    made = world.alice.client.post(
        "/api/environments/",
        {"name": "ref", "spec": {"environment_variables": {"HF_TOKEN": "${secret:hf}"}}},
        format="json",
    )
    spec = made.json()["latest_version"]["spec"]
    assert spec["environment_variables"] == {"HF_TOKEN": "${secret:hf}"} and spec["secret_variables"] == []


USES_TEAM_SECRET = """
import os
value = os.environ["HF_TOKEN"]
print("hf:", value)
assert value == "HF_VALUE", value
""".replace("HF_VALUE", HF)


@pytest.mark.worker
@pytest.mark.xdist_group("live")
def test_a_run_gets_its_teams_secret_masked_and_fails_clearly_without_it(live: Any, world: Any) -> None:
    world.alice.client.post(
        "/api/environments/",
        {"name": "uses-hf", "spec": {"environment_variables": {"HF_TOKEN": "${secret:hf}"}}},
        format="json",
    )
    missing = submit(world.alice, {"train.py": USES_TEAM_SECRET}, environment="uses-hf")
    failed = wait_status(missing["id"])
    assert failed.status == "Failed" and "no secret 'hf'" in failed.error
    world.alice.client.post("/api/team-secrets/", {"name": "hf", "value": HF}, format="json")
    made = submit(world.alice, {"train.py": USES_TEAM_SECRET}, environment="uses-hf")
    run = wait_status(made["id"])
    stored = lines(made["id"])
    assert run.status == "Completed", (run.error, stored)
    assert f"hf: {MASK}" in stored and HF not in "\n".join(stored)
