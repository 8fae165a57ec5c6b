import { buildTree, parseCsv, prettyJson, previewKind } from "./fileTree";

test("a flat list becomes sorted folders with counts and sizes", () => {
  const tree = buildTree([
    { path: "outputs/model.pt", size: 100 },
    { path: "outputs/eval/scores.csv", size: 10 },
    { path: "train.py", size: 5 },
    { path: "outputs/a.txt", size: 1 },
  ]);
  expect(tree.count).toBe(4);
  expect(tree.bytes).toBe(116);
  expect(tree.files.map((f) => f.path)).toEqual(["train.py"]);
  const outputs = tree.folders[0];
  expect([outputs.path, outputs.count, outputs.bytes]).toEqual(["outputs", 3, 111]);
  expect(outputs.folders.map((f) => f.path)).toEqual(["outputs/eval"]);
  expect(outputs.files.map((f) => f.path)).toEqual(["outputs/a.txt", "outputs/model.pt"]);
});

test("files are previewed by their kind", () => {
  expect(["a.PNG", "x/metrics.json", "t.csv", "train.py", "Dockerfile", "model.pt"].map(previewKind)).toEqual([
    "image",
    "json",
    "csv",
    "text",
    "text",
    "binary",
  ]);
});

test("CSV with quotes, commas and newlines in fields", () => {
  expect(parseCsv('a,b\r\n1,"x, ""y"""\n2,"multi\nline"\n')).toEqual([
    ["a", "b"],
    ["1", 'x, "y"'],
    ["2", "multi\nline"],
  ]);
  expect(parseCsv("a\tb\n1\t2", "\t")).toEqual([
    ["a", "b"],
    ["1", "2"],
  ]);
});

test("JSON is pretty-printed when it parses", () => {
  expect(prettyJson('{"a":1}')).toBe('{\n  "a": 1\n}');
  expect(prettyJson('{"a":1}\n{"a":2}')).toBe('{"a":1}\n{"a":2}');
});
