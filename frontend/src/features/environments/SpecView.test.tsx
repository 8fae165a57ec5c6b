import { render, screen } from "@testing-library/react";
import type { EnvironmentSpec, EnvironmentVersion } from "../../api/types";
import { SpecView } from "./SpecView";

const spec: EnvironmentSpec = {
  python_version: "3.10",
  pip_requirements: [],
  conda_specification: "channels:\n  - pytorch\ndependencies:\n  - pytorch=2.1\n  - libgcc-ng\n",
  docker_base_image: "",
  dockerfile: "",
  environment_variables: {},
  secret_variables: [],
  package_indexes: [],
  default_index: "",
  user_managed_dependencies: true,
};

const conda: EnvironmentVersion["conda"] = {
  channels: ["pytorch"],
  python: "3.10",
  packages: [{ conda: "pytorch=2.1", pip: "torch==2.1.*", notes: ["renamed: PyPI's name for pytorch"] }],
  skipped: [{ conda: "libgcc-ng", pip: "", notes: ["a runtime library that PyPI wheels bundle"] }],
  pip: [],
};

test("a version shows its conda channels, how its packages are installed, and user-managed dependencies", () => {
  render(<SpecView spec={spec} conda={conda} />);
  expect(screen.getByText("Conda channels").nextElementSibling).toHaveTextContent("pytorch (recorded;");
  const translation = screen.getByRole("list", { name: "Conda translation" });
  expect(translation).toHaveTextContent("pytorch=2.1 → torch==2.1.*");
  expect(translation).toHaveTextContent("libgcc-ng: skipped (bundled in wheels)");
  expect(screen.getByText("User-managed dependencies").nextElementSibling).toHaveTextContent("nothing is installed");
});

test("without a conda specification nothing about conda is shown", () => {
  render(<SpecView spec={{ ...spec, conda_specification: "", user_managed_dependencies: false }} conda={null} />);
  expect(screen.queryByText("Conda channels")).not.toBeInTheDocument();
  expect(screen.queryByText("User-managed dependencies")).not.toBeInTheDocument();
});
