"""Secret environment variables: write-only in the API, real values only at launch.

A version's ``spec`` (what the API returns, the admin shows and the audit trail
records) holds a secret variable as ``***`` and lists its name in
``secret_variables``; a URL with credentials (``scheme://user:password@host``) keeps
everything but its password, shown as ``***``. The real values live in
``EnvironmentVersion.secret_values``, which no serializer exposes: only the run's
environment (execution.executor) and its log masker read them.

A variable is secret when its name is listed in the spec's ``secret_variables``, or
its name looks secret (config.masking); a URL with a password is secret in its
password part. Registering a new version with ``***`` (or a URL whose password is
``***``) as the value of a variable that was secret keeps the previous version's
value, so a client that read the masked spec can change other fields and save it
back, as the SDK and the web app do.

A team secret (environments.models.TeamSecret, set through ``/api/team-secrets/``) is
referenced by a variable whose whole value is ``${secret:NAME}``: the reference is
stored and shown as is, and the run gets the secret of its own team, masked in its log.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from config.masking import MASK, URL_CREDENTIALS, looks_secret_name, mask_url_passwords, url_passwords

TEAM_SECRET_REFERENCE = re.compile(r"^\$\{secret:(?P<name>[A-Za-z_][A-Za-z0-9_.-]{0,127})\}$")


class Kind(enum.Enum):
    WHOLE = "whole"  # the whole value is secret
    URL_PASSWORD = "url-password"  # only the passwords of the URLs in it


@dataclass(frozen=True)
class SplitVariables:
    public: dict[str, str]
    secret_names: list[str]
    secret_values: dict[str, str]


def kind_of(public_value: str) -> Kind:
    """The kind of a stored secret, read back from its public form."""
    return Kind.WHOLE if public_value == MASK else Kind.URL_PASSWORD


def split_variables(
    variables: dict[str, str],
    forced: set[str],
    previous_public: dict[str, str] | None = None,
    previous_secret: dict[str, str] | None = None,
) -> SplitVariables:
    """Separate secret values from the public form of ``variables``."""
    previous_public = previous_public or {}
    previous_secret = previous_secret or {}
    public: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in variables.items():
        real, kind = value, None
        old = previous_secret.get(name)
        if old is not None:
            old_kind = kind_of(previous_public.get(name, MASK))
            if value in (MASK, previous_public.get(name)):
                real, kind = old, old_kind
            elif MASK in url_passwords(value) and url_passwords(old):
                # The URL changed but its password was left masked: keep the password.
                real, kind = _with_password(value, url_passwords(old)[0]), Kind.URL_PASSWORD
        if kind is None and TEAM_SECRET_REFERENCE.match(real):
            public[name] = real  # a reference, not a secret: resolved at launch
            continue
        if kind is None:
            if name in forced or looks_secret_name(name):
                kind = Kind.WHOLE
            elif url_passwords(real):
                kind = Kind.URL_PASSWORD
        if kind is None:
            public[name] = real
            continue
        secret[name] = real
        public[name] = MASK if kind is Kind.WHOLE else mask_url_passwords(real)
    return SplitVariables(public, sorted(secret), secret)


def _with_password(url: str, password: str) -> str:
    return URL_CREDENTIALS.sub(
        lambda m: m.group("head") + (password if m.group("password") == MASK else m.group("password")), url, count=1
    )


def public_spec(spec: dict[str, Any], previous: Any = None) -> tuple[dict[str, Any], dict[str, str]]:
    """(the spec to store and show, the secret values to keep apart) for a normalized
    spec; ``previous`` is the environment's latest version, whose secrets carry over."""
    split = split_variables(
        spec.get("environment_variables", {}),
        set(spec.get("secret_variables", [])),
        previous.spec.get("environment_variables", {}) if previous is not None else None,
        previous.secret_values if previous is not None else None,
    )
    return {**spec, "environment_variables": split.public, "secret_variables": split.secret_names}, split.secret_values


class MissingTeamSecret(Exception):
    pass


def team_secret_references(version: Any) -> dict[str, str]:
    """{variable: team secret name} for the variables whose value is ``${secret:NAME}``."""
    out: dict[str, str] = {}
    for variable, value in version.spec.get("environment_variables", {}).items():
        match = TEAM_SECRET_REFERENCE.match(value)
        if match:
            out[variable] = match.group("name")
    return out


def _team_values(version: Any, team: Any) -> dict[str, str]:
    from environments.models import TeamSecret

    wanted = team_secret_references(version)
    if not wanted:
        return {}
    found = dict(TeamSecret.objects.filter(team=team, name__in=set(wanted.values())).values_list("name", "value"))
    missing = sorted({name for name in wanted.values() if name not in found})
    if missing:
        raise MissingTeamSecret(
            f"Team '{team.slug}' has no secret {', '.join(repr(m) for m in missing)} "
            "(referenced as ${secret:NAME} by the environment)."
        )
    return {variable: found[name] for variable, name in wanted.items()}


def run_variables(version: Any, team: Any = None) -> dict[str, str]:
    """The variables a run of ``version`` for ``team`` gets: the real values, with team
    secrets in place of their ``${secret:NAME}`` references."""
    resolved = _team_values(version, team) if team is not None else {}
    return {**version.spec.get("environment_variables", {}), **version.secret_values, **resolved}


def masked_values(version: Any, team: Any = None) -> list[str]:
    """What to mask in the logs of a run of ``version`` for ``team``."""
    public = version.spec.get("environment_variables", {})
    out: list[str] = []
    for name, real in version.secret_values.items():
        if kind_of(public.get(name, MASK)) is Kind.WHOLE:
            out.append(real)
        else:
            out.extend(url_passwords(real))
    if team is not None:
        try:
            out.extend(_team_values(version, team).values())
        except MissingTeamSecret:  # the run fails on it at launch; mask the ones there are
            from environments.models import TeamSecret

            names = set(team_secret_references(version).values())
            out.extend(TeamSecret.objects.filter(team=team, name__in=names).values_list("value", flat=True))
    return out
