import { Link } from "react-router-dom";
import { usePackageIndexes } from "../../api/queries";
import { FieldErrorList } from "../../components/Field";

/** Allowed package indexes a spec selects: searched besides the server's, and one that replaces its default index. */
export function PackageIndexPicker({
  selected,
  defaultIndex,
  onChange,
  errors,
}: {
  selected: string[];
  defaultIndex: string;
  onChange: (packageIndexes: string[], defaultIndex: string) => void;
  errors: string[];
}) {
  const indexes = usePackageIndexes();
  const available = indexes.data ?? [];
  const toggle = (name: string, on: boolean) =>
    onChange(on ? [...selected, name] : selected.filter((n) => n !== name), defaultIndex === name && !on ? "" : defaultIndex);
  return (
    <fieldset className="field">
      <legend className="label">Package indexes</legend>
      {available.length === 0 ? (
        <p className="muted small">
          The server&apos;s own package index settings are used; an admin can allow more on the{" "}
          <Link to="/package-indexes">package indexes</Link> page.
        </p>
      ) : (
        <>
          <ul className="plain-list">
            {available.map((index) => (
              <li key={index.id}>
                <label className="check">
                  <input
                    type="checkbox"
                    aria-label={`Use package index ${index.name}`}
                    checked={selected.includes(index.name) || defaultIndex === index.name}
                    onChange={(e) => toggle(index.name, e.target.checked)}
                  />
                  <span className="mono">{index.name}</span> <span className="muted small">{index.url}</span>
                </label>
              </li>
            ))}
          </ul>
          <label className="check small">
            Default index (replaces the server&apos;s, like --index-url):{" "}
            <select
              aria-label="Default package index"
              value={defaultIndex}
              onChange={(e) => onChange(selected.filter((n) => n !== e.target.value), e.target.value)}
            >
              <option value="">the server&apos;s</option>
              {available.map((index) => (
                <option key={index.id} value={index.name}>
                  {index.name}
                </option>
              ))}
            </select>
          </label>
        </>
      )}
      <FieldErrorList errors={errors} />
    </fieldset>
  );
}
