import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { flattenErrors } from "../../lib/fieldErrors";
import { DistributedEditor } from "./DistributedEditor";
import { DEFAULT_DISTRIBUTED, type DistributedFields } from "./runForm";

function Harness({ apiError }: { apiError: unknown }) {
  const [value, setValue] = useState<DistributedFields>({ ...DEFAULT_DISTRIBUTED, type: "pytorch" });
  const errors = flattenErrors(apiError);
  return <DistributedEditor value={value} onChange={setValue} errorsAt={(path) => errors[path]} target={undefined} />;
}

test("a nested API error shows beside its own input", () => {
  render(<Harness apiError={{ distributed: { process_count: ["Ensure this value is greater than or equal to 1."] } }} />);
  const input = screen.getByLabelText("Processes in total");
  expect(input).toHaveAttribute("aria-invalid", "true");
  const described = document.getElementById(input.getAttribute("aria-describedby")!.split(" ").pop()!);
  expect(described).toHaveTextContent("greater than or equal to 1");
});

test("switching type shows that type's fields only", () => {
  render(<Harness apiError={{}} />);
  fireEvent.click(screen.getByRole("radio", { name: "TensorFlow" }));
  expect(screen.getByLabelText("Workers")).toBeInTheDocument();
  expect(screen.getByLabelText("Parameter servers")).toBeInTheDocument();
  expect(screen.queryByLabelText("Nodes")).not.toBeInTheDocument();
});
