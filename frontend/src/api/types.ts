// The app's names for the API's shapes. The shapes are generated from the server's OpenAPI
// schema into ./schema.ts (`make schema`; `make test` fails when it is stale): change a
// serializer, regenerate, and the compiler shows every use that no longer fits. Written
// here: names, the websocket payloads (not in the OpenAPI schema) and generic pages.
import { runStatusEnumValues, type components } from "./schema";

type Schemas = components["schemas"];

export type RunStatus = Schemas["RunStatusEnum"];

/** Every run status, in lifecycle order (the server's runs.status.Status). */
export const ALL_STATUSES: readonly RunStatus[] = runStatusEnumValues;

/** runs.status.TERMINAL: a run in one of these never changes again. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ["Completed", "Failed", "Canceled"];

export type Team = Schemas["Team"];
export type SessionUser = Schemas["User"];

/** A list page: cursor pages (runs) have no count, offset pages do. */
export interface Page<T> {
  count?: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export type DistributedConfig = Schemas["DistributedConfig"];
export type RunArgument = Schemas["RunDetail"]["arguments"][number];
export type DatasetArgument = Extract<RunArgument, { dataset: string }>;
export type DatastoreArgument = Extract<RunArgument, { datastore: string }>;
export type ModelArgument = Extract<RunArgument, { model: string }>;

export type RunSummary = Schemas["RunList"];
export type RunDetail = Schemas["RunDetail"];

/** What status websocket messages carry: a subset of the run. */
export type RunStatusPayload = Pick<
  RunDetail,
  "id" | "status" | "status_reason" | "exit_code" | "error" | "queued_at" | "running_at" | "ended_at" | "build"
>;

export type StatusChange = Schemas["StatusChange"];
export type RunProcess = Schemas["RunProcess"];
export type RunInput = Schemas["RunInput"];
export type LogLine = Schemas["LogLine"];
export type LogPage = Schemas["LogPage"];

/** A metric point; websocket messages also name the metric. */
export type MetricPoint = Schemas["MetricValue"] & { name?: string };

export type Artifact = Schemas["Artifact"];

export type EnvironmentSpec = Schemas["EnvironmentSpec"];
export type EnvironmentVersion = Schemas["EnvironmentVersion"];
export type Environment = Schemas["Environment"];
export type EnvironmentBuild = Schemas["EnvironmentBuild"];
export type BuildLogLine = Schemas["BuildLogLine"];
export type BuildLogPage = Schemas["BuildLogPage"];

export type ComputeTarget = Schemas["ComputeTarget"];
export type PackageIndex = Schemas["PackageIndex"];
export type ConnectionCheck = Schemas["ConnectionCheck"];
export type ConnectionTest = Schemas["ConnectionTest"];
export type Experiment = Schemas["Experiment"];

export type Datastore = Schemas["Datastore"];
export type DatasetVersion = Schemas["DatasetVersion"];
export type Dataset = Schemas["Dataset"];
export type DatasetFile = Schemas["DatasetFile"];

export type AuditEvent = Schemas["AuditEvent"];

export type RegisteredModel = Schemas["RegisteredModel"];
export type ModelVersion = Schemas["ModelVersion"];
export type ModelVersionDetail = Schemas["ModelVersionDetail"];
export type ModelFile = Schemas["ModelFile"];
export type ModelFilePreview = Schemas["ModelFilePreview"];
export type MetricSeries = Schemas["MetricSeries"];

export type Sweep = Schemas["Sweep"];
export type SweepSummary = Schemas["SweepList"];
export type SweepChild = Schemas["Child"];
export type SweepSeries = Schemas["ChildSeries"];
export type HyperDrive = Schemas["HyperDrive"];
