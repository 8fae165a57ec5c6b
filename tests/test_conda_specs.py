"""Conda specifications: the translation table (names, conda versions as PEP 440,
skipped runtime libraries, refused packages), what the API accepts and refuses, the
version's ``conda`` field, and the content hash of the new spec keys."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from packaging.requirements import Requirement

from environments import spec as specs
from environments.conda import build_notes, translate


def one(dependency: str) -> str:
    translation = translate(f"dependencies:\n  - {dependency!r}\n")
    assert not translation.errors(), translation.errors()
    assert len(translation.packages) == 1, translation
    return translation.packages[0].pip


@pytest.mark.parametrize(
    ("conda", "pip"),
    [
        # names: the same on PyPI unless the table says otherwise
        ("scikit-learn", "scikit-learn"),
        ("numpy", "numpy"),
        ("pyyaml", "pyyaml"),
        ("pillow", "pillow"),
        ("tensorflow", "tensorflow"),
        ("python-dateutil", "python-dateutil"),
        ("pytorch", "torch"),
        ("py-xgboost", "xgboost"),
        ("opencv", "opencv-python"),
        ("py-opencv", "opencv-python"),
        ("matplotlib-base", "matplotlib"),
        ("msgpack-python", "msgpack"),
        ("pytables", "tables"),
        ("python-graphviz", "graphviz"),
        ("tensorflow-gpu", "tensorflow"),
        ("faiss", "faiss-cpu"),
        # versions: conda's single '=' is "starts with"
        ("numpy=1.26", "numpy==1.26.*"),
        ("numpy=1.26.4", "numpy==1.26.4.*"),
        ("numpy==1.26.4", "numpy==1.26.4"),
        ("scikit-learn==0.22.1", "scikit-learn==0.22.1"),
        ("numpy>=1.20,<2", "numpy>=1.20,<2"),
        ("numpy >=1.20", "numpy>=1.20"),
        ("numpy 1.26.*", "numpy==1.26.*"),
        ("numpy=1.26.*", "numpy==1.26.*"),
        ("numpy=1.2*", "numpy==1.2.*"),
        ("numpy 1.26.4", "numpy==1.26.4"),
        ("numpy !=1.0", "numpy!=1.0"),
        ("numpy~=1.26", "numpy~=1.26"),
        # build strings and channels are conda's: dropped
        ("numpy=1.26.4=py311h64a7726_0", "numpy==1.26.4"),
        ("numpy 1.26.4 py311h64a7726_0", "numpy==1.26.4"),
        ("opencv=4.5.1=py39_0", "opencv-python==4.5.1"),
        ("conda-forge::numpy=1.26", "numpy==1.26.*"),
        ("pytorch::pytorch==2.1.0", "torch==2.1.0"),
        ("numpy[version='>=1.8,<2', build=py_0]", "numpy>=1.8,<2"),
        # '|': PEP 440 has no "or": the range covering the alternatives
        ("scipy=1.10|1.11", "scipy>=1.10,<1.12"),
        ("scipy 1.10.1|==1.11.2", "scipy>=1.10.1,<=1.11.2"),
    ],
)
def test_translation_table(conda: str, pip: str) -> None:
    translated = one(conda)
    assert translated == pip
    Requirement(translated)  # valid for pip


def test_the_notes_say_what_changed() -> None:
    package = translate("dependencies:\n  - opencv=4.5.1=py39_0\n").packages[0]
    notes = "; ".join(package.notes)
    assert "renamed" in notes and "build string py39_0 dropped" in notes and "'=4.5.1' is pip's '==4.5.1'" in notes
    assert translate("dependencies:\n  - numpy==1.26.4\n").packages[0].notes == ()
    assert "pip has no 'or'" in "".join(translate("dependencies:\n  - scipy=1.10|1.11\n").packages[0].notes)


CONDA = """\
name: project_environment
channels:
  - pytorch
  - conda-forge
dependencies:
  - python=3.10
  - pip
  - msgpack-python=1
  - libgcc-ng=13.2.0=h807b86a_5
  - _openmp_mutex
  - pip:
    - six
