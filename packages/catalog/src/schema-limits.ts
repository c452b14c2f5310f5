import { compileLinearRegExp, UnsupportedPattern, type LinearRegExp } from './linear-regexp.js';

// The limits below sit far above what MCP servers publish (@modelcontextprotocol/server-everything's largest
// tool schema is 648 bytes, 4 levels deep, with 13 keywords). They exist because Ajv compiles a schema while
// the worker's event loop waits, at 0.1-0.3 ms of CPU per subschema (measured), and some shapes cost more.

/** Largest accepted input schema, as serialized JSON. */
export const MAX_SCHEMA_BYTES = 256 * 1024;
/** Deepest accepted JSON nesting inside a schema (objects and arrays; one schema level is usually two). */
export const MAX_SCHEMA_DEPTH = 64;
/** Most (sub)schemas one input schema may hold: about half a second of CPU to compile at worst (measured). */
export const MAX_SUBSCHEMAS = 2_000;
/**
 * Most compile work from `allOf`/`anyOf`/`oneOf`, counted per array as branches × subschemas inside them:
 * Ajv's code for these grows quadratically (a `oneOf` of 1,990 one-property branches took 8.8 s; 500 of
 * them, 0.6 s). A 500-entry `oneOf` of `{const, title}` (a titled enum) is 250,000 and still accepted.
 */
export const MAX_COMBINATOR_WORK = 250_000;
/** Most validation keywords one input schema may hold, across all its subschemas. */
export const MAX_SCHEMA_KEYWORDS = 5_000;
/** Largest program one `pattern` may compile to, counting counted repetitions expanded (`[a-f0-9]{64}` is 64). */
export const MAX_PATTERN_STATES = 10_000;
/** Largest total of pattern programs in one schema (bounds the memory a schema's patterns hold). */
export const MAX_SCHEMA_PATTERN_STATES = 50_000;

/**
 * Injected into every subschema that has validation keywords: `[base, perUnit]`, the work one application
 * costs (keywords, list sizes) plus the work per character, item or property of the instance.
 */
export const COST_KEYWORD = 'x-mcpbus-cost';

/** Why an input schema is refused before Ajv sees it. */
export class SchemaRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'SchemaRefused';
  }
}

/** Keywords whose value is one subschema. */
const SINGLE = new Set(['additionalProperties', 'additionalItems', 'propertyNames', 'contains', 'not', 'if', 'then', 'else', 'unevaluatedItems', 'unevaluatedProperties', 'items', 'contentSchema']);
/** Keywords whose branches Ajv compiles with quadratic cost. */
const COMBINATORS = new Set(['allOf', 'anyOf', 'oneOf']);
/** Keywords whose value is an array of subschemas (`items` too, in its draft-07 tuple form). */
const ARRAY = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items']);
/** Keywords whose value maps names to subschemas (`dependencies` also maps to arrays of names). */
const MAP = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas', 'dependencies']);
/** Keywords whose value is instance data. Ajv looks for no `$id`/`$anchor` inside them, and a `$ref` into one is refused. */
const DATA = new Set(['enum', 'const', 'default']);
/** Keywords that validate (as opposed to annotate or contain); these are what compile time grows with. */
const VALIDATION = new Set([
  'type', 'enum', 'const', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength',
  'pattern', 'format', 'maxItems', 'minItems', 'uniqueItems', 'maxContains', 'minContains', 'maxProperties', 'minProperties',
  'required', 'dependentRequired', 'dependencies', 'properties', 'patternProperties', 'additionalProperties', 'propertyNames',
  'items', 'prefixItems', 'additionalItems', 'contains', 'unevaluatedItems', 'unevaluatedProperties', 'allOf', 'anyOf', 'oneOf',
  'not', 'if', 'then', 'else', 'dependentSchemas', '$ref', '$dynamicRef', '$recursiveRef', 'nullable',
  'formatMinimum', 'formatMaximum', 'formatExclusiveMinimum', 'formatExclusiveMaximum',
]);
/**
 * Keywords whose work grows with the size of the instance (characters, items or properties), with their
 * relative cost: `patternProperties` also records every matching name for unevaluatedProperties.
 */
