import { CLIENT_CAPABILITIES_META_KEY, isInputRequiredResult, type Client } from '@modelcontextprotocol/client';
import {
  ErrorCode,
  McpbusError,
  exposeResourceUri,
  exposeToolName,
  parseResourceUri,
  type ItemKind,
  type ListedItem,
  type ListItemsResult,
  type ServerRpcRequest,
} from '@mcpbus/protocol';
import { inputCapabilities, namespacePromptResult, requestFailure, scrubResult, type ServerSessions } from '@mcpbus/upstream';
import type { RequestStates } from './interaction.js';
import { fetchAllPages, settleServers, withDeadline } from './upstream-lists.js';

/** Where each kind of list lives upstream, and which field names an item. */
const KINDS: Readonly<Record<ItemKind, { method: 'resources/list' | 'resources/templates/list' | 'prompts/list'; field: string; id: string; capability: 'resources' | 'prompts' }>> = {
  resources: { method: 'resources/list', field: 'resources', id: 'uri', capability: 'resources' },
  resourceTemplates: { method: 'resources/templates/list', field: 'resourceTemplates', id: 'uriTemplate', capability: 'resources' },
  prompts: { method: 'prompts/list', field: 'prompts', id: 'name', capability: 'prompts' },
};

/** Every page of one list from one upstream; an upstream without the capability has none. */
async function fetchAll(sessions: ServerSessions, kind: ItemKind, timeoutMs: number): Promise<Record<string, unknown>[]> {
  const spec = KINDS[kind];
  const client = await sessions.acquire();
  if (client.getServerCapabilities()?.[spec.capability] === undefined) return [];
  return fetchAllPages(sessions, client, spec.method, spec.field, timeoutMs);
}

/** The namespaced form of one item: URIs under mcpbus://<server>/, prompt names prefixed like tools. */
function expose(kind: ItemKind, server: string, item: Record<string, unknown>, separator: string): ListedItem | undefined {
  const idField = KINDS[kind].id;
  const id = item[idField];
  if (typeof id !== 'string') return undefined;
  const exposed = kind === 'prompts' ? exposeToolName(server, id, separator) : exposeResourceUri(server, id);
  return { server, upstreamId: id, item: { ...item, [idField]: exposed } };
}

/**
 * Resources, resource templates or prompts of the given servers, fetched concurrently (every
 * page) within `deadlineMs`. A server that fails is reported and left out, as for tools.
 */
export async function listItems(kind: ItemKind, servers: readonly ServerSessions[], separator: string, deadlineMs: number): Promise<ListItemsResult> {
  const { results, failures } = await settleServers(servers, (s) => withDeadline(fetchAll(s, kind, deadlineMs), deadlineMs, s.server.name, `list its ${kind}`), deadlineMs);
  const items = results.flatMap(({ server, value }) => value.map((item) => expose(kind, server, item, separator)).filter((i): i is ListedItem => i !== undefined));
  return { items, failures };
}

function unknown(what: string): McpbusError {
  return new McpbusError(ErrorCode.InvalidParams, what);
}

/** The upstream's URI for a URI a client sent (exposed, or already the upstream's on single-server routes). */
function upstreamUri(req: ServerRpcRequest, uri: unknown): string {
  if (typeof uri !== 'string') throw unknown('uri must be a string');
  if (req.byUpstreamName === true) return uri;
  const parsed = parseResourceUri(uri);
  if (parsed === undefined || parsed.server !== req.server) throw unknown(`Unknown resource: ${uri}`);
  return parsed.uri;
}

/**
 * The upstream's prompt name for an exposed one. An unshortened name maps back by dropping the
 * prefix; only a shortened one needs the upstream's list to say which name it came from.
 */
async function upstreamPromptName(req: ServerRpcRequest, sessions: ServerSessions, separator: string, name: unknown, timeoutMs: number): Promise<string> {
  if (typeof name !== 'string') throw unknown('name must be a string');
  if (req.byUpstreamName === true) return name;
  const prefix = `${req.server}${separator}`;
  const direct = name.startsWith(prefix) ? name.slice(prefix.length) : undefined;
  if (direct !== undefined && exposeToolName(req.server, direct, separator) === name) return direct;
  const prompts = await fetchAll(sessions, 'prompts', timeoutMs);
  const match = prompts.find((p) => typeof p['name'] === 'string' && exposeToolName(req.server, p['name'], separator) === name);
  if (match === undefined) throw unknown(`Unknown prompt: ${name}`);
  return match['name'] as string;
}

