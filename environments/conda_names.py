"""What a conda package name means on PyPI: the table behind ``environments.conda``.

Most conda packages have the same name on PyPI (``numpy``, ``scikit-learn``, ``pandas``,
``pyyaml``, ``pillow``, ``tensorflow``, ``python-dateutil``…): names not listed here are
installed as written and the resolver reports a name PyPI does not know. The tables
hold only the differences, in three kinds:

* ``RENAMED``: the PyPI distribution of the same software has another name.
* ``BUNDLED``: runtime libraries that conda ships as packages of their own and that
  PyPI wheels carry inside them (manylinux wheels vendor their shared libraries) or
  that the interpreter already has. Skipping them changes nothing a run can see, so
  they are skipped with a warning in the build log rather than refused: ``conda env
  export`` files list dozens of them.
* ``REFUSED``: software PyPI cannot provide (CUDA toolkits, compilers, MKL-linked
  builds, non-Python runtimes). A build without them would fail later or silently
  run something else, so the spec is refused with the fix for each.

Names are compared in PEP 503 normal form (lowercase, runs of ``-_.`` as ``-``).
"""

from __future__ import annotations

import re


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# The interpreter and the installer: provided by every build.
PROVIDED = frozenset({"python", "pip", "setuptools", "wheel"})

RENAMED: dict[str, str] = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-xgboost-gpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "py-catboost": "catboost",
    "opencv": "opencv-python",
    "py-opencv": "opencv-python",
    "matplotlib-base": "matplotlib",
    "numpy-base": "numpy",
    "tensorflow-base": "tensorflow",
    "tensorflow-gpu": "tensorflow",
    "tensorflow-mkl": "tensorflow",
    "tensorflow-eigen": "tensorflow",
    "pytables": "tables",
    "msgpack-python": "msgpack",
    "python-graphviz": "graphviz",
    "pyqt": "pyqt5",
    "faiss": "faiss-cpu",
    "pyarrow-core": "pyarrow",
    "python-kaleido": "kaleido",
    "python-lmdb": "lmdb",
    "python-tzdata": "tzdata",
    "python-xxhash": "xxhash",
    "python-fastjsonschema": "fastjsonschema",
}

BUNDLED: dict[str, str] = {
    name: "a runtime library that PyPI wheels bundle (or the interpreter has)"
    for name in (
        "_libgcc-mutex",
        "_openmp-mutex",
        "libgcc",
        "libgcc-ng",
        "libgomp",
        "libstdcxx",
        "libstdcxx-ng",
        "libgfortran",
        "libgfortran-ng",
        "libgfortran5",
        "ld-impl-linux-64",
        "libzlib",
        "zlib",
        "xz",
        "liblzma",
        "bzip2",
        "libffi",
        "openssl",
        "ca-certificates",
        "sqlite",
        "libsqlite",
        "readline",
        "ncurses",
        "tk",
        "libuuid",
        "libnsl",
        "libxcrypt",
        "libexpat",
        "expat",
        "tzdata",
        "libblas",
        "libcblas",
        "liblapack",
        "liblapacke",
        "blas",
        "openblas",
        "libopenblas",
        "nomkl",
        "llvm-openmp",
        "libjpeg-turbo",
        "jpeg",
        "libpng",
        "libtiff",
        "libwebp",
        "libwebp-base",
        "lcms2",
        "freetype",
        "libdeflate",
        "lerc",
        "zstd",
        "lz4-c",
        "libprotobuf",
        "yaml",
        "libyaml",
        "libopencv",
        "hdf5",
        "libxml2",
        "libxslt",
        "libiconv",
        "icu",
        "libedit",
        "pthread-stubs",
        "libarrow",
        "arrow-cpp",
        "libabseil",
        "libsodium",
        "c-ares",
        "krb5",
        "libcurl",
        "libssh2",
        "libev",
        "xorg-libxau",
        "xorg-libxdmcp",
        "libxcb",
        "pytorch-mutex",
        "_py-xgboost-mutex",
        "libxgboost",
        "libllvm14",
        "libllvm15",
        "libllvm16",
        "mkl-include",
    )
}
BUNDLED["cpuonly"] = (
    "conda's CPU-only switch for pytorch; on PyPI which torch build you get depends on the package index"
)

