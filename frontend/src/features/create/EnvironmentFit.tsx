import { useEnvironments, useEnvironmentVersions } from "../../api/queries";
import { DEFAULT_ENVIRONMENT, distributionWarning } from "./envFit";
import type { DistributedType } from "./runForm";

/** Warns, before submit, when the chosen environment lacks what the distribution runs with. */
export function EnvironmentFit({ name, version, type }: { name: string; version: string; type: DistributedType }) {
  const environments = useEnvironments();
  const envName = name || DEFAULT_ENVIRONMENT;
  const env = environments.data?.find((e) => e.name === envName);
  const versions = useEnvironmentVersions(version && env ? env.id : null);
  const chosen = version ? versions.data?.find((v) => String(v.version) === version) : env?.latest_version;
  const warning = distributionWarning(type, name ? `${envName}${version ? `:${version}` : ""}` : `The default environment (${envName})`, chosen?.spec ?? null);
  if (!warning) return null;
  return (
    <p className="notice notice-warning" role="status" data-testid="environment-fit">
      {warning}
    </p>
  );
}
