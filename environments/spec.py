"""Environment specs: validation, normalisation and the content hash.

A spec is a plain dict::

    {"python_version": "3.11", "pip_requirements": ["numpy==2.1.0"], "conda_specification": "",
     "docker_base_image": "", "dockerfile": "", "environment_variables": {"A": "1"},
     "user_managed_dependencies": False}

The content hash covers what a build depends on (Python, packages, image), not
environment variables: those are applied at launch, so changing one never rebuilds.
``secret_variables`` names the variables to keep secret besides those whose name
looks secret (environments.secrets keeps their values out of the stored spec).

A conda specification is translated to PyPI requirements (``environments.conda``); its
``python=X.Y`` becomes ``python_version`` when that is not given. With
``user_managed_dependencies`` nothing is installed: the run uses the base interpreter.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.core.exceptions import ValidationError

from environments.indexes import is_index_option

BUILD_KEYS = ("python_version", "pip_requirements", "conda_specification", "docker_base_image", "dockerfile")
# Build keys added later are hashed only when set, so every existing version keeps its hash.
LATER_BUILD_KEYS = ("user_managed_dependencies",)
DEFAULTS: dict[str, Any] = {
    "python_version": "3.11",
    "pip_requirements": [],
    "conda_specification": "",
    "docker_base_image": "",
    "dockerfile": "",
    "environment_variables": {},
    "secret_variables": [],
    "user_managed_dependencies": False,
    # Allowed package indexes by name (environments.indexes): searched besides the host's,
    # and the one that replaces the host's index-url.
    "package_indexes": [],
    "default_index": "",
}
_PY_VERSION = re.compile(r"^3\.\d{1,2}(\.\d{1,2})?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REQ_FORBIDDEN = re.compile(r"[\n\r;`$]|^\s*-(?!-?e\b)")


Errors = dict[str, list[str]]


def normalize(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a spec and return its canonical form; errors name the field.

    Each group of fields is checked by its own function, which canonicalizes its part
    of ``spec`` in place and adds what it refuses to ``errors``; all problems are
    reported at once."""
    raw = dict(raw or {})
    unknown = set(raw) - set(DEFAULTS)
    errors: Errors = {}
    if unknown:
        errors["spec"] = [f"Unknown field(s): {', '.join(sorted(unknown))}."]
    spec = {**DEFAULTS, **{k: v for k, v in raw.items() if k in DEFAULTS}}
    for check in (
        _python_version,
        _pip_requirements,
        _texts,
        _conda,
        _indexes,
        _variables,
        _secret_names,
        _user_managed,
    ):
        check(spec, errors)
    _python_from_conda(spec, raw, errors)
    if errors:
        raise ValidationError(errors)
    return spec


def _python_version(spec: dict[str, Any], errors: Errors) -> None:
    version = str(spec["python_version"]).strip()
    if not _PY_VERSION.match(version):
        errors["python_version"] = [f"'{version}' is not a Python version like 3.11."]
    spec["python_version"] = version


def _pip_requirements(spec: dict[str, Any], errors: Errors) -> None:
    reqs = spec["pip_requirements"]
    if isinstance(reqs, str):
        reqs = reqs.splitlines()
    if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
        errors["pip_requirements"] = ["Must be a list of requirement strings."]
        reqs = []
    cleaned = []
    for req in reqs:
        req = req.split(" #", 1)[0].strip()
        if not req or req.startswith("#"):
            continue
        if _REQ_FORBIDDEN.search(req) and not is_index_option(req):
            errors.setdefault("pip_requirements", []).append(
                f"'{req}' is not allowed: give package requirements, or an allowed index as"
                " --extra-index-url / --index-url (see package_indexes)."
            )
        cleaned.append(req)
    spec["pip_requirements"] = cleaned


def _texts(spec: dict[str, Any], errors: Errors) -> None:
    for key in ("conda_specification", "docker_base_image", "dockerfile"):
        if not isinstance(spec[key], str):
            errors[key] = ["Must be a string."]
            spec[key] = ""
        spec[key] = spec[key].strip()
    if spec["docker_base_image"] and spec["dockerfile"]:
        errors["dockerfile"] = ["Give either docker_base_image or dockerfile, not both."]


