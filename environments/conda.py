"""Conda environment specifications, honoured through pip/uv.

Runyard builds every environment with uv from PyPI-style indexes. A conda
specification (``environment.yml``: ``name``, ``channels``, ``dependencies`` with an
optional nested ``- pip:`` list) is translated once, here, into what that build needs:

* ``python=X.Y[.Z]`` becomes the spec's Python version (``environments.pythons``
  picks the interpreter);
* every other conda package becomes a PyPI requirement: its name through
  ``environments.conda_names`` (``pytorch`` → ``torch``, ``py-xgboost`` → ``xgboost``,
  same name otherwise), its conda version syntax rewritten as PEP 440
  (``=1.2`` → ``==1.2.*``, ``==1.2`` stays, ``>=1,<2`` stays, ``1.2.*`` → ``==1.2.*``,
  ``=1.2=py39_0`` → ``==1.2`` with the build string dropped, ``1.2|1.3`` → the range
  covering both), a ``channel::`` prefix dropped;
* runtime libraries that wheels bundle are skipped, software PyPI cannot provide is
  refused (the spec is rejected naming each package and its fix);
* the ``- pip:`` entries follow the translated packages unchanged.

``translate`` is pure (no I/O): the API shows its result on the version (``conda``
field), validation refuses what it refuses, and the build log repeats its notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypedDict

from django.core.exceptions import ValidationError
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from environments.conda_names import BUNDLED, RENAMED, describe_refused, normal

FIELD = "conda_specification"
_NAME = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(.*)$")
_BRACKET_ITEM = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('[^']*'|\"[^\"]*\"|([^,\]]*))\s*,?")
_CLAUSE = re.compile(r"^(>=|<=|!=|==|~=|>|<|=)?\s*([^\s]+)$")


class CondaPackageInfo(TypedDict):
    conda: str
    pip: str
    notes: list[str]


class RefusedInfo(TypedDict):
    conda: str
    reason: str


class CondaInfo(TypedDict):
    """The ``conda`` field of an environment version in the API."""

    channels: list[str]
    python: str | None
    packages: list[CondaPackageInfo]
    skipped: list[CondaPackageInfo]
    pip: list[str]


@dataclass(frozen=True)
class CondaPackage:
    """One conda dependency and the PyPI requirement it became ('' when skipped)."""

    conda: str
    pip: str
    notes: tuple[str, ...] = ()

    def info(self) -> CondaPackageInfo:
        return {"conda": self.conda, "pip": self.pip, "notes": list(self.notes)}


@dataclass(frozen=True)
class Refused:
    conda: str
    reason: str


@dataclass(frozen=True)
class Translation:
    """What a conda specification means for a pip/uv build."""

    channels: tuple[str, ...] = ()
    python: str | None = None
    packages: tuple[CondaPackage, ...] = ()
    skipped: tuple[CondaPackage, ...] = ()
    pip: tuple[str, ...] = ()
    refused: tuple[Refused, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def requirements(self) -> list[str]:
        return [p.pip for p in self.packages] + list(self.pip)

    def errors(self) -> list[str]:
        """Why this specification cannot be built, one message per problem."""
        out = list(self.problems)
        out += [f"'{r.conda}' has no PyPI equivalent: {r.reason}." for r in self.refused]
        return out

    def log_lines(self) -> list[str]:
        """What the build log says about the translation."""
        if not (self.packages or self.skipped or self.python or self.channels):
            return []
        lines = ["Conda specification, installed with uv from the package index (conda is not used):"]
        if self.channels:
            lines.append(
                f"  channels {', '.join(self.channels)}: recorded, not used (packages come from the server's index)"
            )
        if self.python:
            lines.append(f"  python={self.python} -> the interpreter of this build")
        for package in self.packages:
            notes = f" ({'; '.join(package.notes)})" if package.notes else ""
            lines.append(f"  {package.conda} -> {package.pip}{notes}")
        for package in self.skipped:
            lines.append(f"  warning: {package.conda} skipped: {'; '.join(package.notes)}")
        if self.pip:
            lines.append(f"  pip section: {', '.join(self.pip)}")
        return lines

    def info(self) -> CondaInfo:
        return {
            "channels": list(self.channels),
            "python": self.python,
            "packages": [p.info() for p in self.packages],
            "skipped": [p.info() for p in self.skipped],
            "pip": list(self.pip),
        }


def parse(text: str) -> dict[str, Any]:
    """The YAML mapping of a conda specification; ValidationError naming the field otherwise."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValidationError({FIELD: [f"Not valid YAML: {exc}"]}) from None
    if not isinstance(data, dict):
        raise ValidationError({FIELD: ["Must be a mapping with 'dependencies'."]})
    return data


