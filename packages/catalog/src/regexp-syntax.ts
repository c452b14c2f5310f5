/** Why a pattern cannot be run by the linear-time engine (it is then refused, never backtracked). */
export class UnsupportedPattern extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'UnsupportedPattern';
  }
}

/** Groups nested deeper than this are refused: the parser and compiler recurse once per level. */
const MAX_GROUP_DEPTH = 50;
/** Character predicates kept across patterns (`[a-z]`, `\d`, … recur across schemas). */
const MAX_CACHED_PREDICATES = 10_000;
/** Non-ASCII answers remembered per predicate. */
const MAX_CACHED_CODE_POINTS = 4_096;

export const ASSERT_START = 0;
export const ASSERT_END = 1;
export const ASSERT_WORD = 2;
export const ASSERT_NOT_WORD = 3;

/** A parsed pattern: `char` atoms consume one code point (or code unit without `u`). */
export type Ast =
  | { t: 'char'; pred: Predicate }
  | { t: 'seq'; items: Ast[] }
  | { t: 'alt'; alts: Ast[] }
  | { t: 'rep'; body: Ast; min: number; max: number }
  | { t: 'assert'; kind: number }
  | { t: 'look'; behind: boolean; negate: boolean; body: Ast };

export type Predicate = (cp: number) => boolean;

const predicates = new Map<string, Predicate>();

/**
 * Whether one code point matches a single-character atom (`a`, `.`, `\d`, `[^a-z]`, `\p{L}`): asked of the
 * JavaScript engine itself, so every class, escape and flag means exactly what it means to RegExp. A one-character
 * test cannot backtrack.
 */
export function predicate(atom: string, flags: string): Predicate {
  const key = `${flags}/${atom}`;
  let pred = predicates.get(key);
  if (pred !== undefined) return pred;
  const re = new RegExp(`^(?:${atom})$`, flags);
  const ascii = new Int8Array(128);
  const others = new Map<number, boolean>();
  pred = (cp) => {
    if (cp < 128) {
      let known = ascii[cp] ?? 0;
      if (known === 0) {
        known = re.test(String.fromCharCode(cp)) ? 1 : -1;
        ascii[cp] = known;
      }
      return known === 1;
    }
    let known = others.get(cp);
    if (known === undefined) {
      known = re.test(String.fromCodePoint(cp));
      if (others.size < MAX_CACHED_CODE_POINTS) others.set(cp, known);
    }
    return known;
  };
  if (predicates.size >= MAX_CACHED_PREDICATES) predicates.clear();
  predicates.set(key, pred);
  return pred;
}

function literal(cp: number): Predicate {
  return (c) => c === cp;
}

const LOOKAROUNDS = [['(?=', false, false], ['(?!', false, true], ['(?<=', true, false], ['(?<!', true, true]] as const;
const COUNTED = /\{(\d+)(,(\d*))?\}/y;

/**
 * Recursive-descent parser for pattern syntax that RegExp has already accepted. Schema patterns are `u`-mode;
 * non-`u` mode is for the gateway's own format expressions and leaves out Annex B's odder corners.
 */
class Parser {
  private i = 0;
  private depth = 0;
  private readonly unicode: boolean;

  constructor(
    private readonly src: string,
    private readonly flags: string,
  ) {
    this.unicode = flags.includes('u');
  }

  parse(): Ast {
    const ast = this.disjunction();
    if (this.i < this.src.length) throw new UnsupportedPattern(`unexpected "${this.src[this.i] ?? ''}" at ${this.i}`);
    return ast;
  }

  private disjunction(): Ast {
    const alts = [this.alternative()];
    while (this.src[this.i] === '|') {
      this.i += 1;
      alts.push(this.alternative());
    }
    return alts.length === 1 ? (alts[0] as Ast) : { t: 'alt', alts };
  }

