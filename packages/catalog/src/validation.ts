import { createHash } from 'node:crypto';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with a default export that NodeNext types as the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2020) => void;

/** Outcome of checking a call's arguments. `problems` name each bad field and why. */
export type ArgumentCheck = { ok: true } | { ok: false; problems: string[] };

export interface ArgumentValidator {
  /** Checks `args` against `schema`; a schema that cannot be compiled is not enforced. */
  check(schema: Record<string, unknown>, args: unknown): ArgumentCheck;
  /** Number of compiled schemas held (one per distinct schema content). */
  readonly size: number;
}

const MAX_PROBLEMS = 20;
/** Compiled schemas kept; the least recently used is dropped beyond this. */
const MAX_COMPILED = 1_000;

type Dialect = 'draft-07' | '2020-12';

function dialectOf(schema: Record<string, unknown>): Dialect {
  const declared = typeof schema['$schema'] === 'string' ? schema['$schema'] : '';
  return /draft-0[4-7]/.test(declared) ? 'draft-07' : '2020-12';
}

/** Canonical JSON (sorted keys), so equal schemas share one compiled validator. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
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

/**
 * Ajv validators for tool input schemas, compiled once per schema content (keyed by a hash of
 * its canonical JSON). Draft-07 schemas use Ajv's draft-07 engine; everything else 2020-12,
 * the default dialect since MCP 2025-11-25. Formats (email, date-time, uri, …) are checked.
 */
export function createArgumentValidator(): ArgumentValidator {
  const options = { allErrors: true, strict: false, validateFormats: true } as const;
  const engines = { 'draft-07': new Ajv(options), '2020-12': new Ajv2020(options) };
  addFormats(engines['draft-07']);
  addFormats(engines['2020-12']);
  const compiled = new Map<string, ValidateFunction | null>();

  function compile(schema: Record<string, unknown>): ValidateFunction | null {
    const key = createHash('sha256').update(canonical(schema)).digest('hex');
    const hit = compiled.get(key);
    if (hit !== undefined) {
      // Map order is insertion order: re-inserting marks the entry most recently used.
      compiled.delete(key);
      compiled.set(key, hit);
      return hit;
    }
    const dialect = dialectOf(schema);
    // $schema/$id are dropped: engines reject meta-schemas they do not know, and upstream
    // schemas reuse $id values that would clash inside one shared engine.
    const { $schema: _s, $id: _i, ...body } = schema;
    let fn: ValidateFunction | null;
    try {
      fn = engines[dialect].compile(body);
    } catch {
      try {
        fn = engines[dialect === '2020-12' ? 'draft-07' : '2020-12'].compile(body);
      } catch {
        fn = null;
      }
    }
    compiled.set(key, fn);
    if (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
    return fn;
  }

  return {
    check(schema, args) {
      const fn = compile(schema);
      if (fn === null || fn(args)) return { ok: true };
      const problems = (fn.errors ?? []).slice(0, MAX_PROBLEMS).map((e) => `${fieldOf(e)}: ${describe(e)}`);
      return { ok: false, problems: [...new Set(problems)] };
    },
    get size() {
      return compiled.size;
    },
  };
}