const LINEAR = new Map([
  ['minLength', 1], ['maxLength', 1], ['minProperties', 1], ['maxProperties', 1], ['additionalProperties', 1], ['unevaluatedProperties', 1],
  ['propertyNames', 1], ['patternProperties', 4], ['unevaluatedItems', 1], ['contains', 1],
  ['formatMinimum', 1], ['formatMaximum', 1], ['formatExclusiveMinimum', 1], ['formatExclusiveMaximum', 1],
]);
const REF_KEYWORDS = ['$ref', '$dynamicRef', '$recursiveRef'];

/** A schema accepted for compiling: a copy with cost counters injected, and its patterns compiled. */
export interface PreparedSchema {
  schema: Record<string, unknown>;
  patterns: Map<string, LinearRegExp>;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function pointerOf(path: readonly string[]): string {
  return path.map((seg) => `/${seg.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** The JSON pointer segments of a `$ref`'s fragment, or undefined for anchors and unparsable fragments. */
function fragmentSegments(ref: string): string[] | undefined {
  const hash = ref.indexOf('#');
  if (hash < 0) return undefined;
  let fragment: string;
  try {
    fragment = decodeURIComponent(ref.slice(hash + 1));
  } catch {
    return undefined; // Ajv fails to resolve it too
  }
  if (!fragment.startsWith('/')) return undefined;
  return fragment.slice(1).split('/').map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Whether a pointer, read from some schema, passes through an `enum`/`const`/`default` value. */
function pointsIntoData(segments: readonly string[]): boolean {
  let name = false; // the next segment names a property/definition rather than a keyword
  for (const seg of segments) {
    if (name) name = false;
    else if (/^\d+$/.test(seg)) continue; // an index into an array of subschemas
    else if (DATA.has(seg)) return true;
    else name = MAP.has(seg);
  }
  return false;
}

/**
 * Throws SchemaRefused if `schema` nests deeper than MAX_SCHEMA_DEPTH or its JSON is surely longer than
 * MAX_SCHEMA_BYTES. Walked iteratively and stops at the limit, so any object is safe to measure and, once
 * measured, to serialize or walk recursively.
 */
export function measureSchema(schema: unknown): void {
  const stack: { item: unknown; depth: number }[] = [{ item: schema, depth: 0 }];
  // A lower bound on the JSON length: quotes around strings and keys, a colon or comma per value.
  let bytes = 0;
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { item, depth } = next;
    bytes += typeof item === 'string' ? item.length + 2 : 1;
    if (item !== null && typeof item === 'object') {
      if (depth >= MAX_SCHEMA_DEPTH) throw new SchemaRefused(`it nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
      const isArray = Array.isArray(item);
      for (const [key, child] of Object.entries(item)) {
        if (!isArray) bytes += key.length + 3;
        stack.push({ item: child, depth: depth + 1 });
      }
    }
    if (bytes > MAX_SCHEMA_BYTES) throw new SchemaRefused(`it is more than ${MAX_SCHEMA_BYTES} bytes long`);
  }
}

/** Validation keywords, base cost and per-unit cost of one subschema (the values of COST_KEYWORD). */
function costOf(node: Json): { own: number; base: number; perUnit: number } {
  let own = 0;
  let base = 4; // measured: ~100 ns to apply a subschema with one cheap keyword, ~10 ns a unit
  let perUnit = 0;
  for (const [key, value] of Object.entries(node)) {
    if (!VALIDATION.has(key)) continue;
    own += 1;
    perUnit += LINEAR.get(key) ?? 0;
    // Enums compare with ===, or deep equality (several times dearer) for objects and arrays.
    if (Array.isArray(value)) base += key === 'enum' && value.some((v) => v !== null && typeof v === 'object') ? 4 * value.length : value.length;
    else if (isObject(value) && MAP.has(key)) base += Object.keys(value).length;
  }
  return { own, base: base + 4 * own, perUnit };
}

/**
 * One pass over a schema's copy: counts it against the limits, compiles its patterns and injects cost
 * counters. `strict` marks positions the dialects define as schemas, where a pattern the engine cannot
 * run refuses the schema; elsewhere (under unknown keywords) Ajv compiles a pattern only if a `$ref`
 * leads there, and then fails to compile the schema instead.
 */
class SchemaWalker {
  readonly patterns = new Map<string, LinearRegExp>();
  private subschemas = 0;
  private keywords = 0;
  private patternStates = 0;
  private combinatorWork = 0;

