/*
 * What the benchmarks share: where results go, and the kernel pair most of
 * them measure (two kernels in this process on one fresh shmif bus file).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { rumpInit, type RumpKernel } from '../index.js';

/** bench/results: benny's files and each suite's summary. */
export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** The addresses shmifKernels gives its two kernels, on 192.0.2.0/24 (TEST-NET-1, RFC 5737). */
export const SHMIF_ADDRS = ['192.0.2.1', '192.0.2.2'] as const;

/**
 * Two kernels on a new bus file (in a fresh temporary directory, so runs
 * never share a bus), shmif0 up with SHMIF_ADDRS[0] and SHMIF_ADDRS[1].
 */
export async function shmifKernels(prefix = 'rumpnet-bench-'): Promise<[RumpKernel, RumpKernel]> {
  const bus = join(mkdtempSync(join(tmpdir(), prefix)), 'bus');
  const ks: RumpKernel[] = [];
  for (const addr of SHMIF_ADDRS) {
    const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'] });
    await k.netconfig.ifcreate('shmif0');
    await k.netconfig.ifsetlinkstr('shmif0', bus);
    await k.netconfig.ipv4IfaddrCidr('shmif0', addr, 24);
    ks.push(k);
  }
  return [ks[0]!, ks[1]!];
}
