import type { WorkBudget } from './work-budget.js';
import { ASSERT_END, ASSERT_START, ASSERT_WORD, parsePattern, predicate, reversed, startsAnchored, UnsupportedPattern, type Ast, type Predicate } from './regexp-syntax.js';

export { UnsupportedPattern } from './regexp-syntax.js';

/** A regular expression run without backtracking: each test costs at most (input length × states). */
export interface LinearRegExp {
  readonly source: string;
  readonly flags: string;
  /** Size of the compiled program (lookaround bodies included). */
  readonly states: number;
  /** Whether the pattern matches somewhere in `input` (RegExp.prototype.test), charging `budget`. */
  test(input: string, budget: WorkBudget): boolean;
}

const CHAR = 0;
const SPLIT = 1;
const ASSERT = 2;
const LOOK = 3;
const MATCH = 4;

interface Look {
  program: Program;
  behind: boolean;
  negate: boolean;
}

/** A Thompson NFA: CHAR consumes one code point, SPLIT forks, ASSERT/LOOK test the position, MATCH accepts. */
interface Program {
  kind: Uint8Array;
  out1: Int32Array;
  out2: Int32Array;
  arg: Int32Array;
  start: number;
  preds: Predicate[];
  looks: Look[];
  /** Whether every match must start at index 0 (so a search need not restart at later positions). */
  anchored: boolean;
}

class Builder {
  readonly kind: number[] = [];
  readonly out1: number[] = [];
  readonly out2: number[] = [];
  readonly arg: number[] = [];
  readonly preds: Predicate[] = [];
  readonly looks: Look[] = [];

  constructor(private readonly budget: Size) {}

  add(kind: number, out1: number, out2: number, arg: number): number {
    this.budget.states += 1;
    if (this.budget.states > this.budget.max) throw new UnsupportedPattern(`the pattern expands to more than ${this.budget.max} states`);
    this.kind.push(kind);
    this.out1.push(out1);
    this.out2.push(out2);
    this.arg.push(arg);
    return this.kind.length - 1;
  }

  /** Emits `ast` so that it continues at `next`; returns its entry state. */
  emit(ast: Ast, next: number): number {
    // Counted so that repeating empty groups (`((?:){9999}){9999}`) cannot spin without adding states.
    this.budget.emits += 1;
    if (this.budget.emits > 4 * this.budget.max) throw new UnsupportedPattern(`the pattern expands to more than ${this.budget.max} states`);
    switch (ast.t) {
      case 'char':
        this.preds.push(ast.pred);
        return this.add(CHAR, next, -1, this.preds.length - 1);
      case 'seq':
        for (let k = ast.items.length - 1; k >= 0; k--) next = this.emit(ast.items[k] as Ast, next);
        return next;
      case 'alt': {
        const entries = ast.alts.map((alt) => this.emit(alt, next));
        let entry = entries[entries.length - 1] as number;
        for (let k = entries.length - 2; k >= 0; k--) entry = this.add(SPLIT, entries[k] as number, entry, 0);
        return entry;
      }
      case 'assert':
        return this.add(ASSERT, next, -1, ast.kind);
      case 'look':
        this.looks.push({ program: build(ast.behind ? reversed(ast.body) : ast.body, this.budget), behind: ast.behind, negate: ast.negate });
        return this.add(LOOK, next, -1, this.looks.length - 1);
      case 'rep':
        return this.repeat(ast, next);
    }
  }

  /** `x{min,max}` as min copies of x then either a loop or (max - min) nested optional copies. */
  private repeat(ast: Extract<Ast, { t: 'rep' }>, next: number): number {
    const { body, min, max } = ast;
    if (min > this.budget.max || (max !== Infinity && max > this.budget.max)) throw new UnsupportedPattern(`the pattern expands to more than ${this.budget.max} states`);
    let entry = next;
    if (max === Infinity) {
      const loop = this.add(SPLIT, -1, next, 0);
      this.out1[loop] = this.emit(body, loop);
      entry = loop;
    } else {
      for (let k = 0; k < max - min; k++) entry = this.add(SPLIT, this.emit(body, entry), next, 0);
    }
    for (let k = 0; k < min; k++) entry = this.emit(body, entry);
    return entry;
  }
}

interface Size {
  states: number;
  emits: number;
  max: number;
}

function build(ast: Ast, budget: Size): Program {
  const b = new Builder(budget);
  const match = b.add(MATCH, -1, -1, 0);
  const start = b.emit(ast, match);
  return {
    kind: Uint8Array.from(b.kind),
    out1: Int32Array.from(b.out1),
    out2: Int32Array.from(b.out2),
    arg: Int32Array.from(b.arg),
    start,
    preds: b.preds,
    looks: b.looks,
    anchored: startsAnchored(ast),
  };
}

/** Working memory for runs, one set per lookaround nesting level, grown to the largest program seen. */
interface Scratch {
  mark: Uint32Array;
  gen: number;
  a: Int32Array;
  b: Int32Array;
  stack: Int32Array;
}

const scratches: Scratch[] = [];

function scratchAt(level: number, size: number): Scratch {
  let s = scratches[level];
  if (s === undefined || s.mark.length < size) {
    s = { mark: new Uint32Array(size), gen: 0, a: new Int32Array(size), b: new Int32Array(size), stack: new Int32Array(2 * size + 2) };
    scratches[level] = s;
  }
  return s;
}

