import type { Client } from '@modelcontextprotocol/client';
import { connect } from '@nats-io/transport-node';
import { apiKeyHeaders } from '@mcpbus/bus';
import { FAILURES_META_KEY, createSubjects, type ListToolsRequest } from '@mcpbus/protocol';
import { connectSdkClient, type Target } from './load.js';
import { summarize, type Summary } from './stats.js';

/** One complete `tools/list` as a client sees it: every page, and the servers mcpbus reported as left out. */
interface FullList {
  names: string[];
  pages: number;
  failures: { server: string; code?: unknown; message?: string }[];
}

/**
 * Page by page, as a client without the SDK's helper does (`client.listTools()` without a cursor
 * fetches every page itself, the same requests, but does not say how many there were).
 */
async function listAllPages(client: Client): Promise<FullList> {
  const names: string[] = [];
  let failures: FullList['failures'] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, { timeout: 60_000 });
    pages += 1;
    names.push(...page.tools.map((t) => t.name));
    const reported = page._meta?.[FAILURES_META_KEY];
    if (Array.isArray(reported)) failures = reported as FullList['failures'];
    cursor = page.nextCursor;
  } while (cursor !== undefined && pages < 100);
  return { names, pages, failures };
}

/** What a list must hold: every live server's every tool, nothing of the dead one, and the dead one reported. */
export interface ListExpectation {
  live: readonly string[];
  toolsPerServer: number;
  separator: string;
  dead: string | undefined;
}

function problemOf(list: FullList, e: ListExpectation): string | undefined {
  const counts = new Map<string, number>();
  for (const name of list.names) {
    const server = name.slice(0, name.indexOf(e.separator));
    counts.set(server, (counts.get(server) ?? 0) + 1);
  }
  const short = e.live.filter((s) => counts.get(s) !== e.toolsPerServer);
  if (short.length > 0) return `${short.length} live server(s) incomplete, e.g. ${short[0] ?? ''} with ${counts.get(short[0] ?? '') ?? 0} tools`;
  if (list.names.length !== e.live.length * e.toolsPerServer) return `${list.names.length} tools, expected ${e.live.length * e.toolsPerServer}`;
  const reported = list.failures.map((f) => f.server).sort().join(',');
  if (reported !== (e.dead ?? '')) return `servers reported as left out: "${reported}", expected "${e.dead ?? ''}"`;
  return undefined;
}

export interface ListOutcome {
  /** Lists attempted. */
  count: number;
  /** Of the lists that succeeded. */
  latency: Summary;
  /** Samples whose list held every live server's tools (and reported the dead one, if any). */
  complete: number;
  tools: number;
  pages: number;
  /** What the dead server's failure said, from the last sample. */
  failure: string | undefined;
  firstProblem: string | undefined;
}

/**
 * `count` sequential complete lists (all pages) through mcpbus on one SDK client, after
 * `warmup` unrecorded ones; each is checked against `expect`.
 */
export async function gatewayLists(target: Target, count: number, warmup: number, expect: ListExpectation): Promise<ListOutcome> {
  const client = await connectSdkClient(target);
  const samples: number[] = [];
  let complete = 0;
  let last: FullList | undefined;
  let firstProblem: string | undefined;
  try {
    for (let i = -warmup; i < count; i += 1) {
      const startedAt = performance.now();
      let list: FullList;
      try {
        list = await listAllPages(client);
      } catch (err: unknown) {
        if (i >= 0) firstProblem ??= `list failed: ${err instanceof Error ? err.message : String(err)}`;
        continue;
      }
      const ms = performance.now() - startedAt;
      if (i < 0) continue;
      samples.push(ms);
      last = list;
      const problem = problemOf(list, expect);
      if (problem === undefined) complete += 1;
      else firstProblem ??= problem;
    }
  } finally {
    await client.close();
  }
  const failure = last?.failures.find((f) => f.server === expect.dead);
  return { count, latency: summarize(samples), complete, tools: last?.names.length ?? 0, pages: last?.pages ?? 0, failure: failure === undefined ? undefined : `${String(failure.code)} ${failure.message ?? ''}`, firstProblem };
}

/** The reference without a gateway: one SDK client per upstream, all `count` times listed in parallel. */
export async function directLists(urls: readonly string[], count: number, warmup: number, toolsPerServer: number): Promise<ListOutcome> {
  const clients = await Promise.all(urls.map((url) => connectSdkClient({ label: 'direct', url, headers: {}, echoTool: '', slowTool: '' })));
  const samples: number[] = [];
  let complete = 0;
  let tools = 0;
  try {
    for (let i = -warmup; i < count; i += 1) {
      const startedAt = performance.now();
      const lists = await Promise.all(clients.map((c) => c.listTools(undefined, { cacheMode: 'bypass' })));
      const ms = performance.now() - startedAt;
      if (i < 0) continue;
      samples.push(ms);
      tools = lists.reduce((n, l) => n + l.tools.length, 0);
      if (tools === urls.length * toolsPerServer) complete += 1;
    }
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
  }
  return { count, latency: summarize(samples), complete, tools, pages: 1, failure: undefined, firstProblem: undefined };
}

/** Size of the worker's reply to the ingress for one aggregated list (it must fit in one NATS message), and the server's limit. */
export async function busListBytes(natsUrl: string, apiKey: string, subjectRoot: string, servers: string[]): Promise<{ bytes: number; maxPayload: number }> {
  const nc = await connect({ servers: natsUrl, name: 'mcpbus-bench-lists' });
  try {
    const body: ListToolsRequest = { v: 1, deadlineAt: Date.now() + 10_000, servers };
    const headers = apiKeyHeaders(apiKey);
    const reply = await nc.request(createSubjects(subjectRoot).toolsList(), JSON.stringify(body), { timeout: 15_000, ...(headers === undefined ? {} : { headers }) });
    return { bytes: reply.data.length, maxPayload: nc.info?.max_payload ?? Number.NaN };
  } finally {
    await nc.drain();
  }
}