/** The upstream form of a request's params: exposed names and URIs mapped back. */
async function upstreamParams(req: ServerRpcRequest, sessions: ServerSessions, separator: string, timeoutMs: number): Promise<Record<string, unknown>> {
  // The client's _meta (its progress token among it) has no meaning on a shared upstream session.
  const { _meta: _dropped, ...params } = req.params;
  if (req.method === 'resources/read') return { ...params, uri: upstreamUri(req, params['uri']) };
  if (req.method === 'prompts/get') return { ...params, name: await upstreamPromptName(req, sessions, separator, params['name'], timeoutMs) };
  const ref = params['ref'] as Record<string, unknown> | undefined;
  if (ref?.['type'] === 'ref/prompt') return { ...params, ref: { ...ref, name: await upstreamPromptName(req, sessions, separator, ref['name'], timeoutMs) } };
  if (ref?.['type'] === 'ref/resource') return { ...params, ref: { ...ref, uri: upstreamUri(req, ref['uri']) } };
  throw unknown('completion/complete needs a ref of type ref/prompt or ref/resource');
}

/**
 * resources/read, prompts/get and completion/complete for one server: identifiers mapped back
 * to the upstream's, the request relayed, and resource URIs in the answer namespaced again.
 */
export async function runServerRpc(req: ServerRpcRequest, sessions: ServerSessions, separator: string, input?: { owner: string; states: RequestStates; inputWaitMs: number }): Promise<Record<string, unknown>> {
  const remaining = (): number => Math.max(1, Math.min(sessions.server.timeoutMs, req.deadlineAt - Date.now() - 50));
  const params = await upstreamParams(req, sessions, separator, remaining());
  const timeoutMs = remaining();
  const client: Client = await sessions.acquire();
  // A 2026 client that can answer input, on a 2026 upstream: its rounds pass through (as for tools/call).
  const named = req.params['uri'] ?? req.params['name'];
  const identity = `${req.method} ${typeof named === 'string' ? named : ''}`;
  const interactive = input !== undefined && client.getProtocolEra() === 'modern' && (req.interaction !== undefined || req.requestState !== undefined);
  if (interactive) {
    if (req.interaction !== undefined) params['_meta'] = { [CLIENT_CAPABILITIES_META_KEY]: inputCapabilities(req.interaction.capabilities) };
    if (req.requestState !== undefined) {
      const state = input.states.open(input.owner, req.requestState);
      if (state.k !== 'up' || state.s !== sessions.server.name || state.t !== identity) throw new McpbusError(ErrorCode.InvalidParams, `Invalid requestState: it was issued for another request than ${identity}`);
      params['inputResponses'] = req.inputResponses ?? {};
      if (state.u !== undefined) params['requestState'] = state.u;
    }
  }
  let result: Record<string, unknown>;
  try {
    result = await client.request({ method: req.method, params }, { timeout: timeoutMs, ...(interactive ? { allowInputRequired: true } : {}) } as never);
  } catch (err: unknown) {
    throw requestFailure(sessions, client, err, { timeoutMs, aborted: false });
  }
  if (interactive && isInputRequiredResult(result)) {
    const sealed = input.states.seal(input.owner, { k: 'up', s: sessions.server.name, t: identity, ...(result.requestState === undefined ? {} : { u: result.requestState }), x: Date.now() + input.inputWaitMs });
    return { resultType: 'input_required', inputRequests: result.inputRequests ?? {}, requestState: sealed };
  }
  const scrubbed = scrubResult(result);
  if (req.byUpstreamName === true) return scrubbed;
  const contents = scrubbed['contents'];
  if (req.method === 'resources/read' && Array.isArray(contents)) {
    scrubbed['contents'] = (contents as Record<string, unknown>[]).map((c) => (typeof c['uri'] === 'string' ? { ...c, uri: exposeResourceUri(req.server, c['uri']) } : c));
  }
  return req.method === 'prompts/get' ? namespacePromptResult(req.server, scrubbed) : scrubbed;
}
