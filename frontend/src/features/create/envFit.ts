import type { EnvironmentSpec } from "../../api/types";
import type { DistributedType } from "./runForm";

/** The server's default (RUNYARD_DEFAULT_ENVIRONMENT's default): what "Default environment" runs in. */
export const DEFAULT_ENVIRONMENT = "Runyard-Python-3.11";

interface Need {
  what: string;
  /** Package names (pip or conda) any one of which provides it. */
  packages: string[];
  /** Substrings of a docker base image that provide it (pytorch/pytorch, horovod…). */
  images: string[];
  fix: string;
}

const NEEDS: Partial<Record<DistributedType, Need>> = {
  pytorch: {
    what: "PyTorch (torchrun and the nccl/gloo backends)",
    packages: ["torch", "pytorch"],
    images: ["pytorch", "torch"],
    fix: "add torch to its pip requirements",
  },
  mpi: {
    what: "an MPI (mpirun and its library)",
    packages: ["mpi4py", "openmpi", "mpich", "intel-mpi", "impi_rt", "horovod"],
    images: ["mpi", "horovod"],
    fix: "add mpi4py (or openmpi / mpich in a conda specification)",
  },
  tensorflow: {
    what: "TensorFlow",
    packages: ["tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"],
    images: ["tensorflow"],
    fix: "add tensorflow to its pip requirements",
  },
};

/** A requirement's distribution name, normalised: "Torch[cuda]>=2.1 ; python_version>'3'" → "torch". */
export function requirementName(line: string): string {
  const bare = line.split("#")[0].split(";")[0].trim();
  const match = /^([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(bare);
  return match ? match[1].toLowerCase().replace(/[._]/g, "-") : "";
}

/** Package names a spec lists: pip requirements, and conda dependencies (pip: sections included). */
export function specPackages(spec: EnvironmentSpec): Set<string> {
  const names = new Set(spec.pip_requirements.map(requirementName).filter(Boolean));
  for (const raw of spec.conda_specification.split("\n")) {
    const item = /^\s*-\s*([^\s#]+)/.exec(raw);
    if (!item) continue;
    const name = item[1].replace(/:$/, "").split("::").pop()!.split(/[=<>!~ ]/)[0];
    if (name) names.add(name.toLowerCase().replace(/[._]/g, "-"));
  }
  return names;
}

/**
 * Why `spec` may not run `type`, or null: torch for PyTorch, an MPI for MPI, TensorFlow for
 * TensorFlow. Only a warning, since a base image or a Dockerfile can bring them unlisted.
 */
export function distributionWarning(type: DistributedType, envName: string, spec: EnvironmentSpec | null): string | null {
  const need = NEEDS[type];
  if (!need || !spec) return null;
  const packages = specPackages(spec);
  const normalised = need.packages.map((p) => p.replace(/[._]/g, "-"));
  if (normalised.some((p) => packages.has(p))) return null;
  const image = `${spec.docker_base_image} ${spec.dockerfile}`.toLowerCase();
  if (need.images.some((hint) => image.includes(hint))) return null;
  return `${envName} does not list ${need.what}: the run would fail as it starts. Pick an environment that has it, or ${need.fix}.`;
}
