import type { EnvironmentSpec } from "../api/types";

export type SpecChange =
  | { field: string; kind: "list"; added: string[]; removed: string[] }
  | { field: string; kind: "map"; added: [string, string][]; removed: [string, string][]; changed: [string, string, string][] }
  | { field: string; kind: "text"; before: string; after: string };

export const SPEC_LABELS: Record<keyof EnvironmentSpec, string> = {
  python_version: "Python version",
  pip_requirements: "pip requirements",
  conda_specification: "Conda specification",
  docker_base_image: "Docker base image",
  dockerfile: "Dockerfile",
  environment_variables: "Environment variables",
  secret_variables: "Secret variables",
  user_managed_dependencies: "User-managed dependencies",
  package_indexes: "Package indexes",
  default_index: "Default package index",
};

/** What changed between two versions, field by field (packages as added/removed, not as text). */
export function diffSpecs(before: EnvironmentSpec, after: EnvironmentSpec): SpecChange[] {
  const changes: SpecChange[] = [];
  const a = (before.pip_requirements ?? []).slice();
  const b = (after.pip_requirements ?? []).slice();
  const added = b.filter((r) => !a.includes(r));
  const removed = a.filter((r) => !b.includes(r));
  if (added.length || removed.length) changes.push({ field: "pip_requirements", kind: "list", added, removed });
  const sa = before.secret_variables ?? [];
  const sb = after.secret_variables ?? [];
  const madeSecret = sb.filter((n) => !sa.includes(n));
  const madePlain = sa.filter((n) => !sb.includes(n));
  if (madeSecret.length || madePlain.length)
    changes.push({ field: "secret_variables", kind: "list", added: madeSecret, removed: madePlain });

  const ia = before.package_indexes ?? [];
  const ib = after.package_indexes ?? [];
  const indexesAdded = ib.filter((n) => !ia.includes(n));
  const indexesRemoved = ia.filter((n) => !ib.includes(n));
  if (indexesAdded.length || indexesRemoved.length)
    changes.push({ field: "package_indexes", kind: "list", added: indexesAdded, removed: indexesRemoved });

  const va = before.environment_variables ?? {};
  const vb = after.environment_variables ?? {};
  const mapChange = {
    added: Object.entries(vb).filter(([k]) => !(k in va)),
    removed: Object.entries(va).filter(([k]) => !(k in vb)),
    changed: Object.keys(vb)
      .filter((k) => k in va && va[k] !== vb[k])
      .map((k): [string, string, string] => [k, va[k], vb[k]]),
  };
  if (mapChange.added.length || mapChange.removed.length || mapChange.changed.length)
    changes.push({ field: "environment_variables", kind: "map", ...mapChange });

  for (const field of ["python_version", "conda_specification", "docker_base_image", "dockerfile", "default_index"] as const) {
    const x = before[field] ?? "";
    const y = after[field] ?? "";
    if (x !== y) changes.push({ field, kind: "text", before: x, after: y });
  }
  const managed = [before, after].map((s) => (s.user_managed_dependencies ? "yes" : "no"));
  if (managed[0] !== managed[1])
    changes.push({ field: "user_managed_dependencies", kind: "text", before: managed[0], after: managed[1] });
  const order = Object.keys(SPEC_LABELS);
  return changes.sort((p, q) => order.indexOf(p.field) - order.indexOf(q.field));
}
