import type { Env } from './fields.js';

// LiteLLM's syntax for "take this value from the environment"; only a whole string counts.
const ENV_REF_PREFIX = 'os.environ/';

export type EnvRefResult = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly problem: string };

/** Resolves `os.environ/NAME`; returns undefined when `value` is not a reference at all. */
export function resolveEnvRef(value: string, env: Env): EnvRefResult | undefined {
  if (!value.startsWith(ENV_REF_PREFIX)) return undefined;
  const name = value.slice(ENV_REF_PREFIX.length);
  if (name === '') return { ok: false, problem: `"${value}" names no environment variable` };
  // Own properties only: a plain-object env would otherwise "define" names like `constructor`.
  const resolved = Object.hasOwn(env, name) ? env[name] : undefined;
  if (typeof resolved !== 'string') return { ok: false, problem: `environment variable ${name} is not set` };
  return { ok: true, value: resolved };
}
