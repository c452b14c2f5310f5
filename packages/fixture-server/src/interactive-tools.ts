import { setTimeout as delay } from 'node:timers/promises';
import { LOG_LEVEL_META_KEY, PROTOCOL_VERSION_META_KEY, UrlElicitationRequiredError, inputRequired, type CallToolResult, type InputRequiredResult, type ServerContext, type Tool } from '@modelcontextprotocol/server';

/**
 * Tools that ask the client for something, written the 2026-07-28 way: they return
 * `input_required` until the retry carries the answers. On a 2025-era session the SDK's legacy
 * shim turns each round into real `elicitation/create`, `sampling/createMessage` or `roots/list`
 * requests pushed to the client, so one tool exercises both eras of server-to-client requests.
 */
export interface InteractiveTool {
  definition: Tool;
  run(args: Record<string, unknown>, ctx: ServerContext, env: { logLevel?(): string | undefined; touch(name: string): number; counter(name: string): number }): Promise<CallToolResult | InputRequiredResult>;
}

const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });
const answers = (ctx: ServerContext): Record<string, unknown> => ctx.mcpReq.inputResponses ?? {};

/** The answers a multi-round tool collected so far, from the requestState it handed out (fixture only: not integrity-protected). */
function parseState(state: string | undefined): Record<string, unknown> {
  if (state === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(state);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A 2026-07-28 request's log level (from its `_meta` envelope; `level` unset when it named none); undefined for a 2025-era request. */
function requestLogLevel(ctx: ServerContext): { level: string | undefined } | undefined {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  if (envelope?.[PROTOCOL_VERSION_META_KEY] === undefined) return undefined;
  const level = envelope[LOG_LEVEL_META_KEY];
  return { level: typeof level === 'string' && LEVELS.includes(level) ? level : undefined };
}

export const INTERACTIVE_TOOLS: readonly InteractiveTool[] = [
  {
    definition: {
      name: 'log',
      description:
        'Sends one notifications/message per entry of `levels` at or above the level asked for, then returns that level. ' +
        'A 2025-era session sets it with logging/setLevel (unset: every message is sent); a 2026-07-28 request names it in _meta (unset: none is sent, as the spec says).',
      inputSchema: {
        type: 'object',
        properties: {
          levels: { type: 'array', items: { type: 'string', enum: LEVELS } },
          // Spreads the messages out, so calls of several callers overlap on the upstream.
          delayMs: { type: 'integer', minimum: 0, maximum: 5_000, default: 0 },
        },
      },
    },
    run: async (args, ctx, env) => {
      const delayMs = typeof args['delayMs'] === 'number' ? args['delayMs'] : 0;
      const modern = requestLogLevel(ctx);
      const set = modern === undefined ? env.logLevel?.() : modern.level;
      const floor = set === undefined ? 0 : LEVELS.indexOf(set);
      // A 2026 request that named no level must get no log messages.
      const silent = modern !== undefined && set === undefined;
      const levels = Array.isArray(args['levels']) ? (args['levels'] as string[]) : ['info'];
      for (const level of levels) {
        if (delayMs > 0) await delay(delayMs);
        if (silent || LEVELS.indexOf(level) < floor) continue;
        await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: level, logger: 'fixture', data: `a ${level} message` } });
      }
      return text(`log level: ${set ?? 'unset'}`);
    },
  },
  {
    definition: {
      name: 'ask',
      description: 'Asks the user (elicitation) for an answer, `rounds` times (one question per round), then returns every answer.',
      inputSchema: { type: 'object', properties: { question: { type: 'string' }, rounds: { type: 'integer', minimum: 1, maximum: 5 } } },
    },
    run: (args, ctx) => {
      const rounds = typeof args['rounds'] === 'number' ? args['rounds'] : 1;
      // A client sends back only the last round's answers: earlier ones travel in requestState.
      const earlier = parseState(ctx.mcpReq.requestState<string>());
      const given = { ...earlier, ...answers(ctx) };
      const done = Object.keys(given).filter((k) => k.startsWith('answer')).length;
      if (done < rounds) {
        const question = typeof args['question'] === 'string' ? args['question'] : 'What is your answer?';
        return Promise.resolve(
          inputRequired({
            inputRequests: {
              [`answer${done + 1}`]: inputRequired.elicit({
                message: rounds === 1 ? question : `${question} (${done + 1}/${rounds})`,
                requestedSchema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
              }),
            },
            requestState: JSON.stringify(given),
          }),
        );
      }
      return Promise.resolve(text(JSON.stringify({ answers: given })));
    },
  },
  {
    definition: {
      name: 'ask_then_work',
      description:
        'Reports progress 0, asks the user for a go-ahead (elicitation), then works `steps` steps `delayMs` apart reporting progress, and stops early when cancelled. ' +
        'With `counter`, bumps counter `<counter>_finished` or `<counter>_cancelled` as it stops (see `touch`): another process sharing the state directory can tell how it ended.',
      inputSchema: {
        type: 'object',
        properties: {
          steps: { type: 'integer', minimum: 0, maximum: 1000, default: 3 },
          delayMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 50 },
          counter: { type: 'string', pattern: '^[A-Za-z0-9_]{1,20}$' },
        },
      },
    },
    run: async (args, ctx, env) => {
      const steps = typeof args['steps'] === 'number' ? args['steps'] : 3;
      const delayMs = typeof args['delayMs'] === 'number' ? args['delayMs'] : 50;
      const counter = typeof args['counter'] === 'string' && /^[A-Za-z0-9_]{1,20}$/.test(args['counter']) ? args['counter'] : undefined;
      const token = ctx.mcpReq._meta?.progressToken;
      const progress = async (value: number, message: string): Promise<void> => {
        if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: value, total: steps, message } });
      };
      if (answers(ctx)['go'] === undefined) {
        await progress(0, 'asking for a go-ahead');
        return inputRequired({ inputRequests: { go: inputRequired.elicit({ message: 'Go ahead?', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } } } }) } });
      }
      const { signal } = ctx.mcpReq;
      let done = 0;
      for (let i = 1; i <= steps && !signal.aborted; i += 1) {
        await delay(delayMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
        done = i;
        await progress(i, `step ${i}/${steps}`);
      }
      if (counter !== undefined) env.touch(`${counter}_${signal.aborted ? 'cancelled' : 'finished'}`);
      return text(`done after ${done} steps`);
    },
  },
  {
    definition: {
      name: 'sample',
      description: 'Asks the client to sample an LLM (sampling/createMessage) with `prompt` and returns what it answered.',
      inputSchema: { type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'] },
    },
    run: (args, ctx) => {
      const reply = answers(ctx)['completion'];
      if (reply === undefined) {
        const prompt = typeof args['prompt'] === 'string' ? args['prompt'] : '';
        return Promise.resolve(
          inputRequired({
            inputRequests: { completion: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 }) },
          }),
        );
      }
      return Promise.resolve(text(JSON.stringify({ completion: reply })));
    },
  },
  {
    // The 2025-11-25 way of asking for a URL (a tool cannot return input_required in that era):
    // the call is refused with URLElicitationRequiredError (-32042), and the client calls again
    // once the user is done at the URL. On a 2026-07-28 request the SDK turns the throw into -32603.
    definition: {
      name: 'link_required',
      description:
        'Needs the user to link `account` at a URL first (2025-11-25 URL-mode elicitation): until counter `linked_<account>` was bumped (with `touch`, as the page at the URL would), ' +
        'answers the JSON-RPC error -32042 naming that URL; then bumps counter `<account>_runs` and says how many times it ran.',
      inputSchema: { type: 'object', properties: { account: { type: 'string', pattern: '^[A-Za-z0-9_]{1,20}$' } }, required: ['account'] },
    },
    run: (args, _ctx, env) => {
      const account = typeof args['account'] === 'string' && /^[A-Za-z0-9_]{1,20}$/.test(args['account']) ? args['account'] : 'default';
      if (env.counter(`linked_${account}`) === 0)
        throw new UrlElicitationRequiredError(
          [{ mode: 'url', url: `https://fixture.example/link?account=${account}`, message: `Link your ${account} account to go on`, elicitationId: `link-${account}` }],
          `The ${account} account is not linked yet`,
        );
      return Promise.resolve(text(`ran with the ${account} account (run ${env.touch(`${account}_runs`)})`));
    },
  },
  {
    definition: {
      name: 'roots',
      description: "Asks the client for its roots (roots/list) and returns them.",
      inputSchema: { type: 'object', properties: {} },
    },
    run: (_args, ctx) => {
      const reply = answers(ctx)['roots'];
      if (reply === undefined) return Promise.resolve(inputRequired({ inputRequests: { roots: inputRequired.listRoots() } }));
      return Promise.resolve(text(JSON.stringify(reply)));
    },
  },
];
