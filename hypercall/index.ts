/*
 * The hypercall layer: the only door from a rump kernel to its host.
 * `createNodeHost()` for a real process, `createSimHost()` for a simulated
 * network on a virtual clock.
 */

export type { BootParams, BusMapping, HostTimer, Hypercall, TapBatch, TapDevice, TapOpenOptions } from './types.js';
export {
  BootParamError,
  DEFAULT_NCPU,
  parseBootParams,
  parseMemlimit,
  parseNcpu,
  parseVerbose,
} from './params.js';
export { NodeHost, NodeTapDevice, TAP_MAX_FRAME, createNodeHost, type NodeHostOptions } from './node.js';
export { SimHost, SimTap, SimTapDevice, SIM_TAP_QUEUE, createSimHost, type SimHostOptions } from './sim.js';
