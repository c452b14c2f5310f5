import { resolveEnvRef } from './env-refs.js';

export type Env = Readonly<Record<string, string | undefined>>;
/** A YAML mapping after parsing, keyed by strings in document order. */
export type RawMap = ReadonlyMap<string, unknown>;

/** What every validator needs: the env for `os.environ/` references and the list to report to. */
export interface Ctx {
  readonly env: Env;
  readonly problems: string[];
}

export function childPath(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : `${path}.${key}`;
}

export function report(ctx: Ctx, path: string, message: string): void {
  ctx.problems.push(`${path}: ${message}`);
}

/** Null counts as absent: `key:` with nothing after it is how YAML spells "not set". */
export function isAbsent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

/** A parsed YAML mapping with its keys as strings, or undefined (reported) when `value` is not one. */
export function asMap(ctx: Ctx, value: unknown, path: string): RawMap | undefined {
  if (!(value instanceof Map)) {
    report(ctx, path, 'must be a map');
    return undefined;
  }
  const result = new Map<string, unknown>();
  for (const [key, item] of value as Map<unknown, unknown>) {
    if (typeof key !== 'string' && typeof key !== 'number' && typeof key !== 'boolean') {
      report(ctx, path, 'map keys must be plain scalars');
      continue;
    }
    const name = String(key);
    if (result.has(name)) report(ctx, childPath(path, name), 'duplicate key');
    result.set(name, item);
  }
  return result;
}

/**
 * A string value with any `os.environ/` reference resolved. Numbers and booleans become strings
 * when `coerce` is set, since `PORT: 8080` in an env map plainly means "8080".
 */
export function readString(ctx: Ctx, value: unknown, path: string, coerce = false): string | undefined {
  if (typeof value === 'string') {
    const ref = resolveEnvRef(value, ctx.env);
    if (ref === undefined) return value;
    if (ref.ok) return ref.value;
    report(ctx, path, ref.problem);
    return undefined;
  }
  if (coerce && (typeof value === 'number' || typeof value === 'boolean')) return String(value);
  report(ctx, path, 'must be a string');
  return undefined;
}

/** An integer in [min, max]; digit strings are accepted because `os.environ/` values are strings. */
export function readInteger(ctx: Ctx, value: unknown, path: string, min: number, max: number): number | undefined {
  let raw = value;
  if (typeof value === 'string') {
    const text = readString(ctx, value, path);
    if (text === undefined) return undefined;
    raw = /^\d+$/.test(text) ? Number(text) : text;
  }
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min) {
    report(ctx, path, min === 1 ? 'must be a positive integer' : `must be an integer from ${min} to ${max}`);
    return undefined;
  }
  if (raw > max) {
    report(ctx, path, `must be at most ${max}`);
    return undefined;
  }
  return raw;
}

export function readStringList(ctx: Ctx, value: unknown, path: string): string[] | undefined {
  if (!Array.isArray(value)) {
    report(ctx, path, 'must be a list of strings');
    return undefined;
  }
  const items = value.map((item, i) => readString(ctx, item, childPath(path, i), true));
  return items.every((item) => item !== undefined) ? items : undefined;
}

/** A map of string to string; `checkKey` returns a problem message for keys it rejects. */
export function readStringMap(
  ctx: Ctx,
  value: unknown,
  path: string,
  checkKey?: (key: string) => string | undefined,
): Record<string, string> | undefined {
  const map = asMap(ctx, value, path);
  if (map === undefined) return undefined;
  const entries: [string, string][] = [];
  let ok = true;
  for (const [key, item] of map) {
    const keyProblem = checkKey?.(key);
    if (keyProblem !== undefined) report(ctx, childPath(path, key), keyProblem);
    const text = readString(ctx, item, childPath(path, key), true);
    if (text === undefined || keyProblem !== undefined) ok = false;
    else entries.push([key, text]);
  }
  // fromEntries defines own properties, so a key such as `__proto__` stays a plain key.
  return ok ? Object.fromEntries(entries) : undefined;
}

/** Reports every key of `map` that is in neither `known` nor `tolerated`. */
export function reportUnknownKeys(
  ctx: Ctx,
  map: RawMap,
  path: string,
  known: ReadonlySet<string>,
  tolerated: ReadonlySet<string> = new Set(),
): void {
  for (const key of map.keys()) {
    if (!known.has(key) && !tolerated.has(key)) report(ctx, childPath(path, key), 'unknown key');
  }
}
