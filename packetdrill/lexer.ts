/*
 * The packetdrill script scanner: text → tokens.
 *
 * What it does besides cutting words:
 *   - drops `//` and `/* … *\/` comments;
 *   - takes `` `…` `` (shell commands), `%{ … }%` (code snippets) and `"…"`
 *     (strings) whole;
 *   - `--name` / `--name=value` at the start of a line is an option;
 *   - `#ifdef NAME`, `#ifndef NAME`, `#else`, `#endif` at the start of a line
 *     keep or drop the lines between them, one level deep (the nplab
 *     extension the FreeBSD suite uses); NAME is defined when `--define`
 *     gave it or it is the OS name of the profile (`FreeBSD`);
 *   - a word that `--define NAME=VALUE` named is replaced by VALUE's tokens.
 *
 * The parser, not the scanner, decides what a word means: packet flags
 * (`S.` is the word S then `.`), option names and symbolic constants are all
 * words. Every token keeps its offsets so the parser can tell `S.` from
 * `S .` and quote the source of an event in messages.
 */
import { ScriptSyntaxError } from './ast.js';

export type TokenKind = 'num' | 'word' | 'string' | 'command' | 'code' | 'option' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /**
   * num: the digits as written (`0.10`, `0x02`); word: the word; string,
   * command, code: the content between the delimiters (code trimmed of
   * spaces and tabs at both ends, as packetdrill does); option: the name
   * without `--`; punct: the character, or `...`.
   */
  text: string;
  /** option: what followed `=` (null for a bare `--name`). */
  value: string | null;
  /** Offsets into the source: [pos, end). */
  pos: number;
  end: number;
  line: number;
  col: number;
}

export interface LexOptions {
  /** `--define NAME=VALUE`: words to replace, and names `#ifdef` sees as defined. */
  defines?: ReadonlyMap<string, string>;
  /** Names `#ifdef` sees as defined besides the defines (the profile's OS name). */
  symbols?: ReadonlySet<string>;
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isHex = (c: string): boolean => isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
const isWordStart = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
const isWordChar = (c: string): boolean => isWordStart(c) || isDigit(c);

/** Scan a whole script. Throws ScriptSyntaxError for what cannot be scanned. */
export function tokenize(src: string, path: string, opts: LexOptions = {}): Token[] {
  return new Lexer(src, path, opts).run();
}

class Lexer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private readonly out: Token[] = [];
  /** Inside #ifdef: the directive's line, and whether its branch is being kept. */
  private cond: { line: number; keep: boolean; sawElse: boolean } | null = null;

  constructor(
    private readonly src: string,
    private readonly path: string,
    private readonly opts: LexOptions,
  ) {}

  private fail(reason: string, pos = this.pos): never {
    // Line and column of `pos`, counted from the start (errors are rare).
    let line = 1;
    let ls = 0;
    for (let i = 0; i < pos && i < this.src.length; i++) {
      if (this.src[i] === '\n') {
        line++;
        ls = i + 1;
      }
    }
    throw new ScriptSyntaxError(this.path, line, pos - ls + 1, reason);
  }

  private advanceTo(p: number): void {
    for (let i = this.pos; i < p; i++) {
      if (this.src[i] === '\n') {
        this.line++;
        this.lineStart = i + 1;
      }
    }
    this.pos = p;
  }

  /** Only blanks between the start of this line and `pos`. */
  private atLineStart(): boolean {
    for (let i = this.lineStart; i < this.pos; i++) {
      const c = this.src[i];
      if (c !== ' ' && c !== '\t' && c !== '\r') return false;
    }
    return true;
  }

  /** Emit the token at [start, end) and move past it. */
  private push(kind: TokenKind, text: string, start: number, end: number, value: string | null = null): void {
    const line = this.line;
    const col = start - this.lineStart + 1;
    this.advanceTo(end);
    if (kind === 'word' && this.opts.defines?.has(text)) {
      this.pushDefine(text, start, line, col);
      return;
    }
    this.out.push({ kind, text, value, pos: start, end: this.pos, line, col });
  }

  /** A defined word: its value's tokens, all placed where the word was. */
  private pushDefine(name: string, start: number, line: number, col: number): void {
    const value = this.opts.defines!.get(name)!;
    const inner = new Lexer(value, this.path, { symbols: this.opts.symbols });
    for (const t of inner.run()) {
      if (t.kind === 'eof') break;
      this.out.push({ ...t, pos: start, end: this.pos, line, col });
    }
  }

