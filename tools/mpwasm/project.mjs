// What the MicroPython-WebAssembly runs share (run.mjs: the device tests; heap_soak.mjs: the
// firmware heap soak): the project's device code and device tests copied into the Emscripten
// MEMFS under /cpsdi, and the size option parser.
//
//   lib/cpsdi_proto   <- protocol/cpsdi_proto
//   lib/cpsdi_fw      <- firmware/cpsdi_fw
//   lib/cpsdi_boards  <- boards/cpsdi_boards   (without sim/, which is CPython-only)
//   tests/device/*.py <- tests/device/*.py
//   tests/vectors/... <- tests/vectors/...

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "..", "..");
export const MEM_ROOT = "/cpsdi";

// A size in bytes, or with a k/m suffix; `die(message)` on anything else.
export function parseSize(text, die) {
  const m = /^(\d+)([kKmM]?)$/.exec(String(text).trim());
  if (!m) die(`bad size ${JSON.stringify(text)} (expected e.g. 196608, 192k, 1m)`);
  const mult = { "": 1, k: 1024, K: 1024, m: 1048576, M: 1048576 }[m[2]];
  return parseInt(m[1], 10) * mult;
}

// Recursively list files under `dir` (relative paths, "/"-separated), skipping caches.
export function listFiles(dir, skip = () => false, rel = "") {
  const out = [];
  for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.name === "__pycache__" || ent.name.startsWith(".") || skip(r, ent)) continue;
    if (ent.isDirectory()) out.push(...listFiles(dir, skip, r));
    else if (ent.isFile() && !ent.name.endsWith(".pyc")) out.push(r);
  }
  return out.sort();
}

export function copyTree(FS, srcDir, dstDir, skip) {
  if (!fs.existsSync(srcDir)) return 0;
  const files = listFiles(srcDir, skip);
  for (const r of files) {
    const dst = `${dstDir}/${r}`;
    FS.mkdirTree(dst.slice(0, dst.lastIndexOf("/")));
    FS.writeFile(dst, fs.readFileSync(path.join(srcDir, r)));
  }
  return files.length;
}

// Copy the device code and the device tests of the project at `root`; returns the file
// counts per tree. sys.path is the caller's: /cpsdi/lib and /cpsdi/tests/device.
export function copyProject(FS, root) {
  const copied = {
    cpsdi_proto: copyTree(FS, path.join(root, "protocol", "cpsdi_proto"), `${MEM_ROOT}/lib/cpsdi_proto`),
    cpsdi_fw: copyTree(FS, path.join(root, "firmware", "cpsdi_fw"), `${MEM_ROOT}/lib/cpsdi_fw`),
    // sim/ is the CPython-only simulator: it never goes to a device.
    cpsdi_boards: copyTree(FS, path.join(root, "boards", "cpsdi_boards"), `${MEM_ROOT}/lib/cpsdi_boards`,
      (r) => r === "sim"),
    tests_device: copyTree(FS, path.join(root, "tests", "device"), `${MEM_ROOT}/tests/device`,
      (r, ent) => ent.isDirectory() || !r.endsWith(".py")),
    tests_vectors: copyTree(FS, path.join(root, "tests", "vectors"), `${MEM_ROOT}/tests/vectors`),
  };
  // The folders exist even when empty (e.g. no vectors yet).
  FS.mkdirTree(`${MEM_ROOT}/tests/vectors`);
  FS.mkdirTree(`${MEM_ROOT}/lib`);
  return copied;
}
