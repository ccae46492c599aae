#!/usr/bin/env node
// Heap soak of the whole reader firmware on the real MicroPython interpreter (WebAssembly):
// tests/device/_firmware_soak.py (cpsdi_fw.main.Reader, native host frames, a T=1 and a T=0
// fake card with their own faults) runs --apdus APDUs in batches of --batch; after each
// batch, in a runPython call of its own (this port's gc.collect() reclaims nothing while a
// call is on the stack), gc.collect() and gc.mem_alloc(): the live heap (interpreter, firmware
// and the soak's host side; the firmware allocates its buffers once, at start).
//
// Usage: node tools/mpwasm/heap_soak.mjs [--apdus 100000] [--batch 1000] [--seed 13]
//                                        [--heapsize 192k] [--report FILE.json]
// (python -m fuzz mpsoak runs it.) Prints a line per 10 %, then the figures as JSON.
// Exit 0: every answer exact, nothing failed, and the heap flat: the highest gc.mem_alloc()
// of the last fifth of the run at most --slack bytes (default 1024) over the highest of the
// first fifth after the warm-up (10 %). Exit 1: a wrong answer, a failure, a hang or growth.
// Exit 2: usage or runner problems.

import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";

import { MEM_ROOT, ROOT, copyProject, parseSize } from "./project.mjs";

const WARMUP = 0.1;

function die(msg) {
  process.stderr.write(`heap_soak.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { apdus: 100000, batch: 1000, seed: 13, heapsize: 192 * 1024, slack: 1024, report: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => (i + 1 < argv.length ? argv[++i] : die(`${arg} needs a value`));
    const int = (text) => (/^\d+$/.test(text) ? parseInt(text, 10) : die(`${arg}: not a number: ${text}`));
    switch (arg) {
      case "--apdus": opts.apdus = int(next()); break;
      case "--batch": opts.batch = int(next()); break;
      case "--seed": opts.seed = int(next()); break;
      case "--slack": opts.slack = int(next()); break;
      case "--heapsize": opts.heapsize = parseSize(next(), die); break;
      case "--report": opts.report = next(); break;
      case "-h": case "--help":
        process.stdout.write("usage: node tools/mpwasm/heap_soak.mjs [--apdus N] [--batch N] [--seed N] " +
          "[--heapsize SIZE] [--slack BYTES] [--report FILE]\n");
        process.exit(0);
      default: die(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (opts.apdus < 1 || opts.batch < 1) die("--apdus and --batch must be at least 1");
  if (opts.seed < 1) die("--seed must be at least 1 (xorshift)");
  return opts;
}

// The highest value of each fifth of `samples` ([apdus, bytes]) by APDU count.
function maxPerFifth(samples) {
  if (!samples.length) return [];
  const first = samples[0][0];
  const span = (samples[samples.length - 1][0] - first) || 1;
  const fifths = [[], [], [], [], []];
  for (const [n, v] of samples) fifths[Math.min(4, Math.floor((5 * (n - first)) / span))].push(v);
  return fifths.filter((f) => f.length).map((f) => Math.max(...f));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const say = (line) => process.stdout.write(line + "\n");
  const mp = await loadMicroPython({ heapsize: opts.heapsize, stdout: say, stderr: say, linebuffer: true });
  copyProject(mp.FS, ROOT);
  const run = (code) => {
    try {
      mp.runPython(code);
    } catch (e) {
      return `${e && e.type ? e.type + ": " : ""}${e && e.message ? e.message : e}`;
    }
    return null;
  };
  const get = (name) => mp.globals.get(name);
  const figuresWrong = () => (run("_w = _soak.wrong") ? "?" : get("_w"));
  let error = run(`
import sys, gc, json
sys.path[:0] = ["${MEM_ROOT}/lib", "${MEM_ROOT}/tests/device"]
from _firmware_soak import FirmwareSoak
_soak = FirmwareSoak(${opts.seed})
`);
  if (error) die(`set-up failed: ${error}`);
  run("gc.collect(); _m = gc.mem_alloc()");
  const start = get("_m");
  const samples = [];
  const t0 = performance.now();
  let done = 0;
  let nextReport = opts.apdus / 10;
  while (done < opts.apdus && !error) {
    const n = Math.min(opts.batch, opts.apdus - done);
    error = run(`_soak.batch(${n})`);
    done = get("_soak").apdus;
    run("gc.collect(); _m = gc.mem_alloc()");
    samples.push([done, get("_m")]);
    if (done >= nextReport || error) {
      const s = (performance.now() - t0) / 1000;
      say(`${done} APDUs, ${figuresWrong()} wrong, ${(done / s).toFixed(0)} APDU/s, gc.mem_alloc() ${get("_m")} B`);
      nextReport += opts.apdus / 10;
    }
  }
  run("_j = json.dumps(_soak.summary())");
  const figures = JSON.parse(get("_j"));
  const elapsed = (performance.now() - t0) / 1000;
  const warm = samples.filter(([n]) => n >= opts.apdus * WARMUP);
  const maxima = maxPerFifth(warm.length ? warm : samples);
  const flat = maxima.length > 0 && maxima[maxima.length - 1] <= maxima[0] + opts.slack;
  const report = {
    ...figures,
    error,
    elapsed_s: Math.round(elapsed * 10) / 10,
    apdus_per_s: Math.round(figures.apdus / elapsed),
    heapsize: opts.heapsize,
    mem_alloc_at_start: start,
    mem_alloc_max_per_fifth: maxima,
    mem_alloc_min_max: [Math.min(...samples.map((s) => s[1])), Math.max(...samples.map((s) => s[1]))],
    flat,
    options: opts,
  };
  say(JSON.stringify(report, null, 1));
  if (opts.report) fs.writeFileSync(opts.report, JSON.stringify(report, null, 1));
  return !error && figures.wrong === 0 && figures.failed === 0 && flat ? 0 : 1;
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`heap_soak.mjs: ${e && e.stack ? e.stack : e}\n`); process.exitCode = 2; },
);
