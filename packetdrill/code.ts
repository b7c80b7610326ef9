/*
 * `%{ … }%` snippets: packetdrill hands them to Python with the socket's
 * TCP_INFO as `tcpi_*` variables, snapshotted when the event ran. The
 * runner has no Python; it evaluates the part scripts use for assertions:
 *
 *   assert EXPR [, "message"]        (one statement per line or per ;)
 *   EXPR: or, and, not, comparisons (chained, as Python chains them),
 *         | ^ & << >> + - * / // % and unary - + ~, parentheses,
 *         integers (decimal, 0x, 0o, 0b), True/False, names
 *
 * with Python's precedence. Names are the snapshot's tcpi_* fields and the
 * TCPI_* constants (FreeBSD's state numbers and TCPI_OPT_* bits). Anything
 * else (assignments, calls, print, strings in expressions) is reported as
 * not interpreted, never ignored.
 */
import { ScriptFailure, Unsupported } from './failure.js';

/** FreeBSD netinet/tcp_fsm.h states, as tcpi_state reports them. */
export const TCPI_STATES: readonly string[] = [
  'TCPI_CLOSED', 'TCPI_LISTEN', 'TCPI_SYN_SENT', 'TCPI_SYN_RECEIVED', 'TCPI_ESTABLISHED', 'TCPI_CLOSE_WAIT',
  'TCPI_FIN_WAIT_1', 'TCPI_CLOSING', 'TCPI_LAST_ACK', 'TCPI_FIN_WAIT_2', 'TCPI_TIME_WAIT',
];

/** FreeBSD netinet/tcp.h tcpi_options bits. */
export const TCPI_OPTIONS: ReadonlyMap<string, number> = new Map([
  ['TCPI_OPT_TIMESTAMPS', 0x01],
  ['TCPI_OPT_SACK', 0x02],
  ['TCPI_OPT_WSCALE', 0x04],
  ['TCPI_OPT_ECN', 0x08],
  ['TCPI_OPT_TOE', 0x10],
  ['TCPI_OPT_TFO', 0x20],
  ['TCPI_OPT_ACE', 0x40],
]);

/** The constants every snippet can name. */
export function codeConstants(): Map<string, number> {
  const m = new Map<string, number>();
  TCPI_STATES.forEach((n, i) => m.set(n, i));
  for (const [n, v] of TCPI_OPTIONS) m.set(n, v);
  m.set('True', 1);
  m.set('False', 0);
  return m;
}

type Tok = { k: 'num'; v: number } | { k: 'name'; v: string } | { k: 'op'; v: string } | { k: 'str'; v: string };

