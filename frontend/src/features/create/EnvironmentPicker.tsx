import { Link } from "react-router-dom";
import { useEnvironments, useEnvironmentVersions } from "../../api/queries";
import { Field } from "../../components/Field";

export function EnvironmentPicker({
  name,
  version,
  onChange,
  errors,
  versionErrors,
}: {
  name: string;
  version: string;
  onChange: (name: string, version: string) => void;
  errors?: string[];
  versionErrors?: string[];
}) {
  const environments = useEnvironments();
  const selected = environments.data?.find((e) => e.name === name);
  const versions = useEnvironmentVersions(selected?.id ?? null);
  const curated = environments.data?.filter((e) => e.curated) ?? [];
  const custom = environments.data?.filter((e) => !e.curated) ?? [];
  return (
    <div className="field-pair">
      <Field
        label="Environment"
        errors={errors}
        hint={
          selected ? (
            <>
              {selected.curated ? "★ Curated by admins. " : "Your team's environment. "}
              <Link to={`/environments/${selected.id}`}>See its spec</Link>
            </>
          ) : (
            "Leave on default to use the server's default Python environment."
          )
        }
      >
        {(props) => (
          <select {...props} value={name} onChange={(e) => onChange(e.target.value, "")}>
            <option value="">Default environment</option>
            {curated.length > 0 && (
              <optgroup label="Curated">
                {curated.map((env) => (
                  <option key={env.id} value={env.name}>
                    ★ {env.name}
                  </option>
                ))}
              </optgroup>
            )}
            {custom.length > 0 && (
              <optgroup label="Your team">
                {custom.map((env) => (
                  <option key={env.id} value={env.name}>
                    {env.name}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        )}
      </Field>
      <Field label="Version" errors={versionErrors}>
        {(props) => (
          <select {...props} value={version} onChange={(e) => onChange(name, e.target.value)} disabled={!name}>
            <option value="">Latest{selected?.latest_version ? ` (v${selected.latest_version.version})` : ""}</option>
            {versions.data?.map((v) => (
              <option key={v.id} value={String(v.version)}>
                v{v.version}
                {v.description ? ` · ${v.description}` : ""}
              </option>
            ))}
          </select>
        )}
      </Field>
    </div>
  );
}
