import { setTimeout as delay } from 'node:timers/promises';
import { ProtocolError, ProtocolErrorCode, type CallToolResult, type InputRequiredResult, type ServerContext, type Tool } from '@modelcontextprotocol/server';
import { INTERACTIVE_TOOLS } from './interactive-tools.js';

/** Per-call hooks the serving layer provides to the tools. */
export interface ToolEnv {
  /** Called by `crash`; must not return normally (it exits the process). */
  crash(): void;
  /** The level the session's client set with `logging/setLevel`, if any. */
  logLevel?(): string | undefined;
  /** Called by `touch`: bumps a counter (resource `fixture://counters/<name>`), returns its new value. */
  touch(name: string): number;
  /** A counter's value (0 for one never bumped). */
  counter(name: string): number;
}

export interface FixtureTool {
  definition: Tool;
  /** An `input_required` result asks the client for input (see interactive-tools.ts). */
  run(args: Record<string, unknown>, ctx: ServerContext, env: ToolEnv): Promise<CallToolResult | InputRequiredResult>;
}

/** Counters of the `slow` tool in this process. */
const slowStats = { started: 0, finished: 0, cancelled: 0 };

export const LONG_TOOL_NAME = 'a_tool_with_a_deliberately_very_long_name_that_exceeds_the_sixty_four_character_limit';

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

function invalid(message: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, message);
}

function readString(args: Record<string, unknown>, key: string, fallback?: string): string {
  const value = args[key] ?? fallback;
  if (typeof value !== 'string') throw invalid(`"${key}" must be a string`);
  return value;
}

function readNumber(args: Record<string, unknown>, key: string): number {
  const value = args[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`"${key}" must be a number`);
  return value;
}

function readInt(args: Record<string, unknown>, key: string, min: number, max: number, fallback?: number): number {
  const value = args[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`"${key}" must be an integer in ${min}..${max}`);
  }
  return value;
}

const EMPTY_INPUT = { type: 'object', properties: {}, additionalProperties: false } as const;

// Headers `whoami` reveals: enough to observe credential forwarding without dumping everything.
const isReportedHeader = (name: string): boolean => name === 'authorization' || name === 'x-api-key' || name.startsWith('x-');

/**
 * The fixture's tool table. The handlers check only what they need to run; `validate_me` and
 * `validate_2020` deliberately do no validation so a test can tell whether a gateway let invalid
 * arguments through (they answer `ok` to anything).
 */
