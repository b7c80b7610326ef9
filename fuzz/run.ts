/*
 * npm run fuzz -- [--inputs N] [--seed S] [--target NAME]... [--round N] [--json FILE]
 *
 * Runs each target (all by default) for N inputs from seed S (default: 1;
 * FUZZ_INPUTS and FUZZ_SEED in the environment also work), prints one line
 * per target (inputs, inputs per second, findings) and every finding with
 * the seed that replays it, and exits 1 if anything was found. --json
 * writes the figures (bench/results/fuzz.json is such a run). --progress N
 * prints a line to stderr every N rounds (a long run shows how far it got).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { runTarget, type TargetResult } from './target.js';
import { TARGETS, targetByName } from './targets.js';

function usage(msg?: string): never {
  if (msg) process.stderr.write(`fuzz: ${msg}\n`);
  process.stderr.write(`usage: npm run fuzz -- [--inputs N] [--seed S] [--target NAME]... [--round N] [--progress N] [--json FILE]\n` +
    `targets: ${TARGETS.map((t) => t.name).join(' ')}\n`);
  process.exit(1);
}

function intArg(name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isSafeInteger(n) || n < 0) usage(`${name} wants a non-negative integer`);
  return n;
}

const args = process.argv.slice(2);
let inputs = process.env['FUZZ_INPUTS'] !== undefined ? intArg('FUZZ_INPUTS', process.env['FUZZ_INPUTS']) : 100_000;
let seed = process.env['FUZZ_SEED'] !== undefined ? intArg('FUZZ_SEED', process.env['FUZZ_SEED']) : 1;
let round: number | undefined;
let progress = 0;
let json: string | undefined;
const names: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--inputs') inputs = intArg(a, args[++i]);
  else if (a === '--seed') seed = intArg(a, args[++i]);
  else if (a === '--round') round = intArg(a, args[++i]) || usage('--round wants at least 1');
  else if (a === '--target') names.push(args[++i] ?? usage('--target wants a name'));
  else if (a === '--progress') progress = intArg(a, args[++i]);
  else if (a === '--json') json = args[++i] ?? usage('--json wants a file');
  else usage(`unknown argument ${a}`);
}
const targets = names.length ? names.map((n) => targetByName(n) ?? usage(`no target ${n}`)) : TARGETS;

const results: TargetResult[] = [];
let found = 0;
for (const t of targets) {
  const t0 = performance.now();
  const onRound = (n: number, rounds: number, findings: number): void => {
    if (progress && rounds % progress === 0) {
      const s = (performance.now() - t0) / 1000;
      process.stderr.write(`${t.name}: ${n} inputs, ${rounds} rounds, ${s.toFixed(0)} s, ${Math.round(n / s)}/s, ${findings} findings\n`);
    }
  };
  const r = await runTarget(t, { seed, inputs, ...(round ? { round } : {}), now: () => performance.now(), onRound });
  results.push(r);
  found += r.findings.length;
  const rate = r.ms > 0 ? Math.round((r.inputs / r.ms) * 1000) : 0;
  process.stdout.write(`${t.name.padEnd(20)} seed ${seed}  ${r.inputs} inputs  ${r.rounds} rounds  ${rate}/s  ${r.findings.length} findings\n`);
  for (const f of r.findings) {
    process.stdout.write(`  ${f.kind} (replay: npm run fuzz -- --target ${t.name} --seed ${seed} --inputs ${inputs}), round ${f.round}:\n    ${f.message.split('\n').join('\n    ')}\n`);
    if (f.input) process.stdout.write(`    input: ${f.input}\n`);
  }
}
if (json) {
  const out = {
    command: `npm run fuzz -- ${process.argv.slice(2).join(' ')}`.trim(),
    seed,
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    targets: results.map((r) => ({
      target: r.target, inputs: r.inputs, rounds: r.rounds, seconds: +(r.ms / 1000).toFixed(1),
      inputsPerSecond: r.ms > 0 ? Math.round((r.inputs / r.ms) * 1000) : null,
      crashes: r.findings.filter((f) => f.kind === 'crash').length,
      invariantFailures: r.findings.filter((f) => f.kind === 'invariant').length,
    })),
  };
  writeFileSync(json, JSON.stringify(out, null, 2) + '\n');
}
process.exit(found ? 1 : 0);