_CUDA = (
    "PyPI's torch and tensorflow wheels bring the CUDA libraries they need (nvidia-* wheels): remove it, "
    "or use a Docker base image with the CUDA toolkit (env.docker.base_image)"
)
_COMPILER = "compilers come from the system: use a Docker base image that has them (env.docker.base_image)"
_SYSTEM = "not a Python package: use a Docker base image that has it (env.docker.base_image)"

REFUSED: dict[str, str] = {
    "cudatoolkit": _CUDA,
    "cudatoolkit-dev": _CUDA,
    "cuda-toolkit": _CUDA,
    "cuda": _CUDA,
    "cuda-runtime": _CUDA,
    "cuda-nvcc": _CUDA,
    "cuda-version": _CUDA,
    "cuda-cudart": _CUDA,
    "cudnn": _CUDA,
    "nccl": _CUDA,
    "cupti": _CUDA,
    "magma": _CUDA,
    "magma-cuda110": _CUDA,
    "magma-cuda113": _CUDA,
    "magma-cuda118": _CUDA,
    "magma-cuda121": _CUDA,
    "pytorch-cuda": _CUDA,
    "mkl": (
        "PyPI's numpy and scipy wheels link their bundled OpenBLAS, not MKL: remove it (or use pip's 'mkl' "
        "in the pip section if you need the library files, or a Docker base image built with MKL)"
    ),
    "mkl-service": "MKL-linked builds do not exist on PyPI: remove it, or use a Docker base image built with MKL",
    "mkl-fft": "MKL-linked builds do not exist on PyPI: remove it, or use a Docker base image built with MKL",
    "mkl-random": "MKL-linked builds do not exist on PyPI: remove it, or use a Docker base image built with MKL",
    "intel-openmp": "MKL-linked builds do not exist on PyPI: remove it, or use a Docker base image built with MKL",
    "gcc": _COMPILER,
    "gxx": _COMPILER,
    "gfortran": _COMPILER,
    "gcc-linux-64": _COMPILER,
    "gxx-linux-64": _COMPILER,
    "gfortran-linux-64": _COMPILER,
    "compilers": _COMPILER,
    "cxx-compiler": _COMPILER,
    "c-compiler": _COMPILER,
    "fortran-compiler": _COMPILER,
    "make": _COMPILER,
    "git": _SYSTEM,
    "graphviz": "the dot program is not on PyPI: use python-graphviz for the Python package and a Docker "
    "base image with graphviz installed",
    "ffmpeg": "not a Python package: imageio-ffmpeg in the pip section brings an ffmpeg binary, "
    "or use a Docker base image that has it",
    "nodejs": _SYSTEM,
    "openjdk": _SYSTEM,
    "r-base": "R is not a Python package: use a Docker base image with R",
    "r-essentials": "R is not a Python package: use a Docker base image with R",
    "conda": "conda itself cannot be installed into a pip-built environment: remove it",
    "anaconda": "the Anaconda metapackage has no PyPI equivalent: list the packages you need",
    "libgdal-core": _SYSTEM,
}


RENAMED = {normal(k): v for k, v in RENAMED.items()}
BUNDLED = {normal(k): v for k, v in BUNDLED.items()}
REFUSED = {normal(k): v for k, v in REFUSED.items()}


def describe_refused(name: str) -> str | None:
    """Why ``name`` (normal form) cannot be installed, or None. Every ``r-*`` package
    is R's."""
    if name in REFUSED:
        return REFUSED[name]
    if name.startswith("r-"):
        return "an R package: use a Docker base image with R"
    return None
