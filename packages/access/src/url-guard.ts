import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, isIPv4, type LookupFunction } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';

/**
 * Destinations an admin has vouched for: host names (exact, case-insensitive), IP addresses or
 * CIDR ranges (`10.0.0.0/8`, `fd00::/8`). Comes from `mcpbus_settings.upstream_url_allowlist`.
 */
export interface UrlPolicy {
  readonly allow: readonly string[];
}

/** Resolves a host name to every address it has, like `dns.promises.lookup(host, { all: true })`. */
export type Lookup = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

/**
 * How every refusal's message starts. Some transports keep only the text of an error they wrap
 * (the SSE transport's "SSE error: …"), so this is how such a refusal is still recognised.
 */
export const SSRF_REFUSAL_PREFIX = 'mcpbus refused to connect to ';

/** Thrown (passed to undici) when a connection would reach a refused address; branch on `code`. */
export class SsrfRefusedError extends Error {
  readonly code = 'EMCPBUS_SSRF';
  override readonly name = 'SsrfRefusedError';
}

const SETTING = 'mcpbus_settings.upstream_url_allowlist';
const ADVICE = `servers added through the API may not reach private, loopback, link-local or metadata addresses unless ${SETTING} lists them`;

const systemLookup: Lookup = (hostname) => dns.lookup(hostname, { all: true });

type Parsed = { readonly v: 4; readonly n: number } | { readonly v: 6; readonly n: bigint };

function v4Number(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** 128-bit value of an IPv6 address (zone id dropped, a trailing dotted quad allowed). */
function v6Number(ip: string): bigint {
  const bare = ip.split('%')[0] ?? ip;
  const toGroups = (s: string): number[] => {
    if (s === '') return [];
    return s.split(':').flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16)];
      const v4 = v4Number(g);
      return [Math.floor(v4 / 65536), v4 % 65536];
    });
  };
  const [head = '', tail] = bare.split('::');
  const left = toGroups(head);
  const right = tail === undefined ? [] : toGroups(tail);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function parseIp(ip: string): Parsed | undefined {
  const family = isIP(ip);
  if (family === 4) return { v: 4, n: v4Number(ip) };
  if (family === 6) return { v: 6, n: v6Number(ip) };
  return undefined;
}

interface Range {
  readonly base: Parsed;
  readonly prefix: number;
}

function parseRange(cidr: string): Range | undefined {
  const [addr = '', bits, extra] = cidr.split('/');
  const base = parseIp(addr);
  if (base === undefined || extra !== undefined) return undefined;
  const max = base.v === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  return prefix >= 0 && prefix <= max ? { base, prefix } : undefined;
}

function inRange(ip: Parsed, range: Range): boolean {
  if (ip.v === 4 && range.base.v === 4) {
    const shift = 32 - range.prefix;
    return Math.floor(ip.n / 2 ** shift) === Math.floor(range.base.n / 2 ** shift);
  }
  if (ip.v === 6 && range.base.v === 6) {
    const shift = BigInt(128 - range.prefix);
    return ip.n >> shift === range.base.n >> shift;
  }
  return false;
}

function table(rows: readonly (readonly [string, string])[]): readonly (readonly [Range, string])[] {
  return rows.map(([cidr, name]) => {
    const range = parseRange(cidr);
    if (range === undefined) throw new Error(`bad built-in range ${cidr}`);
    return [range, name] as const;
  });
}

/** First match wins, so single addresses come before the ranges holding them. */
const V4_BLOCKED = table([
  ['169.254.169.254/32', 'cloud metadata'],
  ['100.100.100.200/32', 'cloud metadata'], // Alibaba Cloud
  ['192.0.0.192/32', 'cloud metadata'], // Oracle Cloud (legacy)
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
]);

const V6_BLOCKED = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fd00:ec2::254/128', 'cloud metadata'], // AWS IMDS over IPv6
  ['64:ff9b:1::/48', 'local-use NAT64'],
  ['100::/64', 'reserved'],
  ['2001:db8::/32', 'documentation'],
  ['fc00::/7', 'unique local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
]);

