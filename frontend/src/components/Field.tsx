import { useId, type ReactNode } from "react";

/** A labelled input with its hint and the API's messages for it right beside it. */
export function Field({
  label,
  hint,
  errors,
  children,
  className = "",
}: {
  label: ReactNode;
  hint?: ReactNode;
  errors?: string[];
  children: (props: { id: string; "aria-invalid"?: boolean; "aria-describedby"?: string }) => ReactNode;
  className?: string;
}) {
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : "", errors?.length ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div className={`field ${errors?.length ? "field-invalid" : ""} ${className}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": errors?.length ? true : undefined, "aria-describedby": describedBy || undefined })}
      {hint && (
        <div className="hint" id={`${id}-hint`}>
          {hint}
        </div>
      )}
      <FieldErrorList id={`${id}-error`} errors={errors} />
    </div>
  );
}

export function FieldErrorList({ errors, id }: { errors?: string[]; id?: string }) {
  if (!errors?.length) return null;
  return (
    <ul className="field-errors" id={id} role="alert">
      {errors.map((message, index) => (
        <li key={index}>{message}</li>
      ))}
    </ul>
  );
}
