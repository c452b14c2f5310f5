import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { runRoles, type Role, type RolesHandle } from '@mcpbus/cli';
import { loadRuntimeEnv, parseConfig } from '@mcpbus/config';
import { createLogger } from '@mcpbus/logging';
import { deleteSubmitStream, fixtureStdio } from '../harness/gateway.js';
import { freePort } from '../harness/wait.js';
import { NATS_URL, REDIS_URL } from '../harness/paths.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';

const secret = (what: string): string => `${what}-${randomBytes(8).toString('hex')}`;
/** Every secret the gateway handles in this file; none may reach a log line. */
const SECRETS = {
  masterKey: secret('sk-master'),
  upstreamAuthValue: secret('upstream-auth-value'),
  upstreamUrlToken: secret('url-token'),
  stdioEnv: secret('stdio-env'),
  clientServerHeader: secret('client-x-mcp-web'),
  clientJobHeader: secret('client-x-mcp-jobs'),
  clientMcpAuth: secret('client-x-mcp-auth'),
};

let http: FixtureHttpHandle;
const roles: RolesHandle[] = [];
let url: string;
let root: string;
const lines: string[] = [];

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  const deadPort = await freePort();
  root = `t${randomBytes(6).toString('hex')}`;
  const doc = {
    mcp_servers: {
      web: { url: http.url, auth_type: 'bearer_token', auth_value: SECRETS.upstreamAuthValue },
      jobs: { url: http.url, execution: 'job', accept_client_auth: true, auth_type: 'api_key', auth_value: SECRETS.upstreamAuthValue },
      // An upstream that cannot be reached, with a token in its URL: its failures are logged.
      gone: { url: `http://127.0.0.1:${deadPort}/mcp?token=${SECRETS.upstreamUrlToken}`, auth_type: 'bearer_token', auth_value: SECRETS.upstreamAuthValue, timeout_ms: 2_000 },
      fx: fixtureStdio({ env: { FIXTURE_TOKEN: SECRETS.stdioEnv } }),
    },
    general_settings: { master_key: SECRETS.masterKey },
    mcpbus_settings: { subject_root: root },
  };
  const config = parseConfig(stringify(doc), { env: {} });
  const runtime = loadRuntimeEnv({ NATS_URL, REDIS_URL });
  // Every line of every role, at the most talkative level, as mcpbus writes them.
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const log = createLogger({ level: 'trace', service: 'mcpbus', destination });
  const start = (which: Role[]) => runRoles({ config, runtime, roles: which, port: 0, host: '127.0.0.1', log });
  roles.push(await start(['worker']), await start(['runner']));
  const ingress = await start(['ingress']);
  roles.push(ingress);
  url = `${ingress.ingress?.url ?? ''}/mcp`;
});

afterAll(async () => {
  for (const handle of roles.reverse()) await handle.close().catch(() => undefined);
  await deleteSubmitStream(root).catch(() => undefined);
  await http?.close();
});

const call = (name: string, args: Record<string, unknown>, headers: Record<string, string> = {}) =>
  legacyRpc(url, { Authorization: `Bearer ${SECRETS.masterKey}`, ...headers }, 'tools/call', { name, arguments: args }).then(responseOf);
const parsed = (): Record<string, unknown>[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logs', () => {
  it('carry the call id on the lines of a call in the ingress, the worker and the runner, and no secret at all', async () => {
    expect((await call('web-whoami', {}, { 'x-mcp-web-x-tenant-token': SECRETS.clientServerHeader })).result).toBeDefined();
    expect((await call('jobs-whoami', {}, { 'x-mcp-jobs-authorization': `Bearer ${SECRETS.clientJobHeader}`, 'x-mcp-auth': `Bearer ${SECRETS.clientMcpAuth}` })).result).toBeDefined();
    expect((await call('fx-echo', { text: 'over stdio' })).result).toBeDefined();
    expect((await call('gone-echo', {})).error).toBeDefined();
    expect((await call('web-fail', {})).result?.['isError']).toBe(true);
    // Every line of a call is written before its reply is sent (the runner's before it announces the end).
    const records = parsed();
    const relayed = (tool: string) => records.find((r) => r['msg'] === 'tool call relayed' && r['tool'] === tool);
    for (const tool of ['web-whoami', 'jobs-whoami', 'fx-echo', 'gone-echo', 'web-fail']) {
      const ingressLine = relayed(tool);
      expect(ingressLine, `the ingress line of ${tool}`).toBeDefined();
      const callId = ingressLine?.['callId'] as string;
      expect(callId).toMatch(/^[A-Za-z0-9_-]+$/);
      const ofCall = records.filter((r) => r['callId'] === callId);
      expect(ofCall.some((r) => r['role'] === 'worker' && r['msg'] === 'tool call'), `a worker line of ${tool}`).toBe(true);
      // Every line of the call carries its id at the top level, as a child logger binds it.
      for (const record of records.filter((r) => JSON.stringify(r['audit'] ?? {}).includes(callId))) expect(record['callId']).toBe(callId);
    }
    const jobId = relayed('jobs-whoami')?.['callId'] as string;
    expect(records.some((r) => r['callId'] === jobId && r['role'] === 'runner' && r['msg'] === 'tool call')).toBe(true);

    const everything = lines.join('\n');
    expect(lines.length).toBeGreaterThan(20);
    for (const [what, value] of Object.entries(SECRETS)) expect(everything.includes(value), `${what} appears in the logs`).toBe(false);
  });
});
