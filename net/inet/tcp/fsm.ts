/*
 * TCP connection states (RFC 9293 §3.3.2; BSD netinet/tcp_fsm.h).
 *
 * The numbers are BSD's and are ordered, so `state >= TCPS_ESTABLISHED`
 * reads like TCPS_HAVEESTABLISHED and `state >= TCPS_SYN_RECEIVED` like
 * TCPS_HAVERCVDSYN. TCP_INFO's tcpi_state reports these numbers, as
 * FreeBSD's does.
 */
import { TH_ACK, TH_FIN, TH_RST, TH_SYN } from '../../wire/tcp.js';

export const TCPS_CLOSED = 0;
export const TCPS_LISTEN = 1;
export const TCPS_SYN_SENT = 2;
export const TCPS_SYN_RECEIVED = 3;
export const TCPS_ESTABLISHED = 4;
export const TCPS_CLOSE_WAIT = 5;
export const TCPS_FIN_WAIT_1 = 6;
export const TCPS_CLOSING = 7;
export const TCPS_LAST_ACK = 8;
export const TCPS_FIN_WAIT_2 = 9;
export const TCPS_TIME_WAIT = 10;
export const TCP_NSTATES = 11;

/** BSD's tcpstates[]: what netstat, sockstat and pcblist print. */
export const TCP_STATE_NAMES: readonly string[] = [
  'CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RCVD', 'ESTABLISHED', 'CLOSE_WAIT',
  'FIN_WAIT_1', 'CLOSING', 'LAST_ACK', 'FIN_WAIT_2', 'TIME_WAIT',
];

/** The state's name, "CLOSED" for anything out of range. */
export function tcpStateName(state: number): string {
  return TCP_STATE_NAMES[state] ?? 'CLOSED';
}

/** TCPS_HAVERCVDSYN: a SYN has been received (synchronized or about to be). */
export function tcpsHaveRcvdSyn(state: number): boolean {
  return state >= TCPS_SYN_RECEIVED;
}

/**
 * TCPS_HAVERCVDFIN: the peer's FIN was received (no more data will come).
 * States where it holds: CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT.
 */
export function tcpsHaveRcvdFin(state: number): boolean {
  return state === TCPS_CLOSE_WAIT || state === TCPS_CLOSING || state === TCPS_LAST_ACK || state === TCPS_TIME_WAIT;
}

/**
 * tcp_outflags[]: the flags a segment sent in each state carries (BSD).
 * Output derives what to send from the state, so input, timers and user
 * requests just change state and call tcpOutput.
 */
export const TCP_OUTFLAGS: readonly number[] = [
  TH_RST | TH_ACK, // CLOSED
  0, // LISTEN
  TH_SYN, // SYN_SENT
  TH_SYN | TH_ACK, // SYN_RECEIVED
  TH_ACK, // ESTABLISHED
  TH_ACK, // CLOSE_WAIT
  TH_FIN | TH_ACK, // FIN_WAIT_1
  TH_FIN | TH_ACK, // CLOSING
  TH_FIN | TH_ACK, // LAST_ACK
  TH_ACK, // FIN_WAIT_2
  TH_ACK, // TIME_WAIT
];
