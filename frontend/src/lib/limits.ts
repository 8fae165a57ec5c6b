// The server's upload limits (GET /api/limits/), checked before an upload starts so an
// oversized one is refused at once, with the limit in MB/GB, not after the whole upload.
import { useQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import type { components } from "../api/schema";
import { formatBytes } from "./format";

export type UploadLimits = components["schemas"]["Limits"];

export function useUploadLimits() {
  return useQuery({
    queryKey: ["limits"],
    // A server without the endpoint (or an odd answer) means "no check before upload".
    queryFn: async () => {
      const body = await api<Partial<UploadLimits>>("/api/limits/");
      return typeof body?.snapshot_max_bytes === "number" && typeof body.dataset_max_bytes === "number"
        ? (body as UploadLimits)
        : null;
    },
    staleTime: Infinity,
    retry: false,
  });
}

/** Why an upload of `bytes` in `files` files is over the limits, or null. */
export function overLimit(what: string, bytes: number, files: number | null, maxBytes: number, maxFiles: number): string | null {
  if (bytes > maxBytes)
    return `${what} is ${formatBytes(bytes)}, over the server's limit of ${formatBytes(maxBytes)}. Leave out large files (data, checkpoints) or ask an admin to raise the limit.`;
  if (files != null && files > maxFiles)
    return `${what} has ${files.toLocaleString()} files, over the server's limit of ${maxFiles.toLocaleString()}.`;
  return null;
}
