/** DRF error bodies flattened to dotted field paths ("distributed.node_count"). */
export type FieldErrors = Record<string, string[]>;

/** Key under which errors that belong to no single field are collected. */
export const FORM_ERROR = "_form";

export function flattenErrors(body: unknown, prefix = ""): FieldErrors {
  const out: FieldErrors = {};
  const add = (key: string, message: string) => {
    (out[key] ??= []).push(message);
  };
  const walk = (value: unknown, path: string) => {
    if (value == null) return;
    if (typeof value === "string") {
      add(path || FORM_ERROR, value);
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => {
        // DRF lists of messages share the field's path; lists of objects (per-item errors) get an index.
        if (typeof item === "string") add(path || FORM_ERROR, item);
        else walk(item, path ? `${path}.${index}` : String(index));
      });
      return;
    }
    if (typeof value === "object") {
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
        const isGeneral = key === "non_field_errors" || key === "detail";
        walk(inner, isGeneral ? path : path ? `${path}.${key}` : key);
      }
    }
  };
  walk(body, prefix);
  return out;
}

/** Errors at `path` or nested below it: a section can show what none of its inputs claimed. */
export function errorsUnder(errors: FieldErrors, path: string): string[] {
  return Object.entries(errors)
    .filter(([key]) => key === path || key.startsWith(`${path}.`))
    .flatMap(([, messages]) => messages);
}

/** Errors whose path is not among `known`: shown at the top of the form so nothing is lost. */
export function unclaimedErrors(errors: FieldErrors, known: string[]): string[] {
  return Object.entries(errors)
    .filter(([key]) => !known.some((k) => key === k || key.startsWith(`${k}.`)))
    .flatMap(([key, messages]) => messages.map((m) => (key === FORM_ERROR ? m : `${key}: ${m}`)));
}