/** IPv6 forms that stand for an IPv4 host, with where that IPv4 address sits in them. */
const V4_CARRIERS = table([
  ['::ffff:0:0/96', 'mapped'],
  ['::ffff:0:0:0/96', 'translated'],
  ['::/96', 'compatible'],
  ['64:ff9b::/96', 'NAT64'],
]).map(([range]) => range);
const SIX_TO_FOUR = parseRange('2002::/16');

/** The IPv4 host an IPv6 address reaches (mapped, compatible, NAT64, 6to4), if any. */
function embeddedV4(ip: Parsed): Parsed | undefined {
  if (ip.v === 4) return ip;
  if (V4_CARRIERS.some((r) => inRange(ip, r))) return { v: 4, n: Number(ip.n & 0xffffffffn) };
  if (SIX_TO_FOUR !== undefined && inRange(ip, SIX_TO_FOUR)) return { v: 4, n: Number((ip.n >> 80n) & 0xffffffffn) };
  return undefined;
}

function classify(ip: Parsed): string | undefined {
  if (ip.v === 4) return V4_BLOCKED.find(([range]) => inRange(ip, range))?.[1];
  const special = V6_BLOCKED.slice(0, 3).find(([range]) => inRange(ip, range));
  if (special !== undefined) return special[1];
  const v4 = embeddedV4(ip);
  if (v4 !== undefined) return classify(v4);
  return V6_BLOCKED.find(([range]) => inRange(ip, range))?.[1];
}

/**
 * Why an address may not be reached by default ("loopback", "private", "cloud metadata", …),
 * or undefined for a public one. IPv6 forms carrying an IPv4 address are judged by that address;
 * something that is not an IP address at all is "invalid".
 */
export function blockedRange(ip: string): string | undefined {
  const parsed = parseIp(ip);
  return parsed === undefined ? 'invalid' : classify(parsed);
}

function normalHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
}

/** True when the host name or the address matches an entry of the allow-list. Malformed entries match nothing. */
export function isAllowed(host: string, ip: string | undefined, policy: UrlPolicy): boolean {
  const name = normalHost(host);
  const addr = ip === undefined ? undefined : parseIp(ip);
  const addrV4 = addr === undefined ? undefined : embeddedV4(addr);
  return policy.allow.some((entry) => {
    const trimmed = entry.trim();
    if (isIP(trimmed) === 0 && !trimmed.includes('/')) return normalHost(trimmed) === name;
    const range = parseRange(trimmed);
    if (range === undefined || addr === undefined) return false;
    return inRange(addr, range) || (addrV4 !== undefined && inRange(addrV4, range));
  });
}

function article(name: string): string {
  return /^([aeio]|un)/i.test(name) ? 'an' : 'a';
}

/** The first address the policy refuses, described, or undefined when all may be reached. */
function refusal(host: string, addresses: readonly string[], policy: UrlPolicy): string | undefined {
  const refused = addresses.flatMap((address) => {
    const name = blockedRange(address);
    return name === undefined || isAllowed(host, address, policy) ? [] : [`${address}, ${article(name)} ${name} address`];
  });
  if (refused.length === 0) return undefined;
  const more = refused.length > 1 ? ` (and ${refused.length - 1} more refused address${refused.length > 2 ? 'es' : ''})` : '';
  return `${refused[0] ?? ''}${more}`;
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
}

/**
 * Checks an upstream URL at registration time and returns an actionable message, or undefined
 * when it is acceptable. Messages show only the origin: paths and queries may carry secrets.
 */
