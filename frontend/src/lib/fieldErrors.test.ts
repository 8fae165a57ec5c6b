import { errorsUnder, flattenErrors, unclaimedErrors } from "./fieldErrors";

describe("flattenErrors", () => {
  test("keeps DRF field lists under their field", () => {
    expect(flattenErrors({ script: ["Give a script (or a command)."] })).toEqual({
      script: ["Give a script (or a command)."],
    });
  });

  test("nests distributed errors as dotted paths", () => {
    const body = { distributed: { node_count: ["Ensure this value is greater than or equal to 1."] } };
    expect(flattenErrors(body)).toEqual({
      "distributed.node_count": ["Ensure this value is greater than or equal to 1."],
    });
  });

  test("a plain message on a nested object stays on the parent", () => {
    expect(flattenErrors({ distributed: ["Must be an object with a 'type'."] })).toEqual({
      distributed: ["Must be an object with a 'type'."],
    });
  });

  test("detail and non_field_errors become form-level errors", () => {
    expect(flattenErrors({ detail: "Nope.", non_field_errors: ["Both?"] })).toEqual({ _form: ["Nope.", "Both?"] });
  });

  test("per-item errors in a list get the item's index", () => {
    expect(flattenErrors({ tags: [{}, { key: ["Too long."] }] })).toEqual({ "tags.1.key": ["Too long."] });
  });
});

test("errorsUnder gathers a section's nested messages", () => {
  const errors = { "distributed.node_count": ["a"], "distributed.type": ["b"], script: ["c"] };
  expect(errorsUnder(errors, "distributed")).toEqual(["a", "b"]);
});

test("unclaimedErrors reports what no field shows", () => {
  const errors = { _form: ["Oops."], team: ["Not a member."], script: ["c"] };
  expect(unclaimedErrors(errors, ["script"])).toEqual(["Oops.", "team: Not a member."]);
});
