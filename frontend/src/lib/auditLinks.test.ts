import { auditObjectPath } from "./auditLinks";

test("audited objects link to their pages", () => {
  expect(auditObjectPath("runs.run", "12")).toBe("/runs/12");
  expect(auditObjectPath("environments.environment", "3")).toBe("/environments/3");
  expect(auditObjectPath("datasets.dataset", "4")).toBe("/datasets/4");
  expect(auditObjectPath("environments.environmentversion", "9", { environment: 3 })).toBe("/environments/3");
  expect(auditObjectPath("accounts.user", "1")).toBeNull();
  expect(auditObjectPath("runs.run", "")).toBeNull();
});
