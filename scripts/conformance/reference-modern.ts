// Tools of the 2026-07-28 scenarios: the multi-round-trip tools and prompt of the
// `input-required-result-*` scenarios (SEP-2322), each answering `input_required` until the retry
// carries the responses it asked for, and the diagnostic tools `server-stateless` probes (SEP-2575).
import { randomBytes } from 'node:crypto';
import {
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  MissingRequiredClientCapabilityError,
  type CallToolResult,
  type GetPromptResult,
  type InputRequiredResult,
  type InputRequest,
  type ServerContext,
  type Tool,
} from '@modelcontextprotocol/server';

/** Signs `requestState`; a fresh key per process, which serves every round of a flow here. */
export const STATE_CODEC = createRequestStateCodec<{ round: number; name?: string }>({ key: randomBytes(32) });

const NO_ARGS = { type: 'object', properties: {} } as const;

const ask = (message: string, field: string, type: 'string' | 'boolean' = 'string'): InputRequest =>
  inputRequired.elicit({ message, requestedSchema: { type: 'object', properties: { [field]: type === 'string' ? { type: 'string' } : { type: 'boolean' } }, required: [field] } });

const askName = (): InputRequest => ask('What is your name?', 'name');
const askCapital = (): InputRequest =>
  inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }], maxTokens: 100 });

export const MRTR_TOOLS: readonly Tool[] = [
  'test_input_required_result_elicitation',
  'test_input_required_result_sampling',
  'test_input_required_result_list_roots',
  'test_input_required_result_request_state',
  'test_input_required_result_multiple_inputs',
  'test_input_required_result_multi_round',
  'test_input_required_result_tampered_state',
  'test_input_required_result_capabilities',
].map(name => ({ name, description: `Multi-round-trip (input_required) test tool ${name}.`, inputSchema: NO_ARGS }));

/** The diagnostic tools of `server-stateless`. */
export const STATELESS_TOOLS: readonly Tool[] = [
  { name: 'test_missing_capability', description: 'Needs the client to declare sampling.', inputSchema: NO_ARGS },
  { name: 'test_streaming_elicitation', description: 'Asks the user a question (input_required on 2026-07-28).', inputSchema: NO_ARGS },
  { name: 'test_logging_tool', description: 'Logs at info level, then answers.', inputSchema: NO_ARGS },
  {
    name: 'test_custom_header',
    description: 'Echoes its region, which 2026-07-28 clients also send as the Mcp-Param-Region header (SEP-2243).',
    inputSchema: { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' } }, required: ['region'] },
  },
];

function clientCapabilities(ctx: ServerContext): Record<string, unknown> {
  const envelope = (ctx.mcpReq.envelope ?? {}) as Record<string, unknown>;
  return (envelope['io.modelcontextprotocol/clientCapabilities'] ?? {}) as Record<string, unknown>;
}

/** Runs diagnostic tool `name` of a 2026-07-28 request, or returns undefined when `name` is not one. */
export async function callStatelessTool(name: string, args: Record<string, unknown>, ctx: ServerContext): Promise<CallToolResult | InputRequiredResult | undefined> {
  switch (name) {
    case 'test_missing_capability':
      if (clientCapabilities(ctx)['sampling'] === undefined) throw new MissingRequiredClientCapabilityError({ requiredCapabilities: { sampling: {} } });
      return { content: [{ type: 'text', text: 'the client declared sampling' }] };
    case 'test_streaming_elicitation':
      return has(ctx, 'answer') ? { content: [{ type: 'text', text: 'answered' }] } : inputRequired({ inputRequests: { answer: ask('Continue?', 'ok', 'boolean') } });
    case 'test_custom_header':
      return { content: [{ type: 'text', text: `region ${String(args['region'])}` }] };
    case 'test_logging_tool':
      await ctx.mcpReq.log('info', 'test_logging_tool ran');
      return { content: [{ type: 'text', text: 'logged' }] };
    default:
      return undefined;
  }
}

const done = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

const textOf = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value ?? ''));

function has(ctx: ServerContext, key: string): boolean {
  return inputResponse(ctx.mcpReq.inputResponses, key).kind !== 'missing';
}