export async function urlProblem(url: string, policy: UrlPolicy, lookup: Lookup = systemLookup): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'url is not a valid absolute URL; use e.g. https://mcp.example.com/mcp';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `url scheme "${parsed.protocol.slice(0, -1)}" is not allowed; upstream servers are reached over http or https only`;
  }
  const origin = parsed.origin;
  if (parsed.username !== '' || parsed.password !== '') {
    return `url ${origin} carries credentials (user:password@); remove them and pass them as a header (e.g. Authorization) of the server instead`;
  }
  const host = normalHost(parsed.hostname);
  let addresses: readonly string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host)).map((a) => a.address);
    } catch (err: unknown) {
      return `url ${origin}: host ${host} does not resolve (${errorCode(err)}); check the name, or that the gateway can resolve it`;
    }
    if (addresses.length === 0) return `url ${origin}: host ${host} resolves to no address; check the name`;
  }
  const why = refusal(host, addresses, policy);
  return why === undefined ? undefined : `url ${origin} resolves to ${why}; ${ADVICE}`;
}

function wantedFamily(options: LookupOptions): 4 | 6 | undefined {
  const f = options.family;
  return f === 4 || f === 'IPv4' ? 4 : f === 6 || f === 'IPv6' ? 6 : undefined;
}

/**
 * A `lookup` for `net.connect` / `tls.connect` that resolves with our resolver and hands back
 * only addresses it has checked. Node 20 calls it with `{ all: true }` (happy eyeballs) unless a
 * family is forced, and then wants an array; otherwise it wants `(err, address, family)`.
 */
function guardedNetLookup(policy: UrlPolicy, lookup: Lookup): LookupFunction {
  return (hostname, options, callback) => {
    const family = wantedFamily(options);
    lookup(hostname)
      .then((found) => {
        const addresses: LookupAddress[] = found.filter((a) => family === undefined || a.family === family).map((a) => ({ address: a.address, family: a.family }));
        const first = addresses[0];
        if (first === undefined) {
          callback(Object.assign(new Error(`${hostname} resolves to no usable address`), { code: 'ENOTFOUND', hostname }), '');
          return;
        }
        const why = refusal(hostname, addresses.map((a) => a.address), policy);
        if (why !== undefined) {
          callback(new SsrfRefusedError(`${SSRF_REFUSAL_PREFIX}${hostname} at ${why}; ${ADVICE}`), '');
          return;
        }
        if (options.all === true) callback(null, addresses);
        else callback(null, first.address, first.family);
      })
      .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), ''));
  };
}

/**
 * An undici Agent that checks every address it connects to, after resolving the name itself:
 * the address checked is the address connected to, which defeats DNS rebinding (and redirects
 * to private hosts). IP literals skip `lookup` in `net.connect`, so they are checked up front.
 */
export function guardedDispatcher(policy: UrlPolicy, lookup: Lookup = systemLookup): Agent {
  const connect = buildConnector({ lookup: guardedNetLookup(policy, lookup) });
  return new Agent({
    connect: (options, callback) => {
      const host = normalHost(options.hostname);
      const why = isIP(host) === 0 ? undefined : refusal(host, [host], policy);
      if (why !== undefined) {
        callback(new SsrfRefusedError(`${SSRF_REFUSAL_PREFIX}${isIPv4(host) ? host : `[${host}]`} at ${why}; ${ADVICE}`), null);
        return;
      }
      connect(options, callback);
    },
  });
}

/**
 * `fetch` through {@link guardedDispatcher}, for the MCP SDK's HTTP transports (`fetch` option).
 * undici's own fetch, so fetch and dispatcher come from the same undici (Node's global fetch bundles another).
 */
/** Dispatchers of the system resolver, one per allow-list: every transport of a server shares one (and its sockets). */
const sharedDispatchers = new Map<string, Agent>();

export function guardedFetch(policy: UrlPolicy, lookup?: Lookup): typeof fetch {
  let dispatcher: Agent;
  if (lookup === undefined) {
    const id = JSON.stringify(policy.allow);
    dispatcher = sharedDispatchers.get(id) ?? guardedDispatcher(policy);
    sharedDispatchers.set(id, dispatcher);
  } else {
    dispatcher = guardedDispatcher(policy, lookup);
  }
  const viaAgent = (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<unknown> => undiciFetch(input as never, { ...(init ?? {}), dispatcher } as never);
  return viaAgent as unknown as typeof fetch;
}
