#!/usr/bin/env node
// Run the device tests (tests/device/test_*.py) on the real MicroPython interpreter,
// compiled to WebAssembly (@micropython/micropython-webassembly-pyscript, pinned in
// package.json), with MicroPython's own frozen `unittest`.
//
// Uses the JS API (loadMicroPython), not the package's CLI: the CLI exits 0 even on an
// uncaught exception, so it cannot be a gate.
//
// Usage: node tools/mpwasm/run.mjs [--heapsize 192k] [--pystack 2048] [--filter SUBSTR]... [--quiet]
//
// What it does:
//   * copies into the Emscripten MEMFS, under /cpsdi:
//       lib/cpsdi_proto   <- protocol/cpsdi_proto
//       lib/cpsdi_fw      <- firmware/cpsdi_fw
//       lib/cpsdi_boards  <- boards/cpsdi_boards   (without sim/, which is CPython-only)
//       tests/device/*.py <- tests/device/*.py
//       tests/vectors/... <- tests/vectors/...
//     (tests/device/_paths.py finds tests/vectors relative to its own __file__, as on CPython);
//   * puts /cpsdi/lib and /cpsdi/tests/device first on sys.path;
//   * imports every test_*.py module (sorted), runs the unittest.TestCase subclasses found
//     in it (one TestSuite per class, so one broken class does not hide the others);
//   * prints per-test and per-module results, then one machine-readable line:
//       MICROPYTHON-WASM: <run> run, <failures> failed, <errors> errors, <skipped> skipped
//     (a module that fails to import counts as one error; so does an exception escaping a
//     class's setUp/tearDown/setUpClass, which MicroPython's unittest does not catch);
//   * exits 0 only if every module imported, nothing failed or errored, and at least one
//     test ran. Exit 1: test failures/errors/import errors/zero tests. Exit 2: usage or
//     runner (JS / WebAssembly) problems.
//
// Note: the heap size is the *initial* GC heap. This port grows its heap on demand
// ("split heap"), so it is not a hard limit; budget assertions belong in the tests
// (gc.mem_alloc() deltas, micropython.heap_lock()).

import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";

import { MEM_ROOT, ROOT, copyProject, parseSize as parseSizeOr } from "./project.mjs";

function parseSize(text) {
  return parseSizeOr(text, die);
}
const SUMMARY_PREFIX = "MICROPYTHON-WASM:";

const USAGE = `usage: node tools/mpwasm/run.mjs [options]

  --heapsize SIZE   initial MicroPython GC heap, bytes or with k/m suffix (default 192k)
  --pystack WORDS   MicroPython Python-stack size in words (default 2048)
  --filter SUBSTR   run only test modules whose name contains SUBSTR (repeatable: any match)
  --root DIR        project root (default: two levels above this script)
  --quiet           do not print one line per test, only per-module results and failures
  -h, --help        this help
`;