  private alternative(): Ast {
    const items: Ast[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') items.push(this.term());
    return items.length === 1 ? (items[0] as Ast) : { t: 'seq', items };
  }

  private term(): Ast {
    const { src, i } = this;
    if (src[i] === '^' || src[i] === '$') {
      this.i += 1;
      return { t: 'assert', kind: src[i] === '^' ? ASSERT_START : ASSERT_END };
    }
    if (src.startsWith('\\b', i) || src.startsWith('\\B', i)) {
      this.i += 2;
      return { t: 'assert', kind: src[i + 1] === 'b' ? ASSERT_WORD : ASSERT_NOT_WORD };
    }
    // In u-mode lookarounds take no quantifier.
    for (const [open, behind, negate] of LOOKAROUNDS) {
      if (src.startsWith(open, i)) {
        this.i += open.length;
        const body = this.group();
        if (/^[*+?]|^\{\d+(,\d*)?\}/.test(src.slice(this.i, this.i + 24))) throw new UnsupportedPattern('quantified lookarounds are not supported');
        return { t: 'look', behind, negate, body };
      }
    }
    return this.quantified(this.atom());
  }

  /** The rest of a group whose opening has been read, through its `)`. */
  private group(): Ast {
    this.depth += 1;
    if (this.depth > MAX_GROUP_DEPTH) throw new UnsupportedPattern(`groups nest deeper than ${MAX_GROUP_DEPTH} levels`);
    const body = this.disjunction();
    if (this.src[this.i] !== ')') throw new UnsupportedPattern(`unclosed group at ${this.i}`);
    this.i += 1;
    this.depth -= 1;
    return body;
  }

  private atom(): Ast {
    const { src, i } = this;
    const c = src[i];
    if (c === '(') {
      if (src.startsWith('(?:', i)) this.i += 3;
      else if (src.startsWith('(?<', i)) {
        const close = src.indexOf('>', i);
        if (close < 0) throw new UnsupportedPattern(`unclosed group name at ${i}`);
        this.i = close + 1;
      } else if (src.startsWith('(?', i)) throw new UnsupportedPattern(`group syntax "${src.slice(i, i + 3)}" is not supported`);
      else this.i += 1;
      return this.group();
    }
    if (c === '[') return this.char(this.classEnd(i));
    if (c === '\\') return this.char(this.escapeEnd(i));
    if (c === '.') return this.char(i + 1);
    const cp = this.unicode ? (src.codePointAt(i) as number) : src.charCodeAt(i);
    const end = i + (cp > 0xffff ? 2 : 1);
    if (this.flags.includes('i')) return this.char(end);
    this.i = end;
    return { t: 'char', pred: literal(cp) };
  }

  private char(end: number): Ast {
    const atom = this.src.slice(this.i, end);
    this.i = end;
    return { t: 'char', pred: predicate(atom, this.flags) };
  }

  /** End (exclusive) of the class starting at `start`; u-mode classes do not nest. */
  private classEnd(start: number): number {
    let j = start + 1;
    if (this.src[j] === '^') j += 1;
    while (j < this.src.length && this.src[j] !== ']') j += this.src[j] === '\\' ? 2 : 1;
    if (j >= this.src.length) throw new UnsupportedPattern(`unclosed class at ${start}`);
    return j + 1;
  }

  /** End (exclusive) of the escape starting at `start` (`\b`, `\B` are handled as assertions). */
  private escapeEnd(start: number): number {
    const { src } = this;
    const e = src[start + 1] ?? '';
    if (/[1-9]/.test(e) || e === 'k') throw new UnsupportedPattern('backreferences are not supported');
    if (!this.unicode && (/^0\d/.test(src.slice(start + 1, start + 3)) || (e === 'c' && !/[a-zA-Z]/.test(src[start + 2] ?? '')))) {
      throw new UnsupportedPattern('legacy octal and control escapes are not supported');
    }
    if (!this.unicode && ((e === 'u' && !/^[0-9a-fA-F]{4}$/.test(src.slice(start + 2, start + 6))) || (e === 'x' && !/^[0-9a-fA-F]{2}$/.test(src.slice(start + 2, start + 4))))) {
      return start + 2; // Annex B: an identity escape of the letter
    }
    if (this.unicode && (e === 'p' || e === 'P' || (e === 'u' && src[start + 2] === '{'))) {
      const close = src.indexOf('}', start);
      if (close < 0) throw new UnsupportedPattern(`unclosed escape at ${start}`);
      return close + 1;
    }
    if (e === 'u') {
      // A \uLEAD\uTRAIL pair is one code point in u-mode.
      const lead = parseInt(src.slice(start + 2, start + 6), 16);
      const pair = this.unicode && /^\\u[dD][c-fC-F][0-9a-fA-F]{2}/.test(src.slice(start + 6, start + 12));
      return start + (lead >= 0xd800 && lead <= 0xdbff && pair ? 12 : 6);
    }
    if (e === 'x') return start + 4;
    if (e === 'c') return start + 3;
    return start + 2;
  }

  private quantified(atom: Ast): Ast {
    const { src, i } = this;
    let min: number;
    let max: number;
    const q = src[i];
    if (q === '*' || q === '+' || q === '?') {
      [min, max] = q === '*' ? [0, Infinity] : q === '+' ? [1, Infinity] : [0, 1];
      this.i += 1;
    } else if (q === '{') {
      COUNTED.lastIndex = i;
      const m = COUNTED.exec(src);
      if (m === null) return atom;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      this.i += m[0].length;
    } else return atom;
    if (src[this.i] === '?') this.i += 1; // laziness changes which match is found, not whether one is
    return { t: 'rep', body: atom, min, max };
  }
}

/** Parses a pattern that `new RegExp(source, flags)` accepted. */
export function parsePattern(source: string, flags: string): Ast {
  return new Parser(source, flags).parse();
}

/** The same pattern read right to left, for matching a lookbehind backwards. */
export function reversed(ast: Ast): Ast {
  switch (ast.t) {
    case 'seq':
      return { t: 'seq', items: ast.items.map(reversed).reverse() };
    case 'alt':
      return { t: 'alt', alts: ast.alts.map(reversed) };
    case 'rep':
      return { ...ast, body: reversed(ast.body) };
    default:
      return ast;
  }
}

/** Whether every match must start at index 0 (so a search need not restart at later positions). */
export function startsAnchored(ast: Ast): boolean {
  if (ast.t === 'assert') return ast.kind === ASSERT_START;
  if (ast.t === 'seq') return ast.items[0] !== undefined && startsAnchored(ast.items[0]);
  if (ast.t === 'alt') return ast.alts.every(startsAnchored);
  return false;
}
