import { flattenErrors, type FieldErrors } from "../lib/fieldErrors";

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  readonly fieldErrors: FieldErrors;

  constructor(status: number, body: unknown) {
    super(describe(status, body));
    this.status = status;
    this.body = body;
    this.fieldErrors = status === 400 && body && typeof body === "object" ? flattenErrors(body) : {};
  }
}

function describe(status: number, body: unknown): string {
  if (body && typeof body === "object" && "detail" in body) return String((body as { detail: unknown }).detail);
  if (status === 0) return "The server could not be reached.";
  if (status === 400) return "Some fields need attention.";
  if (status === 404) return "Not found.";
  return `The server answered ${status}.`;
}

export function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

// Requests sent and not yet answered, so signing out can let them land first: one that
// reached the server after the session ended would come back 401 on a page already gone.
let inFlight = 0;
let idle: Array<() => void> = [];

function settle() {
  inFlight -= 1;
  if (inFlight > 0) return;
  const waiting = idle;
  idle = [];
  for (const resolve of waiting) resolve();
}

/** Resolves once no request of `api` is in flight, or after `timeoutMs` whichever is first. */
export function requestsSettled(timeoutMs: number): Promise<void> {
  if (inFlight === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    idle.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  form?: FormData;
  signal?: AbortSignal;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? (options.json !== undefined || options.form ? "POST" : "GET");
  const headers: Record<string, string> = { Accept: "application/json" };
  if (UNSAFE.has(method)) headers["X-CSRFToken"] = csrfToken();
  let body: BodyInit | undefined;
  if (options.form) body = options.form;
  else if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  inFlight += 1;
  let response: Response;
  let text: string;
  try {
    try {
      response = await fetch(path, { method, headers, body, credentials: "same-origin", signal: options.signal });
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      throw new ApiError(0, null);
    }
    if (response.status === 204) return undefined as T;
    text = await response.text();
  } finally {
    settle();
  }
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed as T;
}

/** Turns an absolute `next`/`previous` link from the API into a same-origin path. */
export function toPath(url: string): string {
  try {
    const parsed = new URL(url, window.location.origin);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}

export function buildQuery(params: Record<string, string | string[] | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/** fetch() cannot report upload progress, so multipart uploads go through XMLHttpRequest. */
export function uploadWithProgress<T>(
  path: string,
  form: FormData,
  onProgress: (progress: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.withCredentials = true;
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress({ loaded: event.loaded, total: event.total });
    };
    xhr.onload = () => {
      let parsed: unknown = null;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        parsed = { detail: xhr.responseText.slice(0, 200) };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as T);
      else reject(new ApiError(xhr.status, parsed));
    };
    xhr.onerror = () => reject(new ApiError(0, null));
    xhr.onabort = () => reject(new DOMException("Upload canceled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}
