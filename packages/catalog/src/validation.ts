import { createHash } from 'node:crypto';
import { MAX_JSON_DEPTH } from '@mcpbus/protocol';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { createEngine, type Dialect, type Engine } from './ajv-engine.js';
import { canonical } from './canonical-json.js';
import { measureSchema, prepareSchema, SchemaRefused, type PreparedSchema } from './schema-limits.js';
import { createWorkBudget, WorkBudgetExceeded } from './work-budget.js';

/**
 * Outcome of checking a call's arguments. `problems` name each bad field and why. `schemaRefused` marks
 * a failure that is not the caller's: the upstream's input schema was refused (problems[0] says why), so
 * no arguments can pass until the upstream publishes another.
 */
export type ArgumentCheck = { ok: true } | { ok: false; problems: string[]; schemaRefused?: true };

/** What the validator does with a schema: enforce it, let calls pass unchecked, or refuse every call. */
export type SchemaStatus = { status: 'enforced' } | { status: 'unenforced' | 'refused'; reason: string };

export interface ArgumentValidator {
  /**
   * Checks `args` against `schema`. A schema Ajv cannot compile (bad syntax, an unresolvable or remote
   * `$ref`: nothing is ever fetched) is not enforced. A schema over the limits in schema-limits.ts is
   * refused: every call gets `schemaRefused`.
   */
  check(schema: Record<string, unknown>, args: unknown): ArgumentCheck;
  /** How `schema` is treated (compiling it if need be), for logging when a catalog is refreshed. */
  inspect(schema: Record<string, unknown>): SchemaStatus;
  /** Number of compiled schemas held (one per distinct schema content). */
  readonly size: number;
}

const MAX_PROBLEMS = 20;
/** Compiled schemas kept; the least recently used is dropped beyond this. */
const MAX_COMPILED = 1_000;
/** Ajv instances are replaced after this many compiles, as each keeps every schema it ever compiled. */
const COMPILES_PER_ENGINE = 1_000;

// One unit of work is about 10 ns: a keyword applied, a character scanned, a step of a regular expression.
/** Work any check may use, whatever its arguments' size: about 10 ms. */
export const MIN_WORK_UNITS = 1_000_000;
/** Further work per character (or value) of the arguments: 1 MiB of arguments may use about 0.1 s. */
export const WORK_UNITS_PER_ARGUMENT_CHAR = 10;
/** Work allowed for listing every problem; past it only the first problem is reported, bounding the error objects Ajv builds. */
export const ALL_ERRORS_WORK_UNITS = 100_000;

function dialectOf(schema: Record<string, unknown>): Dialect {
  const declared = typeof schema['$schema'] === 'string' ? schema['$schema'] : '';
  return /draft-0[4-7]/.test(declared) ? 'draft-07' : '2020-12';
}

