// Run bench/mp_session.py on the MicroPython WebAssembly build (tools/mpwasm's pinned
// package) with the device packages in its filesystem; prints the script's output.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const pkg = path.join(ROOT, "tools", "mpwasm", "node_modules", "@micropython",
  "micropython-webassembly-pyscript", "micropython.mjs");
const { loadMicroPython } = await import(pkg);

function copyTree(FS, src, dst) {
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, ent.name);
    const d = `${dst}/${ent.name}`;
    if (ent.isDirectory()) copyTree(FS, s, d);
    else if (ent.name.endsWith(".py")) {
      FS.mkdirTree(dst);
      FS.writeFile(d, fs.readFileSync(s));
    }
  }
}

let out = "";
const mp = await loadMicroPython({ heapsize: 192 * 1024, stdout: (t) => { out += t + "\n"; },
  stderr: (t) => process.stderr.write(t + "\n"), linebuffer: true });
copyTree(mp.FS, path.join(ROOT, "protocol", "cpsdi_proto"), "/lib/cpsdi_proto");
copyTree(mp.FS, path.join(ROOT, "firmware", "cpsdi_fw"), "/lib/cpsdi_fw");
mp.runPython("import sys\nsys.path.insert(0, '/lib')");
mp.runPython(fs.readFileSync(path.join(HERE, "mp_session.py"), "utf8"));
process.stdout.write(out);