def translate(text: str) -> Translation:
    """Translate a conda specification (see the module docstring). Refusals and
    untranslatable entries are collected in the result, not raised: the caller reports
    them all at once. Raises ValidationError only when the text is not a specification."""
    if not text.strip():
        return Translation()
    data = parse(text)
    channels = data.get("channels") or []
    deps = data.get("dependencies") or []
    if not isinstance(channels, list) or not isinstance(deps, list):
        raise ValidationError({FIELD: ["'channels' and 'dependencies' must be lists."]})
    found = _Found()
    for dep in deps:
        if isinstance(dep, dict):
            if set(dep) != {"pip"} or not isinstance(dep["pip"] or [], list):
                found.problems.append(f"Only a '- pip: [...]' list may be nested in dependencies, not {dep!r}.")
                continue
            found.pip.extend(str(p).strip() for p in dep["pip"] or [] if str(p).strip())
        elif isinstance(dep, (str, int, float)):
            try:
                found.add(str(dep).strip())
            except ValueError as exc:
                found.problems.append(f"'{str(dep).strip()}': {exc}")
        else:
            found.problems.append(f"Cannot read the dependency {dep!r}.")
    return Translation(
        channels=tuple(str(c) for c in channels),
        python=found.python,
        packages=tuple(found.packages),
        skipped=tuple(found.skipped),
        pip=tuple(found.pip),
        refused=tuple(found.refused),
        problems=tuple(found.problems),
    )


@dataclass
class _Found:
    python: str | None = None
    packages: list[CondaPackage] = field(default_factory=list)
    skipped: list[CondaPackage] = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, raw: str) -> None:
        """Sort one conda dependency; ValueError for one that cannot be translated."""
        parsed = _parse_spec(raw)
        reason = describe_refused(parsed.name)
        if parsed.name == "python":
            self.python = _python_pin(parsed)
        elif reason:
            self.refused.append(Refused(raw, reason))
        elif parsed.name in BUNDLED:
            self.skipped.append(CondaPackage(raw, "", (BUNDLED[parsed.name],)))
        else:
            self.packages.append(_to_pip(raw, parsed))


# ---- one conda MatchSpec ---------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str  # PEP 503 normal form
    written_name: str
    version: str  # conda version spec, '' for any
    written: str  # the version as written, with its '=' or '=='
    fuzzy: bool  # a bare version means "starts with" (conda's single '=')
    build: str
    channel: str
    dropped: tuple[str, ...]  # bracket keys that have no pip meaning


def _parse_spec(raw: str) -> _Spec:
    """Split a conda MatchSpec string: ``[channel::]name[ version[ build]]``, the
    ``=``/``==`` forms and a trailing ``[key=value, ...]``."""
    text = raw
    channel = ""
    if "::" in text:
        channel, text = (part.strip() for part in text.split("::", 1))
    bracket: dict[str, str] = {}
    found = re.search(r"\[(.*)\]\s*$", text)
    if found:
        for key, value, _ in _BRACKET_ITEM.findall(found.group(1)):
            bracket[key] = value.strip().strip("'\"").strip()
        text = text[: found.start()].strip()
    match = _NAME.match(text)
    if not match:
        raise ValueError("not a conda package spec like 'numpy=1.26'")
    name, rest = match.group(1), match.group(2).strip()
    version, build, fuzzy, written = "", "", False, ""
    if rest.startswith("=="):
        version, _, build = rest[2:].partition("=")
        written = f"=={version}"
    elif rest.startswith("="):
        version, _, build = rest[1:].partition("=")
        fuzzy = not build  # name=1.2=build pins the exact version of an export
        written = f"={version}"
    elif rest:
        parts = rest.split()
        if len(parts) > 2:
            raise ValueError("expected 'name version [build]'")
        version, build = parts[0], parts[1] if len(parts) > 1 else ""
        written = version
    if "version" in bracket:
        version, fuzzy = bracket.pop("version"), False
        written = f"[version='{version}']"
    if "build" in bracket:
        build = bracket.pop("build")
    return _Spec(
        normal(name), name, version.strip(), written.strip(), fuzzy, build.strip(), channel, tuple(sorted(bracket))
    )


def _python_pin(spec: _Spec) -> str:
    version = spec.version.rstrip("*").rstrip(".")
    if not re.match(r"^3\.\d{1,2}(\.\d{1,2})?$", version) or (spec.version and spec.version[0] in "<>!~"):
        raise ValueError("give one Python version, like python=3.10 or python=3.10.4")
    return version


