/*
 * ICMP type and code names as packetdrill scripts write them
 * (`< icmp unreachable port_unreachable [0:0(0)]`), with RFC 792's numbers,
 * and the ICMPv6 ones (RFC 4443) an `--ip_version=ipv6` script means by
 * the same line: packetdrill keeps a table per family, `unreachable` and
 * `port_unreachable` naming ICMPv6's destination unreachable, code 4.
 * Any type also takes `code_N` for a bare code number.
 */
import {
  ICMP_ECHO, ICMP_ECHOREPLY, ICMP_IREQ, ICMP_IREQREPLY, ICMP_MASKREPLY, ICMP_MASKREQ, ICMP_PARAMPROB,
  ICMP_REDIRECT, ICMP_SOURCEQUENCH, ICMP_TIMXCEED, ICMP_TSTAMP, ICMP_TSTAMPREPLY, ICMP_UNREACH,
} from '../net/wire/icmp.js';

export const ICMP_TYPES: ReadonlyMap<string, number> = new Map([
  ['echo_reply', ICMP_ECHOREPLY],
  ['unreachable', ICMP_UNREACH],
  ['source_quench', ICMP_SOURCEQUENCH],
  ['redirect', ICMP_REDIRECT],
  ['echo_request', ICMP_ECHO],
  ['time_exceeded', ICMP_TIMXCEED],
  ['parameter_problem', ICMP_PARAMPROB],
  ['timestamp_request', ICMP_TSTAMP],
  ['timestamp_reply', ICMP_TSTAMPREPLY],
  ['information_request', ICMP_IREQ],
  ['information_reply', ICMP_IREQREPLY],
  ['address_mask_request', ICMP_MASKREQ],
  ['address_mask_reply', ICMP_MASKREPLY],
]);

/** Code names by type (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
export const ICMP_CODES: ReadonlyMap<number, ReadonlyMap<string, number>> = new Map([
  [ICMP_UNREACH, new Map([
    ['net_unreachable', 0], ['host_unreachable', 1], ['protocol_unreachable', 2], ['port_unreachable', 3],
    ['frag_needed', 4], ['source_route_failed', 5], ['net_unknown', 6], ['host_unknown', 7],
    ['source_host_isolated', 8], ['net_prohibited', 9], ['host_prohibited', 10],
    ['net_unreachable_for_tos', 11], ['host_unreachable_for_tos', 12], ['packet_filtered', 13],
    ['precedence_violation', 14], ['precedence_cutoff', 15],
  ])],
  [ICMP_REDIRECT, new Map([
    ['net_redirect', 0], ['host_redirect', 1], ['tos_net_redirect', 2], ['tos_host_redirect', 3],
  ])],
  [ICMP_TIMXCEED, new Map([['ttl_exceeded_in_transit', 0], ['frag_reass_exceeded', 1]])],
]);

/** The code for `name` under `type`: a table name or `code_N`; null when unknown. */
export function icmpCodeByName(type: number, name: string): number | null {
  const m = /^code_(\d{1,3})$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    return n <= 255 ? n : null;
  }
  return ICMP_CODES.get(type)?.get(name) ?? null;
}

/** Type name for messages (`type 42` when not in the table). */
export function icmpTypeName(type: number): string {
  for (const [name, t] of ICMP_TYPES) if (t === type) return name;
  return `type_${type}`;
}

/** Code name for messages (`code_N` when not in the table). */
export function icmpCodeName(type: number, code: number): string {
  const codes = ICMP_CODES.get(type);
  if (codes) for (const [name, c] of codes) if (c === code) return name;
  return `code_${code}`;
}

/* ------------------------------------------------------------------------ */
/* ICMPv6 (RFC 4443 §3, §4), packetdrill's names. */

export const ICMP6_TYPES: ReadonlyMap<string, number> = new Map([
  ['unreachable', 1],
  ['destination_unreachable', 1],
  ['packet_too_big', 2],
  ['time_exceeded', 3],
  ['parameter_problem', 4],
  ['echo_request', 128],
  ['echo_reply', 129],
]);

export const ICMP6_CODES: ReadonlyMap<number, ReadonlyMap<string, number>> = new Map([
  [1, new Map([
    ['no_route', 0], ['net_unreachable', 0], ['admin_prohibited', 1], ['beyond_scope', 2], ['not_neighbour', 2],
    ['address_unreachable', 3], ['host_unreachable', 3], ['port_unreachable', 4], ['source_policy_failed', 5],
    ['reject_route', 6],
  ])],
  [3, new Map([['hop_limit_exceeded', 0], ['ttl_exceeded_in_transit', 0], ['fragment_reassembly_time_exceeded', 1], ['frag_reass_exceeded', 1]])],
  [4, new Map([['header_field', 0], ['unknown_header', 1], ['unknown_option', 2]])],
]);

/**
 * The ICMPv6 type and code an ICMP line means in an IPv6 script, from its
 * names (`code` null: no code written, 0). Null when the names have no
 * ICMPv6 meaning.
 */
export function icmp6ByName(typeName: string, codeName: string | null): { type: number; code: number } | null {
  const type = ICMP6_TYPES.get(typeName);
  if (type === undefined) return null;
  if (codeName === null) return { type, code: 0 };
  const m = /^code_(\d{1,3})$/.exec(codeName);
  if (m) {
    const n = Number(m[1]);
    return n <= 255 ? { type, code: n } : null;
  }
  const code = ICMP6_CODES.get(type)?.get(codeName);
  return code === undefined ? null : { type, code };
}

/** ICMPv6 names for messages. */
export function icmp6TypeName(type: number): string {
  for (const [name, t] of ICMP6_TYPES) if (t === type) return name;
  return `type_${type}`;
}

export function icmp6CodeName(type: number, code: number): string {
  const codes = ICMP6_CODES.get(type);
  if (codes) for (const [name, c] of codes) if (c === code) return name;
  return `code_${code}`;
}
