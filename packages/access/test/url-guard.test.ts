import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { blockedRange, guardedFetch, isAllowed, urlProblem, type Lookup } from '../src/url-guard.js';

const PUBLIC = '93.184.215.14';

/** A lookup answering from a table, counting its calls; unknown names fail like DNS does. */
function tableLookup(names: Record<string, readonly string[]>): Lookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = (hostname: string): Promise<{ address: string; family: number }[]> => {
    calls.push(hostname);
    const found = names[hostname];
    if (found === undefined) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
  return Object.assign(lookup, { calls });
}

interface TestServer {
  readonly port: number;
  readonly requests: string[];
}

const servers: Server[] = [];

async function startServer(handler: (path: string) => { status: number; headers?: Record<string, string>; body?: string }): Promise<TestServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const reply = handler(req.url ?? '');
    res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, requests };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  })));
});

/** The refusal undici wraps in `TypeError: fetch failed`, or what else the fetch ended with. */
async function fetchOutcome(run: () => Promise<Response>): Promise<{ status?: number; body?: string; code?: unknown; message?: string }> {
  try {
    const res = await run();
    return { status: res.status, body: await res.text() };
  } catch (err: unknown) {
    const cause = (err as { cause?: { code?: unknown; message?: string } }).cause;
    return { code: cause?.code, message: cause?.message ?? String(err) };
  }
}

describe('blockedRange', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'cloud metadata'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'reserved'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::FFFF:A9FE:A9FE', 'cloud metadata'],
    ['::ffff:10.1.2.3', 'private'],
    ['::127.0.0.1', 'loopback'],
    ['::ffff:0:192.168.0.1', 'private'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'cloud metadata'],
    ['2002:7f00:1::', 'loopback'],
    ['not-an-ip', 'invalid'],
  ])('%s is refused as %s', (ip, name) => {
    expect(blockedRange(ip)).toBe(name);
  });

  it.each(['1.1.1.1', '8.8.8.8', PUBLIC, '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.167.255.255', '192.169.0.0', '198.17.255.255', '198.20.0.0', '223.255.255.255', '2606:4700:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8', 'fbff::1', 'fe00::1'])('%s is public', (ip) => {
    expect(blockedRange(ip)).toBeUndefined();
  });
});

describe('isAllowed', () => {
  const policy = { allow: ['Internal.Example.com', '127.0.0.1', '10.0.0.0/8', 'fd00::/8', 'not a cidr/99'] };

  it('matches host names exactly and case-insensitively', () => {
    expect(isAllowed('internal.example.com', '10.9.9.9', policy)).toBe(true);
    expect(isAllowed('INTERNAL.EXAMPLE.COM.', undefined, policy)).toBe(true);
    expect(isAllowed('x.internal.example.com', '192.168.0.1', policy)).toBe(false);
  });

  it('matches addresses and CIDR ranges, IPv4-mapped forms included', () => {
    expect(isAllowed('a.test', '127.0.0.1', policy)).toBe(true);
    expect(isAllowed('a.test', '127.0.0.2', policy)).toBe(false);
    expect(isAllowed('a.test', '10.200.3.4', policy)).toBe(true);
    expect(isAllowed('a.test', '::ffff:10.200.3.4', policy)).toBe(true);
    expect(isAllowed('a.test', '11.0.0.1', policy)).toBe(false);
    expect(isAllowed('a.test', 'fd00::5', policy)).toBe(true);
    expect(isAllowed('a.test', 'fc00::5', policy)).toBe(false);
    expect(isAllowed('a.test', undefined, policy)).toBe(false);
  });
});

