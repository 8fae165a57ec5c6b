import { overLimit } from "./limits";

test("limits are named in MB/GB, and only when exceeded", () => {
  expect(overLimit("The snapshot", 300 * 1024 ** 2, 10, 200 * 1024 ** 2, 20000)).toMatch(
    /^The snapshot is 300 MB, over the server's limit of 200 MB\./,
  );
  expect(overLimit("The upload", 25 * 1024 ** 3, 1, 20 * 1024 ** 3, 100000)).toMatch(/25 GB, over the server's limit of 20 GB/);
  expect(overLimit("The upload", 10, 7, 100, 5)).toBe("The upload has 7 files, over the server's limit of 5.");
  expect(overLimit("The upload", 100, 5, 100, 5)).toBeNull();
  expect(overLimit("The upload", 100, null, 100, 5)).toBeNull();
});