  run(): Token[] {
    const src = this.src;
    const n = src.length;
    while (this.pos < n) {
      const c = src[this.pos]!;
      if (c === '\n' || c === ' ' || c === '\t' || c === '\r' || c === '\f') {
        this.advanceTo(this.pos + 1);
        continue;
      }
      if (c === '#' && this.atLineStart()) {
        this.directive();
        continue;
      }
      if (this.cond && !this.cond.keep) {
        this.skipLine();
        continue;
      }
      if (c === '/' && src[this.pos + 1] === '/') {
        this.skipLine();
        continue;
      }
      if (c === '/' && src[this.pos + 1] === '*') {
        const close = src.indexOf('*/', this.pos + 2);
        if (close < 0) this.fail('unterminated /* comment');
        this.advanceTo(close + 2);
        continue;
      }
      const start = this.pos;
      if (c === '%' && src[this.pos + 1] === '{') {
        const close = src.indexOf('}%', this.pos + 2);
        if (close < 0) this.fail('unterminated %{ code snippet (no }%)');
        const body = src.slice(this.pos + 2, close).replace(/^[ \t]+|[ \t]+$/g, '');
        this.push('code', body, start, close + 2);
        continue;
      }
      if (c === '`' || c === '"') {
        const end = this.quoted(c);
        this.push(c === '`' ? 'command' : 'string', unescape(src.slice(start + 1, end - 1)), start, end);
        continue;
      }
      if (c === '-' && src[this.pos + 1] === '-' && isWordStart(src[this.pos + 2] ?? '') && this.atLineStart()) {
        let p = this.pos + 2;
        while (p < n && isWordChar(src[p]!)) p++;
        const name = src.slice(this.pos + 2, p);
        let value: string | null = null;
        // `--name=value`; `--define NAME=VALUE` may also be written with a space.
        let from = -1;
        if (src[p] === '=') from = p + 1;
        else if (name === 'define' && (src[p] === ' ' || src[p] === '\t')) {
          from = p;
          while (src[from] === ' ' || src[from] === '\t') from++;
        }
        if (from >= 0) {
          let q = from;
          while (q < n && !/\s/.test(src[q]!)) q++;
          value = src.slice(from, q);
          p = q;
        }
        this.push('option', name, start, p, value);
        continue;
      }
      if (c === '.' && src[this.pos + 1] === '.' && src[this.pos + 2] === '.') {
        this.push('punct', '...', start, start + 3);
        continue;
      }
      if (isDigit(c) || (c === '.' && isDigit(src[this.pos + 1] ?? ''))) {
        const end = this.number();
        this.push('num', src.slice(start, end), start, end);
        continue;
      }
      if (isWordStart(c)) {
        let p = this.pos + 1;
        while (p < n && isWordChar(src[p]!)) p++;
        this.push('word', src.slice(start, p), start, p);
        continue;
      }
      this.push('punct', c, start, start + 1);
    }
    if (this.cond) this.fail(`#ifdef at line ${this.cond.line} has no #endif`);
    this.out.push({ kind: 'eof', text: '', value: null, pos: n, end: n, line: this.line, col: n - this.lineStart + 1 });
    return this.out;
  }

  private skipLine(): void {
    const nl = this.src.indexOf('\n', this.pos);
    this.advanceTo(nl < 0 ? this.src.length : nl);
  }

  /** End offset of a quoted token starting at pos with `q`, backslash escapes allowed. */
  private quoted(q: string): number {
    const src = this.src;
    for (let p = this.pos + 1; p < src.length; p++) {
      const ch = src[p];
      if (ch === '\\') {
        p++;
        continue;
      }
      if (ch === q) return p + 1;
    }
    this.fail(q === '`' ? 'unterminated ` command' : 'unterminated " string');
  }

  /** `0x1f`, `12`, `1.5`, `.5` (packetdrill's INTEGER, HEX_INTEGER and FLOAT). */
  private number(): number {
    const src = this.src;
    let p = this.pos;
    if (src[p] === '0' && (src[p + 1] === 'x' || src[p + 1] === 'X') && isHex(src[p + 2] ?? '')) {
      p += 2;
      while (p < src.length && isHex(src[p]!)) p++;
      return p;
    }
    while (p < src.length && isDigit(src[p]!)) p++;
    // A fraction only when a digit follows the dot: `0...0.1` is 0, `...`, 0.1.
    if (src[p] === '.' && isDigit(src[p + 1] ?? '')) {
      p++;
      while (p < src.length && isDigit(src[p]!)) p++;
    }
    return p;
  }

  /** `#ifdef NAME`, `#ifndef NAME`, `#else`, `#endif` (one level). */
  private directive(): void {
    const start = this.pos;
    const nl = this.src.indexOf('\n', this.pos);
    const text = this.src.slice(this.pos, nl < 0 ? this.src.length : nl).replace(/\/\/.*$/, '').trim();
    const m = /^#\s*(ifdef|ifndef|else|endif)\b\s*([A-Za-z_][A-Za-z0-9_]*)?\s*$/.exec(text);
    if (!m) this.fail(`unknown preprocessor line '${text}' (the runner knows #ifdef, #ifndef, #else, #endif)`, start);
    const [, what, name] = m;
    if (what === 'ifdef' || what === 'ifndef') {
      if (!name) this.fail(`#${what} needs a name`, start);
      if (this.cond) this.fail(`#${what} inside the #ifdef of line ${this.cond.line}: only one level of #ifdef is supported`, start);
      const defined = (this.opts.defines?.has(name) ?? false) || (this.opts.symbols?.has(name) ?? false);
      this.cond = { line: this.line, keep: what === 'ifdef' ? defined : !defined, sawElse: false };
    } else if (what === 'else') {
      if (name) this.fail('#else takes no name', start);
      if (!this.cond) this.fail('#else without #ifdef', start);
      if (this.cond.sawElse) this.fail(`second #else for the #ifdef of line ${this.cond.line}`, start);
      this.cond.keep = !this.cond.keep;
      this.cond.sawElse = true;
    } else {
      if (name) this.fail('#endif takes no name', start);
      if (!this.cond) this.fail('#endif without #ifdef', start);
      this.cond = null;
    }
    this.skipLine();
  }
}

/** C-style escapes in strings and commands: \n \t \\ \" \` and \xNN. */
function unescape(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\(x[0-9a-fA-F]{2}|.)/gs, (_m, e: string) => {
    if (e.length === 3) return String.fromCharCode(parseInt(e.slice(1), 16));
    switch (e) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case '0':
        return '\0';
      default:
        return e;
    }
  });
}
