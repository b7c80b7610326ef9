/*
 * The README runs: every fenced code block in README.md is run as written
 * and must finish with status 0. Blocks run in a scratch project that has
 * rumpnet installed the way npm installs it (node_modules/rumpnet is the
 * checkout, its tools linked in node_modules/.bin), which is also what the
 * self-dependency gives a clone:
 *
 *   ```js        an ES module (`import ... from 'rumpnet'`), run by node
 *   ```ts        type-checked with tsc --strict against rumpnet's published
 *                types (dist/*.d.ts), then run with tsx
 *   ```sh        bash -e, with the tools on PATH; as root inside a network
 *                namespace of its own (loopback only), so nothing a block
 *                does can reach the host's network
 *   ```sh netns  needs root (a TAP device): inside a namespace of its own,
 *                skipped with a message otherwise
 *   ```sh clone  the first steps in a fresh clone (npm install builds the
 *                native addon and dist/: a minute or two), with npm kept
 *                offline (the packages come from npm's cache, which the
 *                checkout's own install filled): run on CI (CI set) or
 *                with RUMPNET_TEST_CLONE=1, skipped with a message otherwise
 *
 * A block in any other language fails the test: a block that cannot run
 * must not be in the README. dist/ is rebuilt first when older than the
 * sources, since that is what `import 'rumpnet'` loads.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, ROOT, TSX, run, type Run } from './interop/helpers.js';

interface Block {
  lang: string;
  tag: string;
  code: string;
  line: number;
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(\S*)\s*(\S*)\s*$/.exec(lines[i]!);
    if (m === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    out.push({ lang: m[1]!, tag: m[2]!, code: `${body.join('\n')}\n`, line: start + 1 });
  }
  return out;
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const all = blocks(readme);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string> };
const root = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v ip']).status === 0;

/** The newest modification time under `dir` of files ending in `.ts` (not tests, not dist). */
function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (['node_modules', 'dist', 'test', 'bench', 'tmp', '.git'].includes(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

let project = '';

test.before(async () => {
  const built = join(ROOT, 'dist/index.js');
  if (!existsSync(built) || statSync(built).mtimeMs < newestSource(ROOT)) {
    const r = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
    if (r.status !== 0) throw new Error(`building dist/ failed: ${r.stdout}${r.stderr}`);
  }
  // A project with rumpnet installed: node_modules/rumpnet and the bins, as npm links them.
  project = mkdtempSync(join(tmpdir(), 'rumpnet-readme-'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'readme', private: true, type: 'module' }));
  mkdirSync(join(project, 'node_modules/.bin'), { recursive: true });
  symlinkSync(ROOT, join(project, 'node_modules', pkg.name));
  for (const [name, file] of Object.entries(pkg.bin)) {
    chmodSync(join(ROOT, file), 0o755);
    symlinkSync(join('..', pkg.name, file), join(project, 'node_modules/.bin', name));
  }
});

test.after.always(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

/** A scratch directory in the project for one block (the project's node_modules resolve from it). */
function scratch(n: number): string {
  const dir = join(project, `block-${n}`);
  mkdirSync(dir);
  return dir;
}

/** Halt rump_servers a failed block left running (their unix sockets are in its directory). */
async function haltLeftovers(dir: string, ns: Netns | null): Promise<void> {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (!statSync(p).isSocket()) continue;
    const args = [join(ROOT, 'dist/bin/rump.halt.js')];
    const env = { RUMP_SERVER: `unix://${p}` };
    if (ns) await ns.exec(process.execPath, args, env, dir);
    else await run(process.execPath, args, { env, cwd: dir });
  }
}

function shEnv(): Record<string, string> {
  return { PATH: `${join(project, 'node_modules/.bin')}:${process.env['PATH'] ?? ''}`, RUMP_SERVER: '' };
}

function explain(r: Run, b: Block): string {
  return `README.md:${b.line} (${b.lang} ${b.tag}) exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

all.forEach((b, n) => {
  const title = `README.md:${b.line}: the ${b.lang}${b.tag ? ` ${b.tag}` : ''} block runs as written`;
  const kind = `${b.lang} ${b.tag}`.trim();
  if (kind === 'sh clone') {
    const ci = process.env['CI'];
    if (process.env['RUMPNET_TEST_CLONE'] !== '1' && (ci === undefined || ci === '' || ci === 'false' || ci === '0')) {
      test.skip(`${title} (runs on CI or with RUMPNET_TEST_CLONE=1: npm install in a fresh clone takes a minute or two)`, () => {});
      return;
    }
    test.serial(title, async (t) => {
      t.timeout(600_000);
      const dir = mkdtempSync(join(tmpdir(), 'rumpnet-clone-'));
      try {
        const c = await run('git', ['clone', '-q', ROOT, join(dir, 'rumpnet')]);
        t.is(c.status, 0, c.stderr);
        writeFileSync(join(dir, 'block.sh'), b.code);
        const r = await run('bash', ['-e', join(dir, 'block.sh')], { cwd: join(dir, 'rumpnet'), env: { npm_config_offline: 'true' } });
        t.is(r.status, 0, explain(r, b));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    return;
  }
  if (kind === 'sh netns' && !root) {
    test.skip(`${title} (needs root and iproute2: a TAP device in a network namespace)`, () => {});
    return;
  }
  test.serial(title, async (t) => {
    // Shell blocks start a process per tool (npx, node, tsx): on a loaded
    // machine the longest took over 90 s though it needs ~40 s alone.
    t.timeout(300_000);
    const dir = scratch(n);
    let r: Run;
    if (kind === 'js') {
      writeFileSync(join(dir, 'block.mjs'), b.code);
      r = await run('timeout', ['60', process.execPath, 'block.mjs'], { cwd: dir });
    } else if (kind === 'ts') {
      writeFileSync(join(dir, 'block.ts'), b.code);
      const tsc = await run(process.execPath, [
        join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'ES2022', '--module', 'NodeNext',
        '--moduleResolution', 'NodeNext', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), '--skipLibCheck', 'block.ts',
      ], { cwd: dir });
      t.is(tsc.status, 0, `README.md:${b.line}: the TypeScript does not compile under strict:\n${tsc.stdout}${tsc.stderr}`);
      r = await run('timeout', ['60', process.execPath, `--import=${TSX}`, 'block.ts'], { cwd: dir });
    } else if (kind === 'sh' || kind === 'sh netns') {
      writeFileSync(join(dir, 'block.sh'), b.code);
      const ns = root ? await Netns.create() : null;
      try {
        const args = ['240', 'bash', '-e', join(dir, 'block.sh')];
        r = ns ? await ns.exec('timeout', args, shEnv(), dir) : await run('timeout', args, { env: shEnv(), cwd: dir });
        await haltLeftovers(dir, ns);
      } finally {
        await ns?.destroy();
      }
    } else {
      t.fail(`README.md:${b.line}: a \`\`\`${kind} block: the README test runs js, ts and sh blocks; a block that cannot run does not belong in the README`);
      return;
    }
    t.log(r.stdout.trimEnd());
    t.is(r.status, 0, explain(r, b));
  });
});

test('the README has the blocks a user starts from', (t) => {
  const kinds = all.map((b) => `${b.lang} ${b.tag}`.trim());
  t.true(kinds.includes('js') && kinds.includes('ts') && kinds.includes('sh'));
  t.true(all.some((b) => b.code.includes('createSimHost') && b.code.includes('sim.run')), 'a simulated-clock example');
});
