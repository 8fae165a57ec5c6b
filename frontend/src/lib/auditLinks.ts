/** Where an audited object lives in the app (object_type is Django's app_label.model), or null. */
export function auditObjectPath(objectType: string, objectId: string, changes?: Record<string, unknown>): string | null {
  if (!objectId) return null;
  switch (objectType) {
    case "runs.run":
      return `/runs/${objectId}`;
    case "runs.experiment":
      return null; // experiments are addressed by name on the run list; the id alone says nothing
    case "environments.environment":
      return `/environments/${objectId}`;
    case "environments.environmentversion": {
      const environment = changes?.environment;
      return typeof environment === "number" ? `/environments/${environment}` : null;
    }
    case "datasets.dataset":
      return `/datasets/${objectId}`;
    case "compute.computetarget":
      return "/compute";
    case "accounts.apitoken":
      return "/settings";
    default:
      return null;
  }
}
