import type { EnvironmentSpec } from "../../api/types";
import { distributionWarning, requirementName, specPackages } from "./envFit";

const spec = (fields: Partial<EnvironmentSpec>): EnvironmentSpec => ({
  python_version: "3.11",
  pip_requirements: [],
  conda_specification: "",
  docker_base_image: "",
  dockerfile: "",
  environment_variables: {},
  secret_variables: [],
  package_indexes: [],
  default_index: "",
  ...fields,
});

test("requirement names are normalised", () => {
  expect(requirementName("Torch[cuda]>=2.1 ; python_version>'3'")).toBe("torch");
  expect(requirementName("mpi4py==3.1.5  # for MPI")).toBe("mpi4py");
  expect(requirementName("# a comment")).toBe("");
  expect(requirementName("tensorflow_cpu")).toBe("tensorflow-cpu");
});

test("conda specifications count, pip sections included", () => {
  const conda = "dependencies:\n  - python=3.11\n  - conda-forge::openmpi=4.1\n  - pip:\n    - torch==2.2\n";
  expect([...specPackages(spec({ conda_specification: conda }))].sort()).toEqual(["openmpi", "pip", "python", "torch"]);
});

test("PyTorch without torch, MPI without an MPI, warn; with them, not", () => {
  expect(distributionWarning("pytorch", "Runyard-Python-3.11", spec({ pip_requirements: ["numpy"] }))).toMatch(
    /Runyard-Python-3.11 does not list PyTorch/,
  );
  expect(distributionWarning("pytorch", "e", spec({ pip_requirements: ["torch>=2"] }))).toBeNull();
  expect(distributionWarning("pytorch", "e", spec({ docker_base_image: "pytorch/pytorch:2.2.0-cuda12.1" }))).toBeNull();
  expect(distributionWarning("mpi", "e", spec({}))).toMatch(/an MPI/);
  expect(distributionWarning("mpi", "e", spec({ pip_requirements: ["mpi4py"] }))).toBeNull();
  expect(distributionWarning("tensorflow", "e", spec({}))).toMatch(/TensorFlow/);
  expect(distributionWarning("none", "e", spec({}))).toBeNull();
  expect(distributionWarning("pytorch", "e", null)).toBeNull();
});