export const FIXTURE_TOOLS: readonly FixtureTool[] = [
  {
    definition: {
      name: 'echo',
      description: 'Returns the given text unchanged.',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    run: args => Promise.resolve(text(readString(args, 'text'))),
  },
  {
    definition: {
      name: 'big',
      description: 'Returns a text of `bytes` characters (to test results larger than a transport carries).',
      inputSchema: { type: 'object', properties: { bytes: { type: 'integer', minimum: 0, maximum: 16_777_216 } }, required: ['bytes'] },
      annotations: { readOnlyHint: true },
    },
    run: args => Promise.resolve(text('x'.repeat(readInt(args, 'bytes', 0, 16_777_216)))),
  },
  {
    definition: {
      name: 'add',
      description: 'Adds two numbers; the sum is also returned as structured content.',
      inputSchema: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
        additionalProperties: false,
      },
      outputSchema: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    run: args => {
      const sum = readNumber(args, 'a') + readNumber(args, 'b');
      return Promise.resolve({ content: [{ type: 'text', text: String(sum) }], structuredContent: { sum } });
    },
  },
  {
    definition: {
      name: 'slow',
      description: 'Runs `steps` steps `delayMs` apart, reporting progress when asked; stops early when cancelled.',
      inputSchema: {
        type: 'object',
        properties: {
          steps: { type: 'integer', minimum: 0, maximum: 1000, default: 3 },
          delayMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 50 },
          stamp: { type: 'boolean', description: 'Progress messages carry the send time (epoch ms, fractional), to measure relay latency.' },
        },
      },
      annotations: { readOnlyHint: true },
    },
    run: async (args, ctx) => {
      const steps = readInt(args, 'steps', 0, 1000, 3);
      const delayMs = readInt(args, 'delayMs', 0, 60_000, 50);
      const stamp = args['stamp'] === true;
      const token = ctx.mcpReq._meta?.progressToken;
      const { signal } = ctx.mcpReq;
      slowStats.started += 1;
      signal.addEventListener('abort', () => (slowStats.cancelled += 1), { once: true });
      let done = 0;
      for (let i = 1; i <= steps && !signal.aborted; i++) {
        await delay(delayMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
        done = i;
        if (token !== undefined) {
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken: token, progress: i, total: steps, message: stamp ? `sent ${performance.timeOrigin + performance.now()}` : `step ${i}/${steps}` },
          });
        }
      }
      if (!signal.aborted) slowStats.finished += 1;
      return text(`done after ${done} steps`);
    },
  },
  {
    definition: {
      name: 'slow_stats',
      description: 'How many `slow` calls this process started, finished and saw cancelled (to observe cancellation).',
      inputSchema: EMPTY_INPUT,
      annotations: { readOnlyHint: true },
    },
    run: () => Promise.resolve(text(JSON.stringify(slowStats))),
  },
  {
    definition: {
      name: 'link',
      description: 'Returns a resource link and an embedded resource, both naming fixture://static/readme.',
      inputSchema: EMPTY_INPUT,
      annotations: { readOnlyHint: true },
    },
    run: () =>
      Promise.resolve({
        content: [
          { type: 'resource_link', uri: 'fixture://static/readme', name: 'readme', mimeType: 'text/plain' },
          { type: 'resource', resource: { uri: 'fixture://static/readme', mimeType: 'text/plain', text: 'The fixture server, for mcpbus tests.' } },
        ],
      }),
  },
  {
    definition: {
      name: 'touch',
      description: 'Bumps the counter `name`: resource fixture://counters/<name> changes, and its subscribers are told (notifications/resources/updated).',
      inputSchema: { type: 'object', properties: { name: { type: 'string', pattern: '^[A-Za-z0-9_]{1,32}$' } }, required: ['name'] },
    },
    run: (args, _ctx, env) => {
      const name = readString(args, 'name');
      if (!/^[A-Za-z0-9_]{1,32}$/.test(name)) throw invalid('"name" must be 1-32 of A-Za-z0-9_');
      return Promise.resolve(text(String(env.touch(name))));
    },
  },
  {
    definition: {
      name: 'pid',
      description: 'The process id of this fixture (to tell pooled stdio sessions apart).',
      inputSchema: EMPTY_INPUT,
      annotations: { readOnlyHint: true },
    },
    run: () => Promise.resolve(text(String(process.pid))),
  },
  {
    definition: {
      name: 'fail',
      description: 'Returns a tool-level error (isError: true) with the given message.',
      inputSchema: { type: 'object', properties: { message: { type: 'string' } } },
    },
    run: args => Promise.resolve({ ...text(readString(args, 'message', 'fixture failure')), isError: true }),
  },
  {
    definition: {
      name: 'throw',
      description: 'Throws, so the call fails with a JSON-RPC internal error.',
      inputSchema: EMPTY_INPUT,
    },
    run: () => Promise.reject(new ProtocolError(ProtocolErrorCode.InternalError, 'fixture threw')),
  },
  {
    definition: {
      name: 'crash',
      description: 'Kills the fixture process (exit code 1) after `afterMs`; never returns.',
      inputSchema: { type: 'object', properties: { afterMs: { type: 'integer', minimum: 0, default: 50 } } },
      annotations: { destructiveHint: true },
    },
    run: (args, _ctx, env) => {
      const afterMs = readInt(args, 'afterMs', 0, Number.MAX_SAFE_INTEGER, 50);
      setTimeout(() => env.crash(), afterMs);
      return new Promise<never>(() => {});
    },
  },
  {
    definition: {
      name: 'sleep',
      description: 'Waits `ms` milliseconds (cancellable), then returns.',
      inputSchema: {
        type: 'object',
        properties: { ms: { type: 'integer', minimum: 0, maximum: 600_000 } },
        required: ['ms'],
      },
      annotations: { readOnlyHint: true },
    },
    run: async (args, ctx) => {
      const ms = readInt(args, 'ms', 0, 600_000);
      await delay(ms, undefined, { signal: ctx.mcpReq.signal });
      return text(`slept ${ms}`);
    },
  },
  {
    definition: {
      name: 'validate_me',
      description: 'Declares a draft-07 input schema (email format, integer bounds, maxItems); answers ok to anything.',
      inputSchema: {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        required: ['email', 'count'],
        properties: {
          email: { type: 'string', format: 'email' },
          count: { type: 'integer', minimum: 1, maximum: 10 },
          tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
        },
        additionalProperties: false,
      },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    run: () => Promise.resolve(text('ok')),
  },
  {
    definition: {
      name: 'validate_2020',
      description: 'Declares a 2020-12 input schema ($defs/$ref, prefixItems, date-time); answers ok to anything.',
      inputSchema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: { coordinate: { type: 'number' } },
        required: ['point'],
        properties: {
          point: { type: 'array', prefixItems: [{ $ref: '#/$defs/coordinate' }, { $ref: '#/$defs/coordinate' }], items: false },
          when: { type: 'string', format: 'date-time' },
        },
        additionalProperties: false,
      },
      annotations: { readOnlyHint: true, idempotentHint: true },
    },
    run: () => Promise.resolve(text('ok')),
  },
  {
    definition: {
      name: LONG_TOOL_NAME,
      description: 'Has a name longer than 64 characters, to exercise tool-name limits in clients and gateways.',
      inputSchema: EMPTY_INPUT,
    },
    run: () => Promise.resolve(text('long name ok')),
  },
  {
    definition: {
      name: 'whoami',
      description: 'Returns, as JSON, the authorization, x-api-key and x-* headers of the HTTP request that carried the call ({} over stdio).',
      inputSchema: EMPTY_INPUT,
      annotations: { readOnlyHint: true },
    },
    run: (_args, ctx) => {
      const seen: Record<string, string> = {};
      for (const [name, value] of ctx.http?.req?.headers ?? []) if (isReportedHeader(name)) seen[name] = value;
      return Promise.resolve(text(JSON.stringify(seen)));
    },
  },
  {
    definition: {
      name: 'env',
      description: 'Returns the value of an environment variable of the fixture process (empty when unset).',
      inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      annotations: { readOnlyHint: true },
    },
    run: args => Promise.resolve(text(process.env[readString(args, 'name')] ?? '')),
  },
  ...INTERACTIVE_TOOLS,
];
