import { gunzipSync, unzipSync, zip, type Zippable } from "fflate";

export interface SourceBundle {
  /** What is uploaded as `snapshot`: the user's archive as is, or a zip made from their folder. */
  file: File;
  /** Paths inside the snapshot, when they could be read (null: the archive could not be listed). */
  paths: string[] | null;
  origin: "folder" | "archive";
  label: string;
}

/** Folders nobody wants in a snapshot: they are large and never needed to run a script. */
const SKIPPED_DIRS = new Set([".git", "__pycache__", "node_modules", ".venv", "venv", ".mypy_cache", ".pytest_cache"]);

export function isSkipped(path: string): boolean {
  return path.split("/").some((part) => SKIPPED_DIRS.has(part));
}

export interface FolderFile {
  path: string;
  file: File;
}

/** Files picked with <input webkitdirectory> carry "folder/sub/x.py": the snapshot root is the folder. */
export function stripTopFolder(files: FolderFile[]): FolderFile[] {
  const tops = new Set(files.map((f) => f.path.split("/")[0]));
  if (tops.size !== 1 || files.some((f) => !f.path.includes("/"))) return files;
  return files.map((f) => ({ ...f, path: f.path.slice(f.path.indexOf("/") + 1) }));
}

export async function zipFolder(files: FolderFile[], name: string): Promise<SourceBundle> {
  const kept = stripTopFolder(files).filter((f) => !isSkipped(f.path));
  const entries: Zippable = {};
  for (const item of kept) entries[item.path] = new Uint8Array(await item.file.arrayBuffer());
  const data = await new Promise<Uint8Array>((resolve, reject) =>
    zip(entries, { level: 6 }, (error, out) => (error ? reject(error) : resolve(out))),
  );
  const file = new File([data as BlobPart], `${name || "source"}.zip`, { type: "application/zip" });
  return { file, paths: kept.map((f) => f.path).sort(), origin: "folder", label: `${name || "folder"} (${kept.length} files)` };
}

export async function readArchive(file: File): Promise<SourceBundle> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let paths: string[] | null = null;
  try {
    paths = listArchive(file.name, bytes);
  } catch {
    paths = null;
  }
  return { file, paths, origin: "archive", label: file.name };
}

export function listArchive(name: string, bytes: Uint8Array): string[] | null {
  const lower = name.toLowerCase();
  if (lower.endsWith(".zip")) {
    const names: string[] = [];
    // The filter sees each entry's name from the central directory; returning false skips inflating it.
    unzipSync(bytes, {
      filter: (entry) => {
        if (!entry.name.endsWith("/")) names.push(entry.name);
        return false;
      },
    });
    return names.filter((n) => !isSkipped(n)).sort();
  }
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) return listTar(gunzipSync(bytes));
  if (lower.endsWith(".tar")) return listTar(bytes);
  return null;
}

/** Names of regular files in a ustar archive (512-byte headers, sizes in octal). */
export function listTar(bytes: Uint8Array): string[] {
  const text = (from: number, length: number) => {
    let end = from;
    while (end < from + length && bytes[end] !== 0) end += 1;
    return new TextDecoder().decode(bytes.subarray(from, end));
  };
  const names: string[] = [];
  let offset = 0;
  let longName: string | null = null;
  while (offset + 512 <= bytes.length) {
    const name = text(offset, 100);
    if (!name) break;
    const size = parseInt(text(offset + 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(bytes[offset + 156] || 48);
    const prefix = text(offset + 345, 155);
    const body = offset + 512;
    if (type === "L") {
      longName = text(body, size);
    } else if (type === "0" || type === "\0" || type === "7") {
      const full = longName ?? (prefix ? `${prefix}/${name}` : name);
      names.push(full.replace(/^\.\//, ""));
      longName = null;
    } else {
      longName = null;
    }
    offset = body + Math.ceil(size / 512) * 512;
  }
  return names.filter((n) => !isSkipped(n)).sort();
}

/** Scripts worth offering first: Python files at the top, then shell scripts. */
export function scriptCandidates(paths: string[]): string[] {
  const runnable = paths.filter((p) => p.endsWith(".py") || p.endsWith(".sh"));
  const depth = (p: string) => p.split("/").length;
  return runnable.sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
}

export function guessScript(paths: string[]): string {
  const candidates = scriptCandidates(paths);
  for (const preferred of ["train.py", "main.py", "run.py"]) if (candidates.includes(preferred)) return preferred;
  return candidates[0] ?? "";
}

/** Reads a dropped folder through the File System entries API (drag and drop gives no webkitRelativePath). */
export async function filesFromEntry(entry: FileSystemEntry, prefix = ""): Promise<FolderFile[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [{ path: prefix + entry.name, file }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  // readEntries returns at most ~100 entries per call: keep reading until it returns none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    children.push(...batch);
  }
  const nested = await Promise.all(
    children.filter((c) => !SKIPPED_DIRS.has(c.name)).map((c) => filesFromEntry(c, `${prefix}${entry.name}/`)),
  );
  return nested.flat();
}
