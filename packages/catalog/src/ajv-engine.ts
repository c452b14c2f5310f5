import { _, Ajv, type AnySchemaObject, type CodeKeywordDefinition, type CodeOptions, type ErrorObject, type Format, type FormatDefinition, type KeywordDefinition } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { canonical } from './canonical-json.js';
import { compileLinearRegExp, UnsupportedPattern, type LinearRegExp } from './linear-regexp.js';
import { COST_KEYWORD, MAX_PATTERN_STATES } from './schema-limits.js';
import type { WorkBudget } from './work-budget.js';

// ajv-formats is CommonJS with a default export that NodeNext types as the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2020) => void;

export type Dialect = 'draft-07' | '2020-12';
export type Engine = Ajv | Ajv2020;

/**
 * Referenced schemas are inlined only when this small: with Ajv's default (inline any ref-free schema) a
 * 17 KB schema that references one 200-property definition 300 times compiled to 40 MB of code in 25 s.
 */
const INLINE_REF_MAX_KEYWORDS = 8;

/**
 * Work charged per character for formats checked by a function rather than a regular expression, roughly
 * their measured cost against the cost of one regular-expression step (~10 ns). Unlisted: 1.
 */
const FORMAT_UNITS_PER_CHAR: Readonly<Record<string, number>> = { regex: 12, 'date-time': 10, 'iso-date-time': 10, uri: 2, byte: 2 };

export interface EngineContext {
  budget: WorkBudget;
  /** A compiled pattern of the schema being compiled, if the walk compiled it. */
  pattern(source: string): LinearRegExp | undefined;
}

type RegExpEngine = NonNullable<CodeOptions['regExp']>;

/** Ajv's hook for `pattern` and `patternProperties`: every test runs in linear time and charges the budget. */
function regExpEngine(ctx: EngineContext): RegExpEngine {
  const engine = (source: string, flags: string): { test(s: string): boolean; toString(): string } => {
    const rx = (flags === 'u' ? ctx.pattern(source) : undefined) ?? compileLinearRegExp(source, flags, MAX_PATTERN_STATES);
    // Ajv keys its per-engine cache of pattern objects by toString().
    return { test: (s) => rx.test(s, ctx.budget), toString: () => `/${source}/${flags}` };
  };
  return Object.assign(engine, { code: 'mcpbusLinearRegExp' });
}

/**
 * Formats keep ajv-formats' definitions, but each check is charged to the budget first, and those defined
 * by a regular expression run on the linear-time engine (`url`'s is quadratic under backtracking:
 * 100,000 characters took 11 s).
 */
function guardFormat(name: string, format: Format, budget: WorkBudget): Format | undefined {
  if (typeof format === 'string' || format === true) return undefined;
  const def = (format instanceof RegExp || typeof format === 'function' ? { validate: format } : format) as FormatDefinition<string>;
  if ((def as { type?: string }).type === 'number' || (def as { async?: boolean }).async === true) return undefined;
  const validate = typeof def.validate === 'string' ? new RegExp(def.validate) : def.validate;
  const linear = validate instanceof RegExp ? linearOrUndefined(validate) : undefined;
  const perChar = FORMAT_UNITS_PER_CHAR[name] ?? 1;
  const check = linear
    ? (s: string) => linear.test(s, budget)
    : (s: string) => {
        budget.spend(1 + perChar * s.length);
        return validate instanceof RegExp ? validate.test(s) : validate(s);
      };
  return { type: 'string', validate: check, ...(def.compare === undefined ? {} : { compare: def.compare }) };
}

/** ajv-formats' expressions all run on the linear engine today; one that did not would keep RegExp (charged). */
function linearOrUndefined(re: RegExp): LinearRegExp | undefined {
  try {
    return compileLinearRegExp(re.source, re.flags, MAX_PATTERN_STATES);
  } catch (err: unknown) {
    if (err instanceof UnsupportedPattern) return undefined;
    throw err;
  }
}

function typesOf(schema: unknown): string[] {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return [];
  const { type, nullable } = schema as { type?: unknown; nullable?: unknown };
  const types = (Array.isArray(type) ? type : type === undefined ? [] : [type]).filter((t): t is string => typeof t === 'string');
  if (nullable === true && !types.includes('null')) types.push('null');
  return types;
}

function hasType(item: unknown, type: string): boolean {
  if (type === 'null') return item === null;
  if (type === 'integer') return typeof item === 'number' && item % 1 === 0;
  return typeof item === type;
}

type ItemsCheck = ((data: unknown[]) => boolean) & { errors?: Partial<ErrorObject>[] };
/** The duplicate pair Ajv would report, in the order its message names them. */
type Duplicate = [number, number] | undefined;

