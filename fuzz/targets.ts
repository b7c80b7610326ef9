/*
 * Every fuzz target by name: the network input paths first (each a corpus
 * of one protocol's frames fed to a fresh dual-stack kernel), then the
 * decoders.
 */
import { packetdrillTarget, sysproxyTarget } from './decoders.js';
import { pcapTarget, shmifTarget } from './files.js';
import { sysproxyCallsTarget } from './sysproxy.js';
import { toolsTarget } from './tools.js';
import { openNet, type NetCorpus } from './net.js';
import type { Target } from './target.js';

const NET: NetCorpus[] = ['ether', 'ipv4', 'ipv6', 'icmp', 'icmp6', 'udp', 'tcp-listen', 'tcp-established', 'tcp-states'];

export const TARGETS: Target[] = [
  ...NET.map((kind): Target => ({ name: kind, open: (seed) => openNet(kind, seed) })),
  sysproxyTarget,
  sysproxyCallsTarget,
  packetdrillTarget,
  shmifTarget,
  pcapTarget,
  toolsTarget,
];

export function targetByName(name: string): Target | undefined {
  return TARGETS.find((t) => t.name === name);
}