describe('urlProblem', () => {
  const lookup = tableLookup({
    'public.test': [PUBLIC],
    'private.test': ['10.1.2.3'],
    'mixed.test': [PUBLIC, '192.168.0.7'],
    'v6local.test': ['::1'],
    'internal.example.com': ['10.0.0.5'],
  });
  const none = { allow: [] };

  it('accepts a public host', async () => {
    expect(await urlProblem('https://public.test/mcp', none, lookup)).toBeUndefined();
    expect(await urlProblem('http://8.8.8.8:8080/mcp', none, lookup)).toBeUndefined();
  });

  it('refuses a private address with an actionable message that shows only the origin', async () => {
    expect(await urlProblem('http://10.1.2.3/mcp', none, lookup)).toBe(
      'url http://10.1.2.3 resolves to 10.1.2.3, a private address; servers added through the API may not reach private, loopback, link-local or metadata addresses unless mcpbus_settings.upstream_url_allowlist lists them',
    );
    const viaName = await urlProblem('http://private.test:9000/mcp/secret-path?token=hunter2', none, lookup);
    expect(viaName).toContain('url http://private.test:9000 resolves to 10.1.2.3, a private address');
    expect(viaName).not.toContain('secret-path');
    expect(viaName).not.toContain('hunter2');
  });

  it('refuses loopback, metadata and IPv6 forms', async () => {
    expect(await urlProblem('http://127.0.0.1:3000/mcp', none, lookup)).toContain('a loopback address');
    expect(await urlProblem('http://169.254.169.254/latest/meta-data', none, lookup)).toContain('a cloud metadata address');
    expect(await urlProblem('http://[::ffff:127.0.0.1]/mcp', none, lookup)).toContain('loopback');
    expect(await urlProblem('http://v6local.test/mcp', none, lookup)).toContain('resolves to ::1, a loopback address');
    expect(await urlProblem('http://0.0.0.0:80/', none, lookup)).toContain('an unspecified address');
    // WHATWG URL turns these spellings of 127.0.0.1 into the dotted form.
    expect(await urlProblem('http://2130706433/', none, lookup)).toContain('loopback');
    expect(await urlProblem('http://0x7f.1/', none, lookup)).toContain('loopback');
  });

  it('refuses a name resolving to one public and one private address', async () => {
    expect(await urlProblem('https://mixed.test/mcp', none, lookup)).toContain('resolves to 192.168.0.7, a private address');
  });

  it('accepts allow-listed hosts, addresses and ranges', async () => {
    expect(await urlProblem('http://internal.example.com/mcp', { allow: ['INTERNAL.example.com'] }, lookup)).toBeUndefined();
    expect(await urlProblem('http://private.test/mcp', { allow: ['10.1.2.3'] }, lookup)).toBeUndefined();
    expect(await urlProblem('http://private.test/mcp', { allow: ['10.0.0.0/8'] }, lookup)).toBeUndefined();
    expect(await urlProblem('http://private.test/mcp', { allow: ['10.1.2.4', '11.0.0.0/8'] }, lookup)).toContain('private');
    expect(await urlProblem('http://[fd00::1]/mcp', { allow: ['fd00::/8'] }, lookup)).toBeUndefined();
    expect(await urlProblem('https://mixed.test/mcp', { allow: ['192.168.0.0/16'] }, lookup)).toBeUndefined();
  });

  it('refuses other schemes, credentials, bad URLs and names that do not resolve', async () => {
    expect(await urlProblem('ftp://public.test/x', none, lookup)).toBe('url scheme "ftp" is not allowed; upstream servers are reached over http or https only');
    expect(await urlProblem('file:///etc/passwd', none, lookup)).toContain('scheme "file"');
    const creds = await urlProblem('https://admin:s3cret@public.test/mcp', none, lookup);
    expect(creds).toContain('url https://public.test carries credentials');
    expect(creds).not.toContain('s3cret');
    expect(await urlProblem('not a url', none, lookup)).toContain('not a valid absolute URL');
    expect(await urlProblem('http://nowhere.test/mcp?k=secret', none, lookup)).toBe('url http://nowhere.test: host nowhere.test does not resolve (ENOTFOUND); check the name, or that the gateway can resolve it');
  });
});