def _to_pip(raw: str, spec: _Spec) -> CondaPackage:
    notes: list[str] = []
    name = RENAMED.get(spec.name, spec.written_name)
    if spec.name in RENAMED:
        notes.append(f"renamed: PyPI's name for {spec.written_name}")
    if spec.channel:
        notes.append(f"channel {spec.channel} not used")
    if spec.build:
        notes.append(f"build string {spec.build} dropped: pip picks the wheel for this Python and platform")
    if spec.dropped:
        notes.append(f"{', '.join(spec.dropped)} ignored")
    specifier = _pep440(spec.version, spec.fuzzy, notes) if spec.version else ""
    if specifier and specifier != spec.written and "|" not in spec.version:
        notes.append(f"conda's '{spec.written}' is pip's '{specifier}'")
    return CondaPackage(raw, f"{name}{specifier}", tuple(notes))


def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise ValueError(f"'{text}' is not a version pip understands; give this package in the pip section") from None


def _pep440(conda_version: str, fuzzy: bool, notes: list[str]) -> str:
    """A conda version spec as a PEP 440 specifier (``notes``: what alternatives became)."""
    if "|" in conda_version:
        return _alternatives(conda_version, notes)
    clauses = []
    for clause in (c.strip() for c in conda_version.split(",")):
        match = _CLAUSE.match(clause)
        if not match or not clause:
            raise ValueError(f"cannot read the version '{conda_version}'")
        op, version = match.group(1) or "", match.group(2)
        if op == "=":
            op, clause_fuzzy = "", True
        else:
            clause_fuzzy = fuzzy and not op
        if version.endswith("*"):
            version = version.rstrip("*").rstrip(".")
            _version(version)
            clauses.append(f"=={version}.*" if op in ("", "==") else f"{op}{version}")
        elif not op:
            _version(version)
            clauses.append(f"=={version}.*" if clause_fuzzy else f"=={version}")
        else:
            _version(version)
            clauses.append(f"{op}{version}")
    result = ",".join(clauses)
    try:
        SpecifierSet(result)
    except InvalidSpecifier:
        raise ValueError(f"cannot express the version '{conda_version}' for pip") from None
    return result


def _alternatives(conda_version: str, notes: list[str]) -> str:
    """``1.11|1.12`` (conda's "or"): PEP 440 has none, so the range covering every
    alternative, which also admits what lies between them (said in the notes)."""
    lows: list[Version] = []
    highs: list[tuple[Version, bool]] = []  # (bound, inclusive)
    for alternative in conda_version.split("|"):
        text = alternative.strip().lstrip("=").rstrip("*").rstrip(".")
        if not text or any(ch in text for ch in "<>!~,"):
            raise ValueError(f"cannot express the alternatives '{conda_version}' for pip; give one version range")
        version = _version(text)
        lows.append(version)
        exact = alternative.strip().startswith("==")
        if exact:
            highs.append((version, True))
        else:
            parts = list(version.release)
            parts[-1] += 1
            highs.append((Version(".".join(map(str, parts))), False))
    low = min(lows)
    high, inclusive = max(highs, key=lambda h: (h[0], h[1]))
    result = f">={low},{'<=' if inclusive else '<'}{high}"
    notes.append(f"conda's '{conda_version}' is pip's range '{result}': pip has no 'or', versions between are allowed")
    return result


# ---- what the build needs --------------------------------------------------------------


def pip_part(text: str) -> list[str]:
    """The ``- pip:`` section of a conda specification, as written."""
    return list(translate(text).pip)


def pip_options(translation: Translation) -> list[str]:
    """Entries of the pip section that are pip options, not requirements."""
    return [p for p in translation.pip if p.startswith("-")]


def version_info(spec: dict[str, Any]) -> CondaInfo | None:
    """The version's ``conda`` API field: None without a conda specification."""
    text = spec.get(FIELD) or ""
    if not text.strip():
        return None
    try:
        return translate(text).info()
    except ValidationError:
        return None


def build_notes(spec: dict[str, Any], *, run: bool = False) -> list[str]:
    """Lines for the build log: the translation, and what user-managed means. For a
    run's log on a cache hit (``run``): only the user-managed note, the translation
    being in the build's log."""
    if spec.get("user_managed_dependencies"):
        return [USER_MANAGED_NOTE]
    return [] if run else translate(spec.get(FIELD) or "").log_lines()


USER_MANAGED_NOTE = (
    "user_managed_dependencies=True: the run uses the base interpreter as it is and nothing is installed "
    "(the environment's packages are not installed, as in Azure ML)."
)