function die(msg) {
  process.stderr.write(`run.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { heapsize: 192 * 1024, pystack: 2048, filters: [], root: ROOT, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value = null;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (value !== null) return value;
      if (i + 1 >= argv.length) die(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case "--heapsize": opts.heapsize = parseSize(next()); break;
      case "--pystack": opts.pystack = parseSize(next()); break;
      case "--filter": case "-k": opts.filters.push(next()); break;
      case "--root": opts.root = path.resolve(next()); break;
      case "--quiet": case "-q": opts.quiet = true; break;
      case "-h": case "--help": process.stdout.write(USAGE); process.exit(0);
      default: die(`unknown argument ${JSON.stringify(argv[i])}\n${USAGE}`);
    }
  }
  return opts;
}

// The Python side: helpers defined once, then called from JS once per module (import)
// and once per TestCase class. Separate runPython calls matter: in this port
// gc.collect() reclaims nothing while a runPython call is still on the stack (observed:
// 10 MB of dropped buffers stay allocated until the next call), so one call for the
// whole suite would let the heap grow without bound. Results come back as JSON strings.
const DRIVER = String.raw`
import sys, json, gc
import unittest

for _d in reversed(json.loads(_cpsdi_sys_path)):
    if _d not in sys.path:
        sys.path.insert(0, _d)

def _cpsdi_num(res, name):
    # MicroPython's unittest keeps counters (failuresNum...) and lists; CPython's only
    # lists. Use whichever this build has.
    n = getattr(res, name + "Num", None)
    if n is None:
        n = len(getattr(res, name, ()))
    return n

def _cpsdi_import(modname):
    print("== %s" % modname)
    try:
        mod = __import__(modname)
    except BaseException as e:  # SyntaxError, ImportError, MemoryError, SystemExit...
        print("IMPORT ERROR in %s:" % modname)
        sys.print_exception(e)
        return json.dumps({"import_error": True, "classes": []})
    classes = []
    for name in dir(mod):
        obj = getattr(mod, name)
        if isinstance(obj, type) and issubclass(obj, unittest.TestCase) and obj is not unittest.TestCase:
            classes.append(name)
    if not classes:
        print("   (no unittest.TestCase subclass in %s)" % modname)
    return json.dumps({"import_error": False, "classes": classes})

def _cpsdi_run_class(modname, clsname):
    cls = getattr(sys.modules[modname], clsname)
    res = unittest.TestResult()
    suite = unittest.TestSuite(modname)
    suite.addTest(cls)
    escaped = None
    try:
        suite.run(res)
    except BaseException as e:
        # MicroPython's unittest calls setUp/tearDown/setUpClass/tearDownClass outside
        # its try, and catches only Exception around the test: this ends the class.
        escaped = e
    for kind, lst in (("FAIL", res.failures), ("ERROR", res.errors)):
        for test, tb in lst:
            if isinstance(test, tuple):
                detail = " ".join(i.__name__ if isinstance(i, type) else str(i) for i in test)
            else:
                detail = str(test)
            print("---- %s: %s.%s: %s" % (kind, modname, clsname, detail))
            print(tb)
    out = {
        "run": res.testsRun,
        "failures": _cpsdi_num(res, "failures"),
        "errors": _cpsdi_num(res, "errors"),
        "skipped": _cpsdi_num(res, "skipped"),
    }
    if escaped is not None:
        print()  # end the test's unfinished "name (...) ..." line
        print("---- ERROR: %s.%s: exception escaped the test class (setUp/tearDown/setUpClass?):" % (modname, clsname))
        sys.print_exception(escaped)
        out["errors"] += 1
    return json.dumps(out)
`;

class RunnerError extends Error {}

// Run Python code that leaves a JSON string in the global _cpsdi_out; return it parsed.
function call(mp, code) {
  try {
    mp.runPython(`_cpsdi_out = ${code}`);
  } catch (e) {
    // Python exceptions are caught on the Python side; this is the driver itself or
    // the WebAssembly instance failing (e.g. out of memory, stack overflow).
    throw new RunnerError(`${e && e.type ? e.type + ": " : ""}${e && e.message ? e.message : e}`);
  }
  return JSON.parse(mp.globals.get("_cpsdi_out"));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const root = opts.root;
  const testDir = path.join(root, "tests", "device");
  if (!fs.existsSync(testDir)) die(`no ${testDir}`);

  let modules = fs.readdirSync(testDir)
    .filter((f) => /^test_.*\.py$/.test(f))
    .map((f) => f.slice(0, -3))
    .sort();
  if (opts.filters.length) modules = modules.filter((m) => opts.filters.some((s) => m.includes(s)));

  // Output: line-buffered callbacks (one call per line, without the newline).
  const out = (line) => {
    if (opts.quiet && / \.\.\.( ok| skipped:.*)?$/.test(line)) return; // per-test progress lines
    process.stdout.write(line + "\n");
  };
  const err = (line) => process.stderr.write(line + "\n");
  const say = (line) => process.stdout.write(line + "\n");

  const t0 = performance.now();
  const mp = await loadMicroPython({
    heapsize: opts.heapsize,
    pystack: opts.pystack,
    stdout: out,
    stderr: err,
    linebuffer: true,
  });
  const tLoad = performance.now();

  const copied = copyProject(mp.FS, root);

  say(`MicroPython WebAssembly: heapsize=${opts.heapsize} pystack=${opts.pystack}; ` +
    `${modules.length} test module(s); files copied: ` +
    Object.entries(copied).map(([k, v]) => `${k}=${v}`).join(" "));

  const total = { run: 0, failures: 0, errors: 0, skipped: 0 };
  const importErrors = [];
  let runnerFailure = null;
  try {
    mp.globals.set("_cpsdi_sys_path", JSON.stringify([`${MEM_ROOT}/lib`, `${MEM_ROOT}/tests/device`]));
    mp.runPython(DRIVER);
    for (const mod of modules) {
      const m = { run: 0, failures: 0, errors: 0, skipped: 0 };
      const imp = call(mp, `_cpsdi_import(${JSON.stringify(mod)})`);
      if (imp.import_error) {
        importErrors.push(mod);
        m.errors += 1;
      }
      for (const cls of imp.classes) {
        const r = call(mp, `_cpsdi_run_class(${JSON.stringify(mod)}, ${JSON.stringify(cls)})`);
        for (const k of Object.keys(m)) m[k] += r[k];
        mp.runPython("gc.collect()");
      }
      mp.runPython("gc.collect(); _cpsdi_out = gc.mem_alloc()");
      const heap = mp.globals.get("_cpsdi_out");
      for (const k of Object.keys(total)) total[k] += m[k];
      const status = imp.import_error ? "IMPORT ERROR" : (m.failures || m.errors ? "FAILED" : "OK");
      say(`-- ${mod}: ${m.run} run, ${m.failures} failed, ${m.errors} errors, ${m.skipped} skipped: ` +
        `${status} (GC heap in use after: ${heap} B)`);
    }
  } catch (e) {
    if (!(e instanceof RunnerError)) throw e;
    runnerFailure = e.message;
    total.errors += 1;
  }
  const tRun = performance.now();

  say("");
  if (runnerFailure) say(`RUNNER FAILURE (the run stopped here): ${runnerFailure}`);
  if (importErrors.length) say(`Modules that failed to import: ${importErrors.join(", ")}`);
  if (modules.length === 0) {
    say(`No test module matched (tests/device/test_*.py${opts.filters.length ? ", filter " + JSON.stringify(opts.filters) : ""}).`);
  }
  say(`Load ${(tLoad - t0).toFixed(0)} ms, tests ${(tRun - tLoad).toFixed(0)} ms`);
  say(`${SUMMARY_PREFIX} ${total.run} run, ${total.failures} failed, ${total.errors} errors, ${total.skipped} skipped`);

  if (runnerFailure) return 2;
  if (total.failures || total.errors || importErrors.length) return 1;
  if (total.run === 0) {
    say("FAILED: zero tests ran.");
    return 1;
  }
  return 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`run.mjs: ${e && e.stack ? e.stack : e}\n`); process.exitCode = 2; },
);