  /** Walks one (possible) subschema; returns how many subschemas with validation keywords it holds, itself included. */
  walkSchema(node: unknown, path: string[], strict: boolean): number {
    if (!isObject(node)) return 0;
    const before = this.subschemas;
    for (const [key, value] of Object.entries(node)) {
      if (!DATA.has(key)) this.walkKeyword(key, value, path, strict);
    }
    const { own, base, perUnit } = costOf(node);
    if (own === 0) {
      delete node[COST_KEYWORD]; // only the gateway sets it
      return this.subschemas - before;
    }
    this.subschemas += 1;
    this.keywords += own;
    if (this.subschemas > MAX_SUBSCHEMAS) throw new SchemaRefused(`it has more than ${MAX_SUBSCHEMAS} subschemas`);
    if (this.keywords > MAX_SCHEMA_KEYWORDS) throw new SchemaRefused(`it has more than ${MAX_SCHEMA_KEYWORDS} validation keywords`);
    node[COST_KEYWORD] = [base, perUnit];
    return this.subschemas - before;
  }

  private walkKeyword(key: string, value: unknown, path: string[], strict: boolean): void {
    const at = [...path, key];
    if (key === 'pattern') this.addPattern(value, at, strict);
    else if (REF_KEYWORDS.includes(key) && typeof value === 'string') {
      const segments = fragmentSegments(value);
      if (segments !== undefined && pointsIntoData(segments)) throw new SchemaRefused(`the ${key} at ${pointerOf(path)} points into instance data ("${value}")`);
    } else if (MAP.has(key) && isObject(value)) {
      for (const [name, sub] of Object.entries(value)) {
        if (key === 'patternProperties') this.addPattern(name, [...at, name], strict);
        if (!Array.isArray(sub)) this.walkSchema(sub, [...at, name], strict);
      }
    } else if (ARRAY.has(key) && Array.isArray(value)) {
      const inside = value.reduce((sum: number, sub, i) => sum + this.walkSchema(sub, [...at, String(i)], strict), 0);
      if (COMBINATORS.has(key)) this.combinatorWork += value.length * Math.max(1, inside);
      if (this.combinatorWork > MAX_COMBINATOR_WORK) throw new SchemaRefused(`its allOf/anyOf/oneOf branches are too many for their size (${key} at ${pointerOf(at)})`);
    } else if (SINGLE.has(key)) this.walkSchema(value, at, strict);
    else if (!VALIDATION.has(key)) this.walkAny(value, at);
  }

  private walkAny(value: unknown, path: string[]): void {
    if (isObject(value)) this.walkSchema(value, path, false);
    else if (Array.isArray(value)) value.forEach((item, i) => this.walkAny(item, [...path, String(i)]));
  }

  private addPattern(source: unknown, path: readonly string[], strict: boolean): void {
    if (typeof source !== 'string' || this.patterns.has(source)) return;
    try {
      const rx = compileLinearRegExp(source, 'u', MAX_PATTERN_STATES);
      this.patternStates += rx.states;
      if (this.patternStates > MAX_SCHEMA_PATTERN_STATES) throw new UnsupportedPattern(`the schema's patterns expand to more than ${MAX_SCHEMA_PATTERN_STATES} states in all`);
      this.patterns.set(source, rx);
    } catch (err: unknown) {
      // Invalid syntax is Ajv's to report (the schema then goes unenforced, as any uncompilable schema).
      if (strict && err instanceof UnsupportedPattern) throw new SchemaRefused(`the pattern at ${pointerOf(path)} cannot be checked safely: ${err.reason}`);
    }
  }
}

/**
 * Measures `schema` against the limits above and returns a copy ready for Ajv, or throws SchemaRefused.
 * Every subschema Ajv could compile gets a cost counter, including ones under unknown keywords (a `$ref`
 * may point there).
 */
export function prepareSchema(schema: Json): PreparedSchema {
  measureSchema(schema);
  const text = JSON.stringify(schema);
  if (text.length > MAX_SCHEMA_BYTES) throw new SchemaRefused(`it is ${text.length} bytes long, more than the ${MAX_SCHEMA_BYTES} accepted`);
  const copy = JSON.parse(text) as Json;
  const walker = new SchemaWalker();
  walker.walkSchema(copy, [], true);
  return { schema: copy, patterns: walker.patterns };
}