"""


def test_python_channels_skipped_libraries_and_the_pip_section() -> None:
    translation = translate(CONDA)
    assert translation.python == "3.10"
    assert translation.channels == ("pytorch", "conda-forge")
    assert translation.requirements == ["pip", "msgpack==1.*", "six"]
    assert [p.conda for p in translation.skipped] == ["libgcc-ng=13.2.0=h807b86a_5", "_openmp_mutex"]
    log = translation.log_lines()
    assert (
        "  msgpack-python=1 -> msgpack==1.* (renamed: PyPI's name for msgpack-python; conda's '=1' is pip's '==1.*')"
        in log
    )
    assert any(line.startswith("  warning: libgcc-ng=13.2.0=h807b86a_5 skipped: a runtime library") for line in log)
    assert any("channels pytorch, conda-forge: recorded, not used" in line for line in log)
    assert build_notes({"conda_specification": CONDA}) == log


@pytest.mark.parametrize(
    ("dependency", "says"),
    [
        ("cudatoolkit=11.8", "CUDA"),
        ("cudnn", "CUDA"),
        ("mkl", "OpenBLAS"),
        ("gxx_linux-64", "compilers"),
        ("r-ggplot2", "R package"),
        ("graphviz", "python-graphviz"),
    ],
)
def test_what_pypi_cannot_provide_is_refused_with_the_fix(dependency: str, says: str) -> None:
    errors = translate(f"dependencies:\n  - {dependency}\n").errors()
    assert len(errors) == 1 and errors[0].startswith(f"'{dependency}' has no PyPI equivalent: ") and says in errors[0]


@pytest.mark.parametrize(
    ("dependency", "says"),
    [
        ("python>=3.8", "give one Python version"),
        ("foo=1.1.1k", "not a version pip understands"),
        ("numpy <1|>2", "give one version range"),
    ],
)
def test_untranslatable_versions_are_named(dependency: str, says: str) -> None:
    errors = translate(f"dependencies:\n  - {dependency}\n").errors()
    assert len(errors) == 1 and errors[0].startswith(f"'{dependency}': ") and says in errors[0], errors


def test_python_version_comes_from_the_conda_specification_unless_given() -> None:
    conda = "dependencies:\n  - python=3.9\n  - six\n"
    assert specs.normalize({"conda_specification": conda})["python_version"] == "3.9"
    # The editor's default Python does not override the file's pin.
    assert specs.normalize({"conda_specification": conda, "python_version": "3.11"})["python_version"] == "3.9"
    assert specs.normalize({"conda_specification": conda, "python_version": "3.9"})["python_version"] == "3.9"
    with pytest.raises(ValidationError) as caught:
        specs.normalize({"conda_specification": conda, "python_version": "3.12"})
    assert "python=3.9 but python_version is 3.12" in str(caught.value.message_dict["conda_specification"])


def test_new_spec_keys_keep_old_hashes() -> None:
    plain = specs.normalize({"pip_requirements": ["six"]})
    assert plain["user_managed_dependencies"] is False
    before = {k: v for k, v in plain.items() if k != "user_managed_dependencies"}
    assert specs.content_hash(plain) == specs.content_hash(before)
    managed = specs.normalize({"pip_requirements": ["six"], "user_managed_dependencies": True})
    assert specs.content_hash(managed) != specs.content_hash(plain)
    assert specs.pip_requirements_of(managed) == []
    assert specs.pip_requirements_of(specs.normalize({"conda_specification": CONDA})) == ["pip", "msgpack==1.*", "six"]


def test_api_refuses_each_package_pypi_lacks_naming_the_field(world: Any) -> None:
    conda = "dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n  - mkl\n  - numpy\n  - pip:\n    - six\n"
    response = world.alice.client.post(
        "/api/environments/", {"name": "gpu", "spec": {"conda_specification": conda}}, format="json"
    )
    assert response.status_code == 400, response.content
    errors = response.json()["spec"]["conda_specification"]
    assert [e.split(":")[0] for e in errors] == [
        "'cudatoolkit=11.8' has no PyPI equivalent",
        "'mkl' has no PyPI equivalent",
    ]
    assert "Docker base image" in errors[0]
    bad = world.alice.client.post(
        "/api/environments/",
        {"name": "idx", "spec": {"conda_specification": "dependencies:\n  - pip:\n    - --index-url http://x\n"}},
        format="json",
    )
    assert bad.status_code == 400 and "--index-url" in str(bad.json()["spec"]["conda_specification"])
    for spec in ({"user_managed_dependencies": "yes"}, {"conda_specification": "dependencies: [[1]]"}):
        bad = world.alice.client.post("/api/environments/", {"name": "x", "spec": spec}, format="json")
        assert bad.status_code == 400 and list(bad.json()["spec"]) == [next(iter(spec))], bad.content


def test_the_version_shows_channels_and_translations(world: Any) -> None:
    response = world.alice.client.post(
        "/api/environments/", {"name": "conda-env", "spec": {"conda_specification": CONDA}}, format="json"
    )
    assert response.status_code == 201, response.content
    version = response.json()["latest_version"]
    assert version["spec"]["python_version"] == "3.10"
    conda = version["conda"]
    assert conda["channels"] == ["pytorch", "conda-forge"] and conda["python"] == "3.10" and conda["pip"] == ["six"]
    assert {"conda": "msgpack-python=1", "pip": "msgpack==1.*"}.items() <= conda["packages"][1].items()
    assert [s["conda"] for s in conda["skipped"]] == ["libgcc-ng=13.2.0=h807b86a_5", "_openmp_mutex"]
    plain = world.alice.client.post(
        "/api/environments/", {"name": "plain", "spec": {"pip_requirements": ["six"]}}, format="json"
    )
    assert plain.json()["latest_version"]["conda"] is None


def test_the_name_tables_are_consistent() -> None:
    from environments.conda_names import BUNDLED, REFUSED, RENAMED, normal

    for table in (RENAMED, BUNDLED, REFUSED):
        assert all(name == normal(name) for name in table), "keys are compared in normal form"
    assert not (set(RENAMED) & set(BUNDLED)) and not (set(RENAMED) & set(REFUSED)) and not (set(BUNDLED) & set(REFUSED))
    assert all(normal(pypi) != name for name, pypi in RENAMED.items()), "a rename changes the name"