describe('guardedFetch against a real server on 127.0.0.1', () => {
  it('refuses to connect without an allow-list entry, and the server sees nothing', async () => {
    const server = await startServer(() => ({ status: 200, body: 'hello' }));
    const outcome = await fetchOutcome(() => guardedFetch({ allow: [] })(`http://127.0.0.1:${server.port}/mcp`));
    expect(outcome.code).toBe('EMCPBUS_SSRF');
    expect(outcome.message).toContain('127.0.0.1, a loopback address');
    expect(outcome.message).toContain('mcpbus_settings.upstream_url_allowlist');
    expect(server.requests).toEqual([]);
  });

  it('connects when the address is allow-listed', async () => {
    const server = await startServer(() => ({ status: 200, body: 'hello' }));
    const outcome = await fetchOutcome(() => guardedFetch({ allow: ['127.0.0.1'] })(`http://127.0.0.1:${server.port}/mcp`, { method: 'POST', body: '{}' }));
    expect(outcome).toEqual({ status: 200, body: 'hello' });
    expect(server.requests).toEqual(['/mcp']);
  });

  it('connects to the address the injected lookup returned', async () => {
    const server = await startServer(() => ({ status: 200, body: 'via lookup' }));
    const lookup = tableLookup({ 'anything.test': ['127.0.0.1'] });
    const outcome = await fetchOutcome(() => guardedFetch({ allow: ['127.0.0.1'] }, lookup)(`http://anything.test:${server.port}/`));
    expect(outcome).toEqual({ status: 200, body: 'via lookup' });
    expect(lookup.calls).toEqual(['anything.test']);
  });

  it('defeats DNS rebinding: the address checked at connect time is the one connected to', async () => {
    const server = await startServer(() => ({ status: 200, body: 'internal secrets' }));
    const calls: string[] = [];
    const rebinding: Lookup = (hostname) => {
      calls.push(hostname);
      return Promise.resolve([{ address: calls.length === 1 ? PUBLIC : '127.0.0.1', family: 4 }]);
    };
    const url = `http://rebind.test:${server.port}/mcp`;
    expect(await urlProblem(url, { allow: [] }, rebinding)).toBeUndefined();
    const outcome = await fetchOutcome(() => guardedFetch({ allow: [] }, rebinding)(url));
    expect(outcome.code).toBe('EMCPBUS_SSRF');
    expect(outcome.message).toContain('rebind.test at 127.0.0.1, a loopback address');
    expect(calls).toEqual(['rebind.test', 'rebind.test']);
    expect(server.requests).toEqual([]);
  });

  it('refuses a name that resolves to a public and a private address at connect time', async () => {
    const server = await startServer(() => ({ status: 200 }));
    const lookup = tableLookup({ 'mixed.test': [PUBLIC, '127.0.0.1'] });
    const outcome = await fetchOutcome(() => guardedFetch({ allow: [] }, lookup)(`http://mixed.test:${server.port}/`));
    expect(outcome.code).toBe('EMCPBUS_SSRF');
    expect(server.requests).toEqual([]);
  });

  it.each([
    ['a refused host name', (port: number) => `http://private.test:${port}/secret`],
    ['a refused IP literal', (port: number) => `http://127.0.0.1:${port}/secret`],
  ])('refuses a redirect from an allowed server to %s', async (_what, target) => {
    const internal = await startServer(() => ({ status: 200, body: 'internal secrets' }));
    const allowed = await startServer(() => ({ status: 302, headers: { location: target(internal.port) } }));
    const lookup = tableLookup({ 'allowed.test': ['127.0.0.1'], 'private.test': ['127.0.0.1'] });
    const outcome = await fetchOutcome(() => guardedFetch({ allow: ['allowed.test'] }, lookup)(`http://allowed.test:${allowed.port}/mcp`));
    expect(outcome.code).toBe('EMCPBUS_SSRF');
    expect(allowed.requests).toEqual(['/mcp']);
    expect(internal.requests).toEqual([]);
  });
});
