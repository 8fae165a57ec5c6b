import type { ComputeTarget } from "../../api/types";
import { Field, FieldErrorList } from "../../components/Field";
import type { DistributedFields, DistributedType } from "./runForm";

const TYPES: { value: DistributedType; label: string; help: string }[] = [
  { value: "none", label: "Single process", help: "One process runs your script." },
  { value: "pytorch", label: "PyTorch", help: "Launched with torchrun; ranks find each other through the rendezvous." },
  { value: "mpi", label: "MPI", help: "Launched with mpirun; each process is one MPI rank." },
  { value: "tensorflow", label: "TensorFlow", help: "One process per worker and parameter server, each with its TF_CONFIG." },
];

export function DistributedEditor({
  value,
  onChange,
  errorsAt,
  target,
}: {
  value: DistributedFields;
  onChange: (value: DistributedFields) => void;
  errorsAt: (path: string) => string[] | undefined;
  target: ComputeTarget | undefined;
}) {
  const set = (change: Partial<DistributedFields>) => onChange({ ...value, ...change });
  const number = (field: keyof DistributedFields, label: string, hint?: string, min = 1) => (
    <Field label={label} hint={hint} errors={errorsAt(`distributed.${field}`)}>
      {(props) => (
        <input
          {...props}
          type="number"
          min={min}
          inputMode="numeric"
          value={value[field]}
          onChange={(e) => set({ [field]: e.target.value })}
        />
      )}
    </Field>
  );
  const world =
    value.type === "mpi"
      ? Number(value.node_count) * Number(value.process_count_per_node)
      : value.type === "pytorch"
        ? Number(value.process_count)
        : value.type === "tensorflow"
          ? Number(value.worker_count) + Number(value.parameter_server_count)
          : 1;
  return (
    <fieldset className="picker">
      <legend>Distribution</legend>
      <div className="segmented" role="radiogroup" aria-label="Distribution type">
        {TYPES.map((type) => (
          <label key={type.value} className={`segment ${value.type === type.value ? "segment-on" : ""}`}>
            <input type="radio" name="distributed_type" checked={value.type === type.value} onChange={() => set({ type: type.value })} />
            {type.label}
          </label>
        ))}
      </div>
      <p className="muted small">{TYPES.find((t) => t.value === value.type)?.help}</p>
      <FieldErrorList errors={[...(errorsAt("distributed") ?? []), ...(errorsAt("distributed.type") ?? [])]} />
      {value.type === "mpi" && (
        <div className="field-row">
          {number("node_count", "Nodes", target ? `${target.name} has ${target.max_nodes}` : undefined)}
          {number("process_count_per_node", "Processes per node", target ? `at most ${target.max_processes_per_node}` : undefined)}
        </div>
      )}
      {value.type === "pytorch" && (
        <div className="field-row">
          {number("node_count", "Nodes", target ? `${target.name} has ${target.max_nodes}` : undefined)}
          {number("process_count", "Processes in total", "split evenly over the nodes")}
          <Field label="Backend" errors={errorsAt("distributed.communication_backend")}>
            {(props) => (
              <select {...props} value={value.communication_backend} onChange={(e) => set({ communication_backend: e.target.value })}>
                <option value="gloo">gloo (CPU)</option>
                <option value="nccl">nccl (GPU)</option>
              </select>
            )}
          </Field>
        </div>
      )}
      {value.type === "tensorflow" && (
        <div className="field-row">
          {number("worker_count", "Workers")}
          {number("parameter_server_count", "Parameter servers", undefined, 0)}
        </div>
      )}
      {value.type !== "none" && Number.isFinite(world) && world > 0 && (
        <p className="small">
          {world} process{world === 1 ? "" : "es"} in all; each one's log is kept apart.
        </p>
      )}
    </fieldset>
  );
}