const OPS = ['//', '**', '<<', '>>', '<=', '>=', '==', '!=', '<', '>', '+', '-', '*', '/', '%', '&', '|', '^', '~', '(', ')', ','];

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    const num = /^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|\d+)/.exec(src.slice(i));
    if (num) {
      const t = num[1]!;
      const v = /^0[oO]/.test(t) ? parseInt(t.slice(2), 8) : /^0[bB]/.test(t) ? parseInt(t.slice(2), 2) : Number(t);
      out.push({ k: 'num', v });
      i += t.length;
      if (/[.eEjJ]/.test(src[i] ?? '')) throw new Unsupported(`number ${t}${src[i]}… in a code snippet: the runner evaluates integers only`);
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (name) {
      out.push({ k: 'name', v: name[0] });
      i += name[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      const close = src.indexOf(c, i + 1);
      if (close < 0) throw new ScriptFailure('unterminated string in a code snippet');
      out.push({ k: 'str', v: src.slice(i + 1, close) });
      i = close + 1;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new Unsupported(`'${c}' in a code snippet: not interpreted by the runner`);
    out.push({ k: 'op', v: op });
    i += op.length;
  }
  return out;
}

class Expr {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly vars: ReadonlyMap<string, number>,
    private readonly stmt: string,
  ) {}

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }

  private isOp(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.k === 'op' && t.v === v;
  }

  private isName(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.k === 'name' && t.v === v;
  }

  done(): boolean {
    return this.i >= this.toks.length;
  }

  /** Python's `or`: the first true operand or the last. */
  or(): number {
    let v = this.and();
    while (this.isName('or')) {
      this.i++;
      const r = this.and();
      v = v ? v : r;
    }
    return v;
  }

  private and(): number {
    let v = this.not();
    while (this.isName('and')) {
      this.i++;
      const r = this.not();
      v = v ? r : v;
    }
    return v;
  }

  private not(): number {
    if (this.isName('not')) {
      this.i++;
      return this.not() ? 0 : 1;
    }
    return this.comparison();
  }

  /** Chained as in Python: a < b < c is a < b and b < c. */
  private comparison(): number {
    let left = this.bitor();
    let result = 1;
    let chained = false;
    for (;;) {
      const t = this.peek();
      let op: string | null = null;
      if (t?.k === 'op' && ['<', '>', '<=', '>=', '==', '!='].includes(t.v)) op = t.v;
      else if (this.isName('is') || this.isName('in')) throw new Unsupported(`'${(t as { v: string }).v}' in a code snippet: not interpreted by the runner`);
      if (op === null) return chained ? result : left;
      this.i++;
      const right = this.bitor();
      const ok =
        op === '<' ? left < right : op === '>' ? left > right : op === '<=' ? left <= right
          : op === '>=' ? left >= right : op === '==' ? left === right : left !== right;
      if (!ok) result = 0;
      chained = true;
      left = right;
    }
  }

  private bitor(): number {
    let v = this.bitxor();
    while (this.isOp('|')) {
      this.i++;
      v = Number(BigInt(v) | BigInt(this.bitxor()));
    }
    return v;
  }

  private bitxor(): number {
    let v = this.bitand();
    while (this.isOp('^')) {
      this.i++;
      v = Number(BigInt(v) ^ BigInt(this.bitand()));
    }
    return v;
  }

  private bitand(): number {
    let v = this.shift();
    while (this.isOp('&')) {
      this.i++;
      v = Number(BigInt(v) & BigInt(this.shift()));
    }
    return v;
  }

  private shift(): number {
    let v = this.sum();
    for (;;) {
      if (this.isOp('<<')) {
        this.i++;
        v = Number(BigInt(v) << BigInt(this.sum()));
      } else if (this.isOp('>>')) {
        this.i++;
        v = Number(BigInt(v) >> BigInt(this.sum()));
      } else return v;
    }
  }

  private sum(): number {
    let v = this.term();
    for (;;) {
      if (this.isOp('+')) {
        this.i++;
        v += this.term();
      } else if (this.isOp('-')) {
        this.i++;
        v -= this.term();
      } else return v;
    }
  }

  private term(): number {
    let v = this.unary();
    for (;;) {
      const t = this.peek();
      if (t?.k !== 'op' || !['*', '/', '//', '%'].includes(t.v)) return v;
      this.i++;
      const r = this.unary();
      if ((t.v === '/' || t.v === '//' || t.v === '%') && r === 0) throw new ScriptFailure(`division by zero in '${this.stmt}'`);
      if (t.v === '*') v *= r;
      else if (t.v === '/') v /= r;
      else if (t.v === '//') v = Math.floor(v / r);
      else v -= Math.floor(v / r) * r;
    }
  }

  private unary(): number {
    if (this.isOp('-')) {
      this.i++;
      return -this.unary();
    }
    if (this.isOp('+')) {
      this.i++;
      return this.unary();
    }
    if (this.isOp('~')) {
      this.i++;
      return -this.unary() - 1;
    }
    return this.atom();
  }

  private atom(): number {
    const t = this.peek();
    if (t === undefined) throw new ScriptFailure(`incomplete expression in '${this.stmt}'`);
    this.i++;
    if (t.k === 'num') return t.v;
    if (t.k === 'name') {
      if (this.isOp('(')) throw new Unsupported(`call ${t.v}(…) in a code snippet: not interpreted by the runner`);
      const v = this.vars.get(t.v);
      if (v === undefined) {
        throw new ScriptFailure(
          `'${t.v}' in '${this.stmt}' is not defined${t.v.startsWith('tcpi_') ? ' (the kernel\'s TCP_INFO has no such field)' : ''}`,
        );
      }
      return v;
    }
    if (t.k === 'op' && t.v === '(') {
      const v = this.or();
      if (!this.isOp(')')) throw new ScriptFailure(`missing ) in '${this.stmt}'`);
      this.i++;
      return v;
    }
    if (t.k === 'str') throw new Unsupported(`string "${t.v}" in an expression of a code snippet: not interpreted by the runner`);
    throw new ScriptFailure(`unexpected '${t.v}' in '${this.stmt}'`);
  }
}

/** Names a statement's expression mentions that start with `tcpi_`, with their values, for messages. */
function mentioned(stmt: string, vars: ReadonlyMap<string, number>): string {
  const names = [...new Set(stmt.match(/\btcpi_[A-Za-z0-9_]+\b/g) ?? [])];
  return names
    .map((n) => {
      const v = vars.get(n);
      if (n === 'tcpi_state' && v !== undefined) return `${n} = ${v} (${TCPI_STATES[v] ?? 'unknown'})`;
      return `${n} = ${v === undefined ? 'undefined' : v}`;
    })
    .join(', ');
}

/**
 * Run a snippet's statements against `vars`. Throws ScriptFailure naming
 * the failed assertion and the values it read; Unsupported for anything
 * the runner does not evaluate.
 */
export function runCode(code: string, vars: ReadonlyMap<string, number>): void {
  for (const raw of code.split(/\n|;/)) {
    const stmt = raw.replace(/#.*$/, '').trim();
    if (stmt === '' || stmt === 'pass') continue;
    const m = /^assert\b(.*)$/.exec(stmt);
    if (!m) throw new Unsupported(`code snippet statement '${stmt}': the runner evaluates only assert statements`);
    const toks = lex(m[1]!);
    const comma = toks.findIndex((t) => t.k === 'op' && t.v === ',');
    const exprToks = comma >= 0 ? toks.slice(0, comma) : toks;
    const message = comma >= 0 ? toks.slice(comma + 1).map((t) => String(t.v)).join(' ') : null;
    const e = new Expr(exprToks, vars, stmt);
    const v = e.or();
    if (!e.done()) throw new ScriptFailure(`cannot read '${stmt}' to its end`);
    if (!v) {
      const exprText = (comma >= 0 ? m[1]!.slice(0, m[1]!.indexOf(',')) : m[1]!).trim();
      const values = mentioned(exprText, vars);
      throw new ScriptFailure(`assertion failed: ${exprText}${message ? ` (${message})` : ''}`, values ? [`  with ${values}`] : []);
    }
  }
}