/** Ajv's fast path for declared scalar item types: items of other types are not compared. */
function scalarDuplicate(data: unknown[], types: string[], budget: WorkBudget): Duplicate {
  budget.spend(20 * data.length); // measured: ~300 ns per Map entry of a large array
  const seen = new Map<unknown, number>();
  for (let i = data.length - 1; i >= 0; i--) {
    const item = data[i];
    if (!types.some((t) => hasType(item, t))) continue;
    const later = seen.get(item);
    if (later !== undefined) return [later, i];
    seen.set(item, i);
  }
  return undefined;
}

/** Ajv's general path finds the last item equal to an earlier one, comparing pairwise; this hashes. */
function deepDuplicate(data: unknown[], budget: WorkBudget): Duplicate {
  budget.spend(4 * data.length);
  const seen = new Map<string, number>();
  let found: Duplicate;
  data.forEach((item, i) => {
    const key = canonical(item);
    budget.spend(5 * key.length);
    const earlier = seen.get(key);
    if (earlier !== undefined) found = [earlier, i];
    seen.set(key, i);
  });
  return found;
}

/** Ajv's uniqueItems, same verdicts and messages, but linear: Ajv compares items pairwise (30,000 objects took 21 s). */
function uniqueItemsKeyword(budget: WorkBudget): KeywordDefinition {
  return {
    keyword: 'uniqueItems',
    type: 'array',
    schemaType: 'boolean',
    compile(unique: boolean, parent: AnySchemaObject) {
      const types = typesOf(parent['items']);
      const scalar = types.length > 0 && !types.some((t) => t === 'object' || t === 'array');
      const validate: ItemsCheck = (data) => {
        if (!unique || data.length < 2) return true;
        const pair = scalar ? scalarDuplicate(data, types, budget) : deepDuplicate(data, budget);
        if (pair === undefined) return true;
        const [first, second] = pair;
        validate.errors = [{ keyword: 'uniqueItems', message: `must NOT have duplicate items (items ## ${first} and ${second} are identical)`, params: { i: second, j: first } }];
        return false;
      };
      return validate;
    },
  };
}

/** Charged per property of an object: V8 enumerates a large object's keys at ~200-400 ns each. */
const UNITS_PER_OBJECT_KEY = 40;
/** Key counts of objects already measured (validation does not change its data). */
const keyCounts = new WeakMap<object, number>();

/** Work per character, item or property for the keywords that walk them (LINEAR in schema-limits.ts). */
function sizeOf(data: unknown): number {
  if (typeof data === 'string' || Array.isArray(data)) return data.length;
  if (data === null || typeof data !== 'object') return 0;
  let keys = keyCounts.get(data);
  if (keys === undefined) {
    keys = Object.keys(data).length;
    keyCounts.set(data, keys);
  }
  return keys * UNITS_PER_OBJECT_KEY;
}

function countOf(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

/**
 * The counter prepareSchema injects: charges each application of a subschema before its typed keywords
 * run. Emitted inline, as a function keyword would add half again to compile time.
 */
function costKeyword(budget: WorkBudget): CodeKeywordDefinition {
  return {
    keyword: COST_KEYWORD,
    schemaType: 'array',
    code(cxt) {
      const { gen, data } = cxt;
      const [base, perUnit] = (cxt.schema as unknown[]).map(countOf) as [number, number];
      const counter = gen.scopeValue('obj', { ref: budget, key: budget });
      if (perUnit === 0) gen.code(_`${counter}.spend(${base})`);
      else gen.code(_`${counter}.spend(${base} + ${perUnit} * ${gen.scopeValue('func', { ref: sizeOf, key: sizeOf })}(${data}))`);
    },
  };
}

/** One Ajv instance for `dialect`, with every hook through which input could make it do unbounded work replaced. */
export function createEngine(dialect: Dialect, allErrors: boolean, ctx: EngineContext): Engine {
  const options = {
    allErrors,
    strict: false,
    validateFormats: true,
    unicodeRegExp: true,
    inlineRefs: INLINE_REF_MAX_KEYWORDS,
    // Unknown formats and keywords are ignored; saying so on the console for every upstream schema is noise.
    logger: false,
    code: { regExp: regExpEngine(ctx) },
  } as const;
  const ajv = dialect === 'draft-07' ? new Ajv(options) : new Ajv2020(options);
  addFormats(ajv);
  for (const [name, format] of Object.entries(ajv.formats)) {
    const guarded = format === undefined ? undefined : guardFormat(name, format, ctx.budget);
    if (guarded !== undefined) ajv.addFormat(name, guarded);
  }
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword(uniqueItemsKeyword(ctx.budget));
  ajv.addKeyword(costKeyword(ctx.budget));
  return ajv;
}
