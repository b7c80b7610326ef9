/*
 * The faces' types: fixtures/types-user.ts is typical user code for
 * kernel.net and kernel.dgram (a kernel socket as http's createConnection,
 * as a net.Socket and a Duplex; listen, connect, send and their events).
 * It must compile under `strict` with @types/node, and every line marked
 * @ts-expect-error must really be an error: with the markers taken out,
 * tsc reports exactly those lines, so the types are precise, not `any`.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = join(root, 'test/node/fixtures/types-user.ts');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

/** tsc --strict on `files` (one program); resolves with its diagnostics, one per line. */
function typecheck(files: string[]): Promise<string[]> {
  const args = [
    tsc, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
    '--types', 'node', '--skipLibCheck', '--pretty', 'false', ...files,
  ];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root }, (_err, stdout) => {
      resolve(stdout.split('\n').filter((l) => /error TS\d+/.test(l)));
    });
  });
}

test('typical kernel.net / kernel.dgram user code compiles under strict, and the lines marked @ts-expect-error are errors', async (t) => {
  t.timeout(110_000);
  const lines = readFileSync(fixture, 'utf8').split('\n');
  const expected: number[] = [];
  const stripped = lines.map((l, i) => {
    if (!l.trim().startsWith('// @ts-expect-error')) return l;
    expected.push(i + 2); // the line after the marker, 1-based
    return '';
  });
  t.true(expected.length >= 8, 'the fixture checks the types it claims to');
  // The same code without the markers, beside it so its import resolves the same way.
  const name = `.types-user-stripped-${process.pid}.ts`;
  const file = join(root, 'test/node/fixtures', name);
  writeFileSync(file, stripped.join('\n'));
  try {
    const errors = await typecheck([fixture, file]);
    t.deepEqual(errors.filter((e) => !e.includes(name)), [], 'the fixture compiles');
    const at = [...new Set(errors.filter((e) => e.includes(name)).map((e) => Number(/\((\d+),\d+\)/.exec(e)![1])))];
    t.deepEqual(at.sort((a, b) => a - b), expected, errors.join('\n'));
  } finally {
    rmSync(file, { force: true });
  }
});