function nextGen(s: Scratch): number {
  if (s.gen >= 0xfffffffe) {
    s.mark.fill(0);
    s.gen = 0;
  }
  s.gen += 1;
  return s.gen;
}

/** The code point (u-mode) or code unit ending at `pos`. */
function codePointBefore(input: string, pos: number, unicode: boolean): number {
  const c = input.charCodeAt(pos - 1);
  if (unicode && c >= 0xdc00 && c <= 0xdfff && pos >= 2) {
    const lead = input.charCodeAt(pos - 2);
    if (lead >= 0xd800 && lead <= 0xdbff) return (lead - 0xd800) * 0x400 + (c - 0xdc00) + 0x10000;
  }
  return c;
}

interface RunContext {
  input: string;
  budget: WorkBudget;
  isWord: Predicate;
  /** u-mode reads code points; otherwise UTF-16 code units. */
  unicode: boolean;
}

function codePointAt(input: string, pos: number, unicode: boolean): number {
  return unicode ? (input.codePointAt(pos) as number) : input.charCodeAt(pos);
}

function holds(kind: number, pos: number, ctx: RunContext): boolean {
  const { input } = ctx;
  if (kind === ASSERT_START) return pos === 0;
  if (kind === ASSERT_END) return pos === input.length;
  const before = pos > 0 && ctx.isWord(codePointBefore(input, pos, ctx.unicode));
  const after = pos < input.length && ctx.isWord(codePointAt(input, pos, ctx.unicode));
  return (before !== after) === (kind === ASSERT_WORD);
}

/** Adds the threads reachable from `pc` without consuming input; returns the new list length, or -1 on reaching MATCH. */
function closure(p: Program, pc0: number, pos: number, list: Int32Array, len: number, gen: number, s: Scratch, level: number, ctx: RunContext): number {
  const { stack, mark } = s;
  let sp = 0;
  let visits = 0;
  stack[sp++] = pc0;
  while (sp > 0) {
    const pc = stack[--sp] as number;
    if (mark[pc] === gen) continue;
    mark[pc] = gen;
    visits += 1;
    switch (p.kind[pc]) {
      case CHAR:
        list[len++] = pc;
        break;
      case SPLIT:
        stack[sp++] = p.out2[pc] as number;
        stack[sp++] = p.out1[pc] as number;
        break;
      case ASSERT:
        if (holds(p.arg[pc] as number, pos, ctx)) stack[sp++] = p.out1[pc] as number;
        break;
      case LOOK: {
        const look = p.looks[p.arg[pc] as number] as Look;
        if (run(look.program, pos, !look.behind, false, level + 1, ctx) !== look.negate) stack[sp++] = p.out1[pc] as number;
        break;
      }
      default:
        ctx.budget.spend(visits);
        return -1;
    }
  }
  ctx.budget.spend(visits);
  return len;
}

/** Simulates `p` from `pos` (forwards, or backwards for a lookbehind); `search` restarts it at every later position. */
function run(p: Program, pos: number, forward: boolean, search: boolean, level: number, ctx: RunContext): boolean {
  const { input } = ctx;
  const s = scratchAt(level, p.kind.length);
  let clist = s.a;
  let nlist = s.b;
  let clen = closure(p, p.start, pos, clist, 0, nextGen(s), s, level, ctx);
  while (clen >= 0) {
    if (forward ? pos >= input.length : pos <= 0) return false;
    if (clen === 0 && !search) return false;
    let cp: number;
    let next: number;
    if (forward) {
      cp = codePointAt(input, pos, ctx.unicode);
      next = pos + (cp > 0xffff ? 2 : 1);
    } else {
      cp = codePointBefore(input, pos, ctx.unicode);
      next = pos - (cp > 0xffff ? 2 : 1);
    }
    const gen = nextGen(s);
    let nlen = 0;
    for (let k = 0; k < clen && nlen >= 0; k++) {
      const pc = clist[k] as number;
      if ((p.preds[p.arg[pc] as number] as Predicate)(cp)) nlen = closure(p, p.out1[pc] as number, next, nlist, nlen, gen, s, level, ctx);
    }
    if (search && nlen >= 0) nlen = closure(p, p.start, next, nlist, nlen, gen, s, level, ctx);
    ctx.budget.spend(clen + 1);
    [clist, nlist] = [nlist, clist];
    clen = nlen;
    pos = next;
  }
  return true;
}

/**
 * Compiles `source` for linear-time matching (flags: any of `i`, `s`, `u`). Throws the RegExp SyntaxError
 * for an invalid pattern, and UnsupportedPattern for what this engine cannot run: backreferences, group
 * modifiers, other flags, or more than `maxStates` states once counted repetitions are expanded.
 */
export function compileLinearRegExp(source: string, flags: string, maxStates: number): LinearRegExp {
  new RegExp(source, flags); // the engine's own verdict on syntax
  if (/[^ius]/.test(flags)) throw new UnsupportedPattern(`flags "${flags}" are not supported`);
  const ast = parsePattern(source, flags);
  const count = { states: 0, emits: 0, max: maxStates };
  const program = build(ast, count);
  const isWord = predicate('\\w', flags);
  const unicode = flags.includes('u');
  return {
    source,
    flags,
    states: count.states,
    test(input, budget) {
      budget.spend(1);
      return run(program, 0, true, !program.anchored, 0, { input, budget, isWord, unicode });
    },
  };
}