def _conda(spec: dict[str, Any], errors: Errors) -> None:
    if not spec["conda_specification"]:
        return
    from environments.conda import pip_options, translate

    try:
        translation = translate(spec["conda_specification"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
        return
    problems = translation.errors()
    problems += [
        f"'{option}' in the pip section is not allowed: give package requirements only "
        "(index settings belong to the server)."
        for option in pip_options(translation)
        if not is_index_option(option)
    ]
    if problems:
        errors["conda_specification"] = problems


def _python_from_conda(spec: dict[str, Any], raw: dict[str, Any], errors: Errors) -> None:
    """``python=X.Y`` in the conda specification is the spec's Python version unless
    ``python_version`` is given too, in which case the two must agree."""
    if not spec["conda_specification"] or "conda_specification" in errors:
        return
    from environments.conda import translate

    pinned = translate(spec["conda_specification"]).python
    if pinned is None or pinned == spec["python_version"]:
        return
    if "python_version" in raw and str(raw["python_version"]).strip() != DEFAULTS["python_version"]:
        errors["conda_specification"] = [
            f"It asks for python={pinned} but python_version is {spec['python_version']}: "
            "make them agree, or leave one of them out."
        ]
        return
    spec["python_version"] = pinned


def _indexes(spec: dict[str, Any], errors: Errors) -> None:
    from environments.indexes import check_spec

    check_spec(spec, errors)


def _variables(spec: dict[str, Any], errors: Errors) -> None:
    variables = spec["environment_variables"]
    if not isinstance(variables, dict):
        errors["environment_variables"] = ["Must be an object of NAME: value."]
        variables = {}
    for name, value in variables.items():
        if not _ENV_NAME.match(str(name)):
            errors.setdefault("environment_variables", []).append(f"'{name}' is not a valid variable name.")
        if not isinstance(value, (str, int, float, bool)):
            errors.setdefault("environment_variables", []).append(f"'{name}' must have a string value.")
    spec["environment_variables"] = {str(k): str(v) for k, v in sorted(variables.items())}


def _secret_names(spec: dict[str, Any], errors: Errors) -> None:
    secret_names = spec["secret_variables"]
    if not isinstance(secret_names, list) or not all(isinstance(n, str) for n in secret_names):
        errors["secret_variables"] = ["Must be a list of variable names."]
        secret_names = []
    for name in secret_names:
        if name not in spec["environment_variables"]:
            errors.setdefault("secret_variables", []).append(f"'{name}' is not one of the environment_variables.")
    spec["secret_variables"] = sorted(set(secret_names))


def _user_managed(spec: dict[str, Any], errors: Errors) -> None:
    if not isinstance(spec["user_managed_dependencies"], bool):
        errors["user_managed_dependencies"] = ["Must be true or false."]
        spec["user_managed_dependencies"] = False


def content_hash(spec: dict[str, Any]) -> str:
    from environments.indexes import hashed_part

    build_part = {key: spec.get(key, DEFAULTS[key]) for key in BUILD_KEYS} | hashed_part(spec)
    build_part.update({key: spec[key] for key in LATER_BUILD_KEYS if spec.get(key, DEFAULTS[key]) != DEFAULTS[key]})
    canonical = json.dumps(build_part, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def pip_requirements_of(spec: dict[str, Any]) -> list[str]:
    """Everything a build installs: the conda specification's packages (translated to
    PyPI) and pip section, then ``pip_requirements``; nothing when user-managed. Index
    option lines are the spec's index settings, given to the installer apart."""
    from environments.conda import translate
    from environments.indexes import requirement_lines

    if spec.get("user_managed_dependencies"):
        return []
    conda = translate(spec.get("conda_specification", "")).requirements
    return requirement_lines([*conda, *spec.get("pip_requirements", [])])
