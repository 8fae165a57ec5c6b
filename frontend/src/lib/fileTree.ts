/** Folder trees of flat file lists (artifacts, a snapshot's files) and how to preview a file. */

export interface FileEntry {
  path: string;
  size: number;
}

export interface TreeFolder {
  name: string;
  /** The folder's path ("" for the root), without a trailing slash. */
  path: string;
  folders: TreeFolder[];
  files: FileEntry[];
  /** Files anywhere under this folder, and their bytes. */
  count: number;
  bytes: number;
}

/** A tree of folders, each sorted by name (folders before files). */
export function buildTree(files: readonly FileEntry[]): TreeFolder {
  const root: TreeFolder = { name: "", path: "", folders: [], files: [], count: 0, bytes: 0 };
  const index = new Map<string, TreeFolder>([["", root]]);
  for (const file of files) {
    const parts = file.path.split("/").filter(Boolean);
    let folder = root;
    folder.count += 1;
    folder.bytes += file.size;
    for (let i = 0; i < parts.length - 1; i += 1) {
      const path = parts.slice(0, i + 1).join("/");
      let next = index.get(path);
      if (!next) {
        next = { name: parts[i], path, folders: [], files: [], count: 0, bytes: 0 };
        index.set(path, next);
        folder.folders.push(next);
      }
      next.count += 1;
      next.bytes += file.size;
      folder = next;
    }
    folder.files.push(file);
  }
  const sort = (folder: TreeFolder) => {
    folder.folders.sort((a, b) => a.name.localeCompare(b.name));
    folder.files.sort((a, b) => a.path.localeCompare(b.path));
    folder.folders.forEach(sort);
  };
  sort(root);
  return root;
}

export type PreviewKind = "image" | "json" | "csv" | "text" | "binary";

const IMAGE = /\.(png|jpe?g|gif|webp|svg|bmp)$/i;
const TEXT =
  /\.(txt|log|md|rst|py|ipynb|sh|bash|cfg|ini|toml|ya?ml|xml|html?|css|js|ts|tsx|jsx|c|h|cc|cpp|hpp|java|go|rs|r|sql|tex|out|err|gitignore|dockerfile|env)$/i;

export function previewKind(path: string): PreviewKind {
  const name = path.split("/").pop() ?? path;
  if (IMAGE.test(name)) return "image";
  if (/\.(json|jsonl)$/i.test(name)) return "json";
  if (/\.(csv|tsv)$/i.test(name)) return "csv";
  if (TEXT.test(name) || /^(Dockerfile|Makefile|LICENSE|README|requirements[^/]*)$/i.test(name) || !name.includes("."))
    return "text";
  return "binary";
}

/** Previews read at most this much of a file; the rest is cut with a note. */
export const PREVIEW_BYTES = 1024 * 1024;

/** RFC 4180 CSV (or TSV): quoted fields with commas, quotes and newlines. */
export function parseCsv(text: string, delimiter = ","): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** JSON pretty-printed, or the text as it is when it does not parse (JSON lines, a cut file). */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
