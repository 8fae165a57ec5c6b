import { gzipSync, strToU8, unzipSync, zipSync } from "fflate";
import { guessScript, listArchive, listTar, stripTopFolder, zipFolder } from "./snapshot";

function tar(files: Record<string, string>): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const [name, content] of Object.entries(files)) {
    const header = new Uint8Array(512);
    header.set(strToU8(name), 0);
    header.set(strToU8(content.length.toString(8).padStart(11, "0")), 124);
    header[156] = 48;
    blocks.push(header);
    const body = new Uint8Array(Math.ceil(content.length / 512) * 512);
    body.set(strToU8(content));
    blocks.push(body);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

test("lists a zip's files without the junk folders", () => {
  const bytes = zipSync({ "train.py": strToU8("print(1)"), "pkg/util.py": strToU8(""), ".git/HEAD": strToU8("") });
  expect(listArchive("src.zip", bytes)).toEqual(["pkg/util.py", "train.py"]);
});

test("lists tar and tar.gz files", () => {
  const bytes = tar({ "./train.py": "print(1)", "data/x.csv": "a,b" });
  expect(listTar(bytes)).toEqual(["data/x.csv", "train.py"]);
  expect(listArchive("src.tar.gz", gzipSync(bytes))).toEqual(["data/x.csv", "train.py"]);
});

test("a picked folder's own name is not part of the snapshot paths", () => {
  const file = new File(["x"], "a.py");
  expect(stripTopFolder([{ path: "proj/a.py", file }, { path: "proj/b/c.py", file }]).map((f) => f.path)).toEqual([
    "a.py",
    "b/c.py",
  ]);
});

test("zips a folder and guesses the script", async () => {
  const file = (text: string) => new File([text], "f");
  const bundle = await zipFolder(
    [
      { path: "proj/train.py", file: file("print('hi')") },
      { path: "proj/__pycache__/x.pyc", file: file("") },
      { path: "proj/lib/helpers.py", file: file("") },
    ],
    "proj",
  );
  expect(bundle.paths).toEqual(["lib/helpers.py", "train.py"]);
  const entries = unzipSync(new Uint8Array(await bundle.file.arrayBuffer()));
  expect(Object.keys(entries).sort()).toEqual(["lib/helpers.py", "train.py"]);
  expect(guessScript(bundle.paths!)).toBe("train.py");
});