async function multiRound(ctx: ServerContext): Promise<CallToolResult | InputRequiredResult> {
  const state = ctx.mcpReq.inputResponses === undefined ? undefined : ctx.mcpReq.requestState<{ round: number; name?: string }>();
  if (state?.round === 1 && has(ctx, 'step1')) {
    const view = inputResponse(ctx.mcpReq.inputResponses, 'step1');
    const name = view.kind === 'elicit' ? textOf(view.content?.['name']) : '';
    return inputRequired({ inputRequests: { step2: ask('Step 2: What is your favorite color?', 'color') }, requestState: await STATE_CODEC.mint({ round: 2, name }) });
  }
  if (state?.round === 2 && has(ctx, 'step2')) return done(`multi-round complete for ${state.name ?? ''}`);
  return inputRequired({ inputRequests: { step1: ask('Step 1: What is your name?', 'name') }, requestState: await STATE_CODEC.mint({ round: 1 }) });
}

async function withState(ctx: ServerContext, key: string, request: () => InputRequest, answer: string): Promise<CallToolResult | InputRequiredResult> {
  if (has(ctx, key) && ctx.mcpReq.requestState() !== undefined) return done(answer);
  return inputRequired({ inputRequests: { [key]: request() }, requestState: await STATE_CODEC.mint({ round: 1 }) });
}

/** Runs MRTR tool `name`, or returns undefined when `name` is not one. */
export async function callMrtrTool(name: string, ctx: ServerContext): Promise<CallToolResult | InputRequiredResult | undefined> {
  switch (name) {
    case 'test_input_required_result_elicitation':
      return has(ctx, 'user_name') ? done('Hello, you answered the elicitation') : inputRequired({ inputRequests: { user_name: askName() } });
    case 'test_input_required_result_sampling': {
      const view = inputResponse(ctx.mcpReq.inputResponses, 'capital_question');
      if (view.kind !== 'sampling') return inputRequired({ inputRequests: { capital_question: askCapital() } });
      const content = Array.isArray(view.result.content) ? view.result.content[0] : view.result.content;
      return done(`Sampling said: ${content?.type === 'text' ? content.text : ''}`);
    }
    case 'test_input_required_result_list_roots': {
      const view = inputResponse(ctx.mcpReq.inputResponses, 'client_roots');
      if (view.kind !== 'roots') return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
      return done(`Roots: ${view.roots.map(r => r.uri).join(', ')}`);
    }
    case 'test_input_required_result_request_state':
    case 'test_input_required_result_tampered_state':
      return withState(ctx, 'confirm', () => ask('Please confirm', 'ok', 'boolean'), 'state-ok');
    case 'test_input_required_result_multiple_inputs': {
      if (['user_name', 'greeting', 'client_roots'].every(key => has(ctx, key)) && ctx.mcpReq.requestState() !== undefined) return done('all inputs received');
      const greeting = inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }], maxTokens: 50 });
      return inputRequired({
        inputRequests: { user_name: askName(), greeting, client_roots: inputRequired.listRoots() },
        requestState: await STATE_CODEC.mint({ round: 1 }),
      });
    }
    case 'test_input_required_result_multi_round':
      return multiRound(ctx);
    case 'test_input_required_result_capabilities': {
      const caps = clientCapabilities(ctx);
      const requests: Record<string, InputRequest> = {};
      if (caps['elicitation'] !== undefined) requests['user_name'] = askName();
      if (caps['sampling'] !== undefined) requests['capital_question'] = askCapital();
      if (caps['roots'] !== undefined) requests['client_roots'] = inputRequired.listRoots();
      return Object.keys(requests).length === 0 ? done('the client declared nothing to ask with') : inputRequired({ inputRequests: requests });
    }
    default:
      return undefined;
  }
}

export const MRTR_PROMPT = { name: 'test_input_required_result_prompt', description: 'A prompt that first asks the user for context' };

/** prompts/get of the MRTR prompt. */
export function getMrtrPrompt(ctx: ServerContext): GetPromptResult | InputRequiredResult {
  const view = inputResponse(ctx.mcpReq.inputResponses, 'user_context');
  if (view.kind !== 'elicit') return inputRequired({ inputRequests: { user_context: ask('What context should the prompt use?', 'context') } });
  return { messages: [{ role: 'user', content: { type: 'text', text: `Use this context: ${textOf(view.content?.['context'])}` } }] };
}
