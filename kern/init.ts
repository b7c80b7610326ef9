/*
 * rump_init(): validate the bootstrap parameters, build the kernel, attach
 * the kern sysctls and initialise the linked components in NetBSD's order.
 */
import type { Hypercall } from '../hypercall/types.js';
import { parseBootParams, BootParamError } from '../hypercall/params.js';
import { Kernel, OSTYPE, OSRELEASE, RUMP_VERSION, MAXFILES_MAX } from './kernel.js';
import { resolveComponents, BootError } from './component.js';

export interface BootOptions {
  /** Component names (NetBSD library spellings accepted). */
  components: readonly string[];
  /** Bootstrap parameters; a name absent here is read from the host (its environment). */
  env?: Record<string, string | undefined>;
  host: Hypercall;
}

/* The constant leaves' getters: one function each for every kernel of the process. */
function ostype(): string {
  return OSTYPE;
}
function osrelease(): string {
  return OSRELEASE;
}
function version(): string {
  return RUMP_VERSION;
}

export function bootKernel(opts: BootOptions): Kernel {
  const { host } = opts;
  const env = opts.env ?? {};
  const getparam = (name: string): string | undefined => (name in env ? env[name] : host.getparam(name));
  let params;
  try {
    params = parseBootParams(getparam, host.hostNcpu());
  } catch (e) {
    if (e instanceof BootParamError) throw new BootError(e.message);
    throw e;
  }
  const components = resolveComponents(opts.components);
  const k = new Kernel(host, params);

  k.sysctl.int('hw.ncpu', () => k.params.ncpu, null, 1, 0x7fffffff, 'number of CPUs');
  k.sysctl.string('kern.hostname', () => k.hostname, (v) => {
    k.hostname = String(v);
  });
  k.sysctl.string('kern.ostype', ostype, null);
  k.sysctl.string('kern.osrelease', osrelease, null);
  k.sysctl.string('kern.version', version, null);
  // NetBSD lets root lower kern.maxfiles below the files open: those stay open, new ones get ENFILE.
  k.sysctl.int('kern.maxfiles', () => k.maxfiles, (v) => {
    k.maxfiles = v;
  }, 1, MAXFILES_MAX, 'maximum number of open files');
  k.sysctl.struct('hw.memlimit', () => ({ limit: Number.isFinite(k.mem.limit) ? k.mem.limit : -1, used: k.mem.used, peak: k.mem.peak, failures: k.mem.failures }));
  // What netstat -m prints (NetBSD's kern.mbuf.stats, struct mbstat, in this kernel's terms).
  k.sysctl.struct('kern.mbuf.stats', () => ({ ...k.mbufs.stats, inUse: k.mbufs.inUse }));

  k.verbose(`${RUMP_VERSION}: a rump kernel on the ${host.kind} host`);
  k.verbose(`ncpu ${params.ncpu}, memlimit ${Number.isFinite(params.memlimit) ? params.memlimit : 'none'}`);
  for (const c of components) {
    c.init(k);
    k.components.push(c);
    k.verbose(`component ${c.name} initialised`);
  }
  return k;
}
