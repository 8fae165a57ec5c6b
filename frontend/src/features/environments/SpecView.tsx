import type { EnvironmentSpec, EnvironmentVersion } from "../../api/types";
import { diffSpecs, SPEC_LABELS } from "../../lib/specDiff";

/** A version's spec; ``conda``: how its conda specification is installed (the API's translation). */
export function SpecView({ spec, conda }: { spec: EnvironmentSpec; conda?: EnvironmentVersion["conda"] }) {
  const vars = Object.entries(spec.environment_variables ?? {});
  return (
    <dl className="props spec">
      <dt>{SPEC_LABELS.python_version}</dt>
      <dd>{spec.python_version}</dd>
      <dt>{SPEC_LABELS.pip_requirements}</dt>
      <dd>
        {spec.pip_requirements.length ? (
          <ul className="plain-list mono">
            {spec.pip_requirements.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        ) : (
          <span className="muted">none</span>
        )}
      </dd>
      {spec.conda_specification && (
        <>
          <dt>{SPEC_LABELS.conda_specification}</dt>
          <dd>
            <pre className="code-block">{spec.conda_specification}</pre>
          </dd>
          {conda && (
            <>
              <dt>Conda channels</dt>
              <dd className="mono">
                {conda.channels.length ? conda.channels.join(", ") : <span className="muted">none</span>}
                <span className="muted"> (recorded; packages come from the package index)</span>
              </dd>
              <dt>Installed from PyPI as</dt>
              <dd>
                <ul className="plain-list mono" aria-label="Conda translation">
                  {conda.packages.map((p) => (
                    <li key={p.conda} title={p.notes.join("; ")}>
                      {p.conda} → {p.pip}
                    </li>
                  ))}
                  {conda.skipped.map((p) => (
                    <li key={p.conda} className="muted" title={p.notes.join("; ")}>
                      {p.conda}: skipped (bundled in wheels)
                    </li>
                  ))}
                </ul>
              </dd>
            </>
          )}
        </>
      )}
      {spec.user_managed_dependencies && (
        <>
          <dt>{SPEC_LABELS.user_managed_dependencies}</dt>
          <dd>yes: nothing is installed; runs use the base interpreter</dd>
        </>
      )}
      {(spec.package_indexes?.length || spec.default_index) && (
        <>
          <dt>{SPEC_LABELS.package_indexes}</dt>
          <dd className="mono">
            {[...(spec.default_index ? [`${spec.default_index} (default)`] : []), ...(spec.package_indexes ?? [])].join(", ")}
          </dd>
        </>
      )}
      <dt>{SPEC_LABELS.docker_base_image}</dt>
      <dd className="mono">{spec.docker_base_image || <span className="muted">none (runs in a virtualenv)</span>}</dd>
      {spec.dockerfile && (
        <>
          <dt>{SPEC_LABELS.dockerfile}</dt>
          <dd>
            <pre className="code-block">{spec.dockerfile}</pre>
          </dd>
        </>
      )}
      <dt>{SPEC_LABELS.environment_variables}</dt>
      <dd>
        {vars.length ? (
          <ul className="plain-list mono">
            {vars.map(([k, v]) => (
              <li key={k}>
                {k}={v}
                {spec.secret_variables?.includes(k) && <span className="muted"> (secret)</span>}
              </li>
            ))}
          </ul>
        ) : (
          <span className="muted">none</span>
        )}
      </dd>
    </dl>
  );
}

export function SpecDiff({ before, after }: { before: EnvironmentSpec; after: EnvironmentSpec }) {
  const changes = diffSpecs(before, after);
  if (!changes.length) return <p className="muted">These versions have the same spec.</p>;
  return (
    <div className="diff">
      {changes.map((change) => (
        <section key={change.field} className="diff-field">
          <h4>{SPEC_LABELS[change.field as keyof typeof SPEC_LABELS]}</h4>
          {change.kind === "list" && (
            <ul className="plain-list mono">
              {change.removed.map((r) => (
                <li key={`-${r}`} className="diff-del">
                  − {r}
                </li>
              ))}
              {change.added.map((r) => (
                <li key={`+${r}`} className="diff-add">
                  + {r}
                </li>
              ))}
            </ul>
          )}
          {change.kind === "map" && (
            <ul className="plain-list mono">
              {change.removed.map(([k, v]) => (
                <li key={`-${k}`} className="diff-del">
                  − {k}={v}
                </li>
              ))}
              {change.changed.map(([k, was, now]) => (
                <li key={`~${k}`}>
                  <span className="diff-del">
                    − {k}={was}
                  </span>
                  <br />
                  <span className="diff-add">
                    + {k}={now}
                  </span>
                </li>
              ))}
              {change.added.map(([k, v]) => (
                <li key={`+${k}`} className="diff-add">
                  + {k}={v}
                </li>
              ))}
            </ul>
          )}
          {change.kind === "text" && (
            <div className="diff-text">
              <pre className="code-block diff-del">{change.before || "(empty)"}</pre>
              <pre className="code-block diff-add">{change.after || "(empty)"}</pre>
            </div>
          )}
        </section>
      ))}
    </div>
  );
}
