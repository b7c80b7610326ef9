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
  k.sysctl.create('kern.hostname', {
    type: 'string',
    get: () => k.hostname,
    set: (v) => {
      k.hostname = String(v);
    },
  });
  k.sysctl.create('kern.ostype', { type: 'string', get: () => OSTYPE });
  k.sysctl.create('kern.osrelease', { type: 'string', get: () => OSRELEASE });
  k.sysctl.create('kern.version', { type: 'string', get: () => RUMP_VERSION });
  // NetBSD lets root lower kern.maxfiles below the files open: those stay open, new ones get ENFILE.
  k.sysctl.int('kern.maxfiles', () => k.maxfiles, (v) => {
    k.maxfiles = v;
  }, 1, MAXFILES_MAX, 'maximum number of open files');
  k.sysctl.create('hw.memlimit', {
    type: 'struct',
    get: () => ({ limit: Number.isFinite(k.mem.limit) ? k.mem.limit : -1, used: k.mem.used, peak: k.mem.peak, failures: k.mem.failures }),
  });

  k.verbose(`${RUMP_VERSION}: a rump kernel on the ${host.kind} host`);
  k.verbose(`ncpu ${params.ncpu}, memlimit ${Number.isFinite(params.memlimit) ? params.memlimit : 'none'}`);
  for (const c of components) {
    c.init(k);
    k.components.push(c);
    k.verbose(`component ${c.name} initialised`);
  }
  return k;
}