/** Values plus characters of strings and keys, walked iteratively; undefined past MAX_JSON_DEPTH levels. */
function argumentSize(args: unknown): number | undefined {
  let size = 0;
  const stack: { item: unknown; depth: number }[] = [{ item: args, depth: 0 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { item, depth } = next;
    size += 1;
    if (typeof item === 'string') size += item.length;
    else if (item !== null && typeof item === 'object') {
      if (depth >= MAX_JSON_DEPTH) return undefined;
      for (const [key, value] of Object.entries(item)) {
        if (!Array.isArray(item)) size += key.length;
        stack.push({ item: value, depth: depth + 1 });
      }
    }
  }
  return size;
}

function fieldOf(err: ErrorObject): string {
  const path = err.instancePath
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`))
    .join('')
    .replace(/^\./, '');
  const params = err.params as Record<string, unknown>;
  if (err.keyword === 'required' && typeof params['missingProperty'] === 'string') return path === '' ? params['missingProperty'] : `${path}.${params['missingProperty']}`;
  if (err.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') return path === '' ? params['additionalProperty'] : `${path}.${params['additionalProperty']}`;
  return path === '' ? '(arguments)' : path;
}

function describe(err: ErrorObject): string {
  if (err.keyword === 'required') return 'is required';
  if (err.keyword === 'additionalProperties') return 'is not an accepted argument';
  return err.message ?? 'is invalid';
}

function problemsOf(fn: ValidateFunction): ArgumentCheck {
  const problems = (fn.errors ?? []).slice(0, MAX_PROBLEMS).map((e) => `${fieldOf(e)}: ${describe(e)}`);
  return { ok: false, problems: [...new Set(problems)] };
}

function refusal(reason: string): ArgumentCheck {
  return { ok: false, problems: [`the tool's input schema was refused by the gateway: ${reason}`], schemaRefused: true };
}

interface Entry {
  status: SchemaStatus;
  prepared?: PreparedSchema;
  dialect?: Dialect;
  /** Lists every problem; used while the work stays under ALL_ERRORS_WORK_UNITS. */
  all?: ValidateFunction;
  /**
   * Stops at the first problem; compiled when first needed. `null` when V8 cannot take it: Ajv nests its
   * code one block per keyword, and about 2,000 keywords side by side overflow the parser's stack.
   */
  first?: ValidateFunction | null;
}

const TOO_DEEP: ArgumentCheck = { ok: false, problems: [`(arguments): nest deeper than ${MAX_JSON_DEPTH} levels`] };
const TOO_COSTLY: ArgumentCheck = { ok: false, problems: ["(arguments): are too large or too complex to check against the tool's input schema within the gateway's limits"] };

/**
 * Ajv validators for tool input schemas, compiled once per schema content (keyed by a hash of its
 * canonical JSON). Draft-07 schemas use Ajv's draft-07 engine; everything else 2020-12, the default
 * dialect since MCP 2025-11-25. Formats (email, date-time, uri, …) are checked.
 *
 * Neither a hostile schema nor hostile arguments can stall the worker: schemas over the limits in
 * schema-limits.ts are refused, `pattern`, `patternProperties` and regex formats run on a linear-time
 * engine (never a backtracking one), and each check stops after a work budget that grows with the size
 * of its arguments. A refused schema refuses every call rather than letting calls pass unchecked: the
 * limits sit far above real tools, so what trips them is a broken or hostile upstream, and its callers
 * should learn that instead of having the check silently dropped.
 */
export function createArgumentValidator(): ArgumentValidator {
  const budget = createWorkBudget();
  let current: PreparedSchema | undefined;
  const context = { budget, pattern: (source: string) => current?.patterns.get(source) };
  let engines = new Map<string, Engine>();
  let compiles = 0;
  const compiled = new Map<string, Entry>();
  // Catalog entries keep their schema objects, so most checks skip hashing the schema again.
  const byObject = new WeakMap<object, string | Entry>();

  function engine(dialect: Dialect, allErrors: boolean): Engine {
    const key = `${dialect}/${allErrors}`;
    let found = engines.get(key);
    if (found === undefined) {
      found = createEngine(dialect, allErrors, context);
      engines.set(key, found);
    }
    return found;
  }

  /** Compiles in the entry's dialect, falling back to the other one; Ajv's complaint if neither accepts it. */
  function compileMode(entry: Entry, allErrors: boolean): ValidateFunction | string {
    const { prepared, dialect } = entry;
    if (prepared === undefined || dialect === undefined) return 'it was not prepared';
    if (compiles >= COMPILES_PER_ENGINE) {
      engines = new Map();
      compiles = 0;
    }
    current = prepared;
    budget.reset(Number.POSITIVE_INFINITY); // compile work is bounded by the schema limits
    let complaint = '';
    try {
      for (const d of [dialect, dialect === '2020-12' ? 'draft-07' : '2020-12'] as const) {
        compiles += 1;
        try {
          const fn = engine(d, allErrors).compile(prepared.schema);
          entry.dialect = d;
          return fn;
        } catch (err: unknown) {
          complaint ||= err instanceof Error ? err.message : String(err);
        }
      }
      return complaint;
    } finally {
      current = undefined;
    }
  }

  function build(schema: Record<string, unknown>): Entry {
    // $schema/$id are dropped: engines reject meta-schemas they do not know, and upstream
    // schemas reuse $id values that would clash inside one shared engine.
    const { $schema: _s, $id: _i, ...body } = schema;
    let prepared: PreparedSchema;
    try {
      prepared = prepareSchema(body);
    } catch (err: unknown) {
      if (err instanceof SchemaRefused) return { status: { status: 'refused', reason: err.reason } };
      throw err;
    }
    const entry: Entry = { status: { status: 'enforced' }, prepared, dialect: dialectOf(schema) };
    const all = compileMode(entry, true);
    if (typeof all === 'string') return { status: { status: 'unenforced', reason: `Ajv cannot compile it: ${all}` } };
    entry.all = all;
    return entry;
  }

  function lookup(schema: Record<string, unknown>): Entry {
    const known = byObject.get(schema);
    if (typeof known === 'object') return known;
    let key = known;
    if (key === undefined) {
      try {
        measureSchema(schema); // bounds the canonical JSON built next
      } catch (err: unknown) {
        if (!(err instanceof SchemaRefused)) throw err;
        const entry: Entry = { status: { status: 'refused', reason: err.reason } };
        byObject.set(schema, entry);
        return entry;
      }
      key = createHash('sha256').update(canonical(schema)).digest('hex');
      byObject.set(schema, key);
    }
    let entry = compiled.get(key);
    // Map order is insertion order: re-inserting marks the entry most recently used.
    if (entry !== undefined) compiled.delete(key);
    else entry = build(schema);
    compiled.set(key, entry);
    if (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
    return entry;
  }

  /** Every problem while that is cheap; past ALL_ERRORS_WORK_UNITS, the first problem within the full budget. */
  function validate(entry: Entry, all: ValidateFunction, args: unknown): ArgumentCheck {
    const size = argumentSize(args);
    if (size === undefined) return TOO_DEEP;
    const limit = MIN_WORK_UNITS + WORK_UNITS_PER_ARGUMENT_CHAR * size;
    try {
      budget.reset(Math.min(limit, ALL_ERRORS_WORK_UNITS));
      return all(args) ? { ok: true } : problemsOf(all);
    } catch (err: unknown) {
      if (err instanceof RangeError) {
        // The arguments nest at most MAX_JSON_DEPTH levels, so only $refs that recurse without reaching
        // into the arguments overflow the stack here, and they do for any arguments.
        entry.status = { status: 'refused', reason: 'its $ref recursion never reaches into the arguments' };
        delete entry.all;
        return refusal(entry.status.reason);
      }
      if (!(err instanceof WorkBudgetExceeded)) throw err;
    }
    if (limit <= ALL_ERRORS_WORK_UNITS) return TOO_COSTLY;
    if (entry.first === undefined) {
      const first = compileMode(entry, false);
      entry.first = typeof first === 'string' ? null : first;
    }
    if (entry.first === null) return TOO_COSTLY;
    try {
      budget.reset(limit);
      return entry.first(args) ? { ok: true } : problemsOf(entry.first);
    } catch (err: unknown) {
      // V8 compiles the nested code on first call, so its stack overflow can surface here.
      if (err instanceof RangeError) entry.first = null;
      else if (!(err instanceof WorkBudgetExceeded)) throw err;
      return TOO_COSTLY;
    }
  }

  return {
    check(schema, args) {
      const entry = lookup(schema);
      if (entry.status.status === 'refused') return refusal(entry.status.reason);
      return entry.all === undefined ? { ok: true } : validate(entry, entry.all, args);
    },
    inspect(schema) {
      return lookup(schema).status;
    },
    get size() {
      return compiled.size;
    },
  };
}
