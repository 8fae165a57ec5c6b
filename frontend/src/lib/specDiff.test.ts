import type { EnvironmentSpec } from "../api/types";
import { diffSpecs } from "./specDiff";

const base: EnvironmentSpec = {
  python_version: "3.11",
  pip_requirements: ["numpy==2.1.0", "pandas"],
  conda_specification: "",
  docker_base_image: "",
  dockerfile: "",
  environment_variables: { A: "1", B: "2" },
  secret_variables: [],
  package_indexes: [],
  default_index: "",
};

test("identical specs have no changes", () => {
  expect(diffSpecs(base, { ...base })).toEqual([]);
});

test("reports packages, variables and plain fields separately", () => {
  const next = {
    ...base,
    python_version: "3.12",
    pip_requirements: ["numpy==2.2.0", "pandas"],
    environment_variables: { A: "9", C: "3" },
  };
  expect(diffSpecs(base, next)).toEqual([
    { field: "python_version", kind: "text", before: "3.11", after: "3.12" },
    { field: "pip_requirements", kind: "list", added: ["numpy==2.2.0"], removed: ["numpy==2.1.0"] },
    {
      field: "environment_variables",
      kind: "map",
      added: [["C", "3"]],
      removed: [["B", "2"]],
      changed: [["A", "1", "9"]],
    },
  ]);
});

test("user-managed dependencies switched on show as a change (a spec without the key is off)", () => {
  expect(diffSpecs(base, { ...base, user_managed_dependencies: true })).toEqual([
    { field: "user_managed_dependencies", kind: "text", before: "no", after: "yes" },
  ]);
  expect(diffSpecs(base, { ...base, user_managed_dependencies: false })).toEqual([]);
});

test("reports package indexes added and removed, and the default index", () => {
  const next = { ...base, package_indexes: ["pytorch-cpu"], default_index: "corp" };
  expect(diffSpecs(base, next)).toEqual([
    { field: "package_indexes", kind: "list", added: ["pytorch-cpu"], removed: [] },
    { field: "default_index", kind: "text", before: "", after: "corp" },
  ]);
});
