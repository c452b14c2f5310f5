// Deployment files (Dockerfile, docker-compose.yml, deploy/*) checked against the code they
// start, so they fail here, not on someone's `docker compose up`, when either side drifts.
// Nothing here runs Docker; it reads the files.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type McpbusConfig, parseConfig } from '@mcpbus/config';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROLES } from '../src/run-roles.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');
const inRepo = (path: string): boolean => existsSync(join(repoRoot, path));

const CLI_SCRIPT = 'packages/cli/src/main.ts';
const INGRESS_SOURCE = 'services/ingress/src/start-ingress.ts';
const MCP_HEADERS = ['Mcp-Session-Id', 'Mcp-Method', 'Mcp-Name', 'MCP-Protocol-Version'];

// --- docker-compose.yml -------------------------------------------------------------------

interface ComposeService {
  image?: string;
  build?: unknown;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  stop_grace_period?: string;
  deploy?: { replicas?: number };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);

// --- Dockerfile ---------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
  /** 0-based index of the FROM stage this instruction belongs to. */
  stage: number;
}

function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    pending += `${line.replace(/\\\s*$/, '').trim()} `;
    if (!continued) {
      logical.push(pending.trim());
      pending = '';
    }
  }
  if (pending.trim() !== '') logical.push(pending.trim());
  let stage = -1;
  return logical.map((entry) => {
    const [keyword = '', ...rest] = entry.split(/\s+/);
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') stage += 1;
    return { keyword: upper, args: rest.join(' '), stage };
  });
}

/** `["a", "b"]` (exec form) as a list; anything else is a shell-form string, which we do not use. */
function execForm(args: string, what: string): string[] {
  expect(args.startsWith('['), `${what} should use the exec form (a JSON array), got: ${args}`).toBe(true);
  return JSON.parse(args) as string[];
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const lastOf = (keyword: string): Instruction | undefined => dockerfile.filter((i) => i.keyword === keyword && i.stage === finalStage).at(-1);
const imageEntrypoint = execForm(lastOf('ENTRYPOINT')?.args ?? '[]', 'ENTRYPOINT');
const imageCmd = execForm(lastOf('CMD')?.args ?? '[]', 'CMD');

// --- what the code knows ------------------------------------------------------------------

const cliSource = read(CLI_SCRIPT);
/** Subcommands the CLI's switch handles. */
const CLI_COMMANDS = [...cliSource.matchAll(/case '([a-z][a-z-]*)':/g)].map((m) => m[1]);
const cliDefaultPort = Number(/parsePort\(values\.port, (\d+)\)/.exec(cliSource)?.[1]);
const ingressSource = read(INGRESS_SOURCE);

/** Variables the config and runtime packages read from the environment they are given. */
function envVarsReadByCode(): Set<string> {
  const names = new Set<string>();
  for (const dir of ['packages/config/src', 'packages/runtime/src']) {
    if (!inRepo(dir)) continue;
    for (const file of readdirSync(join(repoRoot, dir)).filter((f) => f.endsWith('.ts'))) {
      for (const m of read(`${dir}/${file}`).matchAll(/env\[['"]([A-Z][A-Z0-9_]*)['"]\]/g)) names.add(m[1] as string);
    }
  }
  return names;
}

function workspaceMembers(): string[] {
  const { packages = [] } = parseYaml(read('pnpm-workspace.yaml')) as { packages?: string[] };
  return packages.flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [pattern];
    const dir = pattern.slice(0, -2);
    return readdirSync(join(repoRoot, dir), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => `${dir}/${d.name}`);
  }).filter((dir) => inRepo(`${dir}/package.json`));
}

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  bin?: string | Record<string, string>;
  name?: string;
}
const packageJson = (dir: string): PackageJson => JSON.parse(read(posix.join(dir, 'package.json'))) as PackageJson;

// --- helpers over a service's argv ---------------------------------------------------------

/** The argv a container of this service runs (compose overrides over the image's defaults). */
function argvOf(service: ComposeService): string[] {
  // Setting `entrypoint` in compose also drops the image's CMD.
  if (service.entrypoint !== undefined) return [...service.entrypoint, ...(service.command ?? [])];
  return [...imageEntrypoint, ...(service.command ?? imageCmd)];
}

function flagValues(argv: readonly string[], flag: string): string[] {
  const values: string[] = [];
  argv.forEach((arg, i) => {
    if (arg === flag && argv[i + 1] !== undefined) values.push(argv[i + 1] as string);
    else if (arg.startsWith(`${flag}=`)) values.push(arg.slice(flag.length + 1));
  });
  return values;
}

/** The .ts file `node --import tsx FILE ...` runs, and the arguments after it. */
function scriptOf(argv: readonly string[]): { script: string | undefined; args: string[] } {
  const index = argv.findIndex((a) => a.endsWith('.ts'));
  return index === -1 ? { script: undefined, args: [] } : { script: argv[index], args: argv.slice(index + 1) };
}

const built = services.filter(([, s]) => s.build !== undefined);
const mcpbusServices = built.filter(([, s]) => scriptOf(argvOf(s)).script === CLI_SCRIPT);
const rolesOf = (service: ComposeService): string[] => {
  const roles = flagValues(scriptOf(argvOf(service)).args, '--role');
  return roles.length === 0 ? [...ROLES] : roles;
};
const ingressServices = mcpbusServices.filter(([, s]) => rolesOf(s).includes('ingress'));
const portOf = (service: ComposeService): number => Number(flagValues(argvOf(service), '--port')[0] ?? cliDefaultPort);
const healthText = (service: ComposeService): string => {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
};
/** `http://127.0.0.1:PORT/PATH` probes in a health check. */
const probes = (text: string): { port: number; path: string }[] =>
  [...text.matchAll(/http:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/[\w\-./]*)/g)].map((m) => ({ port: Number(m[1]), path: m[2] as string }));

/** The config file mounted at `target` in this service, as a repo path. */
function mountedSource(service: ComposeService, target: string): string | undefined {
  for (const volume of service.volumes ?? []) {
    const [source, mountTarget] = volume.split(':');
    if (mountTarget === target && source !== undefined && (source.startsWith('./') || source.startsWith('../'))) return posix.normalize(source);
  }
  return undefined;
}

function loadComposeConfig(): McpbusConfig {
  const [name, service] = mcpbusServices[0] ?? [];
  expect(service, 'no compose service runs the mcpbus CLI').toBeDefined();
  const target = flagValues(argvOf(service as ComposeService), '--config')[0] as string;
  const source = mountedSource(service as ComposeService, target);
  if (source === undefined) throw new Error(`${name}: nothing is mounted at ${target}`);
  return parseConfig(read(source), { env: { MCPBUS_MASTER_KEY: 'x' }, sourceName: source });
}

// --- deploy/nginx.conf ----------------------------------------------------------------------

const nginx = read('deploy/nginx.conf').replace(/#.*$/gm, '');
const nginxUpstreams = new Map(
  [...nginx.matchAll(/upstream\s+([\w-]+)\s*\{([^}]*)\}/g)].map((m) => [
    m[1] as string,
    [...(m[2] as string).matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((s) => ({ host: s[1] as string, port: Number(s[2]) })),
  ]),
);
const nginxDirective = (name: string): string[] => [...nginx.matchAll(new RegExp(`^\\s*${name}\\s+([^;]+);`, 'gm'))].map((m) => (m[1] as string).trim());

function nginxSizeBytes(value: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(value);
  if (m === null) throw new Error(`not an nginx size: ${value}`);
  return Number(m[1]) * 1024 ** ['', 'k', 'm', 'g'].indexOf((m[2] ?? '').toLowerCase());
}

function durationMs(value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = value.trim();
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?/.exec(rest);
    if (m === null || m[0] === '') throw new Error(`not a duration: ${value}`);
    total += Number(m[1]) * (units[m[2] ?? 's'] ?? 1_000);
    rest = rest.slice(m[0].length);
  }
  return total;
}

// --- .dockerignore ---------------------------------------------------------------------------

function dockerIgnored(path: string): boolean {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const body = pattern
      .split(/(\*\*\/|\*\*|\*)/)
      .map((part) => (part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    // A pattern that names a directory excludes everything below it.
    if (new RegExp(`^${body}(?:/.*)?$`).test(path)) ignored = !negate;
  }
  return ignored;
}

// ============================================================================================

describe('docker-compose.yml', () => {
  it('runs every mcpbus role, two named ingress replicas and the demo fixture', () => {
    const roles = new Set(mcpbusServices.flatMap(([, s]) => rolesOf(s)));
    expect([...roles].sort()).toEqual([...ROLES].sort());
    expect(ingressServices.length, 'the proxy needs at least two ingress replicas to balance').toBeGreaterThanOrEqual(2);
    expect(services.some(([, s]) => scriptOf(argvOf(s)).script === 'packages/fixture-server/src/main.ts'), 'no fixture service').toBe(true);
  });

  it.each(built)('%s runs an existing script through tsx with arguments the script accepts', (name, service) => {
    const argv = argvOf(service);
    expect(argv.slice(0, 3), `${name}: ${argv.join(' ')}`).toEqual(['node', '--import', 'tsx']);
    const { script, args } = scriptOf(argv);
    expect(script !== undefined && inRepo(script), `${name}: script ${script} does not exist`).toBe(true);
    if (script === CLI_SCRIPT) {
      expect(CLI_COMMANDS, `${name}: unknown CLI command "${args[0]}"`).toContain(args[0]);
      for (const role of flagValues(args, '--role')) expect(ROLES, `${name}: unknown role "${role}"`).toContain(role);
      expect(flagValues(args, '--config'), `${name}: start needs --config`).toHaveLength(1);
    } else {
      // Other scripts parse their flags with node:util parseArgs: each flag must be declared there.
      const source = read(script as string);
      for (const flag of args.filter((a) => a.startsWith('--'))) {
        expect(source, `${name}: ${script} has no option ${flag}`).toMatch(new RegExp(`['\\s{]${flag.slice(2)}['"]?\\s*:\\s*\\{\\s*type:`));
      }
    }
  });

  it('ingresses listen on all interfaces (they are reached from the proxy container)', () => {
    for (const [name, service] of ingressServices) expect(flagValues(argvOf(service), '--host'), name).toEqual(['0.0.0.0']);
  });

  it('every service has a health check, and depends_on waits for health', () => {
    for (const [name, service] of services) {
      expect(healthText(service), `${name} has no healthcheck`).not.toBe('');
      expect(service.healthcheck?.disable, `${name} disables its healthcheck`).not.toBe(true);
      const deps = service.depends_on ?? {};
      expect(Array.isArray(deps), `${name}: depends_on must use the long form with a condition`).toBe(false);
      for (const [dep, { condition }] of Object.entries(deps as Record<string, { condition?: string }>)) {
        expect(compose.services[dep], `${name} depends on unknown service ${dep}`).toBeDefined();
        expect(condition, `${name} -> ${dep}`).toBe('service_healthy');
      }
    }
  });

  it('ingress health checks probe routes the ingress serves, on the port it listens on', () => {
    for (const [name, service] of ingressServices) {
      const found = probes(healthText(service));
      expect(found, `${name}: healthcheck probes no http://127.0.0.1:PORT/PATH`).not.toHaveLength(0);
      for (const { port, path } of found) {
        expect(ingressSource, `${name}: ${INGRESS_SOURCE} serves no route '${path}'`).toContain(`'${path}'`);
        expect(port, name).toBe(portOf(service));
      }
    }
  });

  it('worker and runner health checks probe the health port they are given, on a route it serves', () => {
    const healthSource = read('packages/cli/src/health-server.ts');
    const others = mcpbusServices.filter(([, s]) => !rolesOf(s).includes('ingress'));
    expect(others.length, 'the stack has workers and a runner').toBeGreaterThan(0);
    for (const [name, service] of others) {
      const port = Number(flagValues(argvOf(service), '--health-port')[0]);
      expect(port, `${name}: start it with --health-port so its health check has something to probe`).toBeGreaterThan(0);
      const found = probes(healthText(service));
      expect(found, `${name}: healthcheck probes no http://127.0.0.1:PORT/PATH`).not.toHaveLength(0);
      for (const probe of found) {
        expect(probe.port, name).toBe(port);
        expect(healthSource, `${name}: the health server serves no route '${probe.path}'`).toContain(`'${probe.path}'`);
      }
    }
  });

  it('passes only environment variables mcpbus reads, and points them at compose services', () => {
    const known = envVarsReadByCode();
    for (const [name, service] of mcpbusServices) {
      const env = service.environment ?? {};
      for (const key of Object.keys(env)) expect(known, `${name}: ${key} is read by no config code`).toContain(key);
      for (const key of ['NATS_URL', 'REDIS_URL']) {
        const url = new URL(env[key] ?? '');
        expect(compose.services[url.hostname], `${name}: ${key} names no compose service`).toBeDefined();
      }
      expect(env['NATS_URL'], name).toMatch(/^nats:\/\/nats:4222$/);
      expect(env['REDIS_URL'], name).toMatch(/^redis:\/\/redis:6379$/);
    }
  });

  it('mounts a config that parses, whose env references and upstream addresses compose provides', () => {
    for (const [name, service] of mcpbusServices) {
      const target = flagValues(argvOf(service), '--config')[0] as string;
      const source = mountedSource(service, target);
      expect(source !== undefined && inRepo(source), `${name}: ${target} is not mounted from a file in the repo`).toBe(true);
      const text = read(source as string);
      for (const m of text.matchAll(/os\.environ\/([A-Za-z_][A-Za-z0-9_]*)/g)) {
        expect(Object.keys(service.environment ?? {}), `${name}: the config reads ${m[1]}, compose does not set it`).toContain(m[1]);
      }
    }
    const config = loadComposeConfig();
    expect(config.masterKey).toBe('x');
    for (const server of config.servers.filter((s) => s.url !== undefined)) {
      const url = new URL(server.url as string);
      const target = compose.services[url.hostname];
      if (target === undefined) continue;
      expect(flagValues(argvOf(target), '--port'), `${server.name}: ${server.url} but service ${url.hostname} listens elsewhere`).toEqual([url.port]);
    }
  });

  it('stdio upstreams in the config can start inside the image', () => {
    const root = packageJson('.');
    for (const server of loadComposeConfig().servers.filter((s) => s.transport === 'stdio')) {
      const argv = [server.command as string, ...server.args];
      const { script } = scriptOf(argv);
      if (script !== undefined) expect(inRepo(script), `${server.name}: ${script} does not exist`).toBe(true);
      const bin = /^node_modules\/\.bin\/(.+)$/.exec(server.command ?? '')?.[1];
      if (bin !== undefined) {
        // The image installs production dependencies only: the bin must come from a root dependency.
        const providers = Object.keys(root.dependencies ?? {}).filter((dep) => {
          const manifest = packageJson(`node_modules/${dep}`);
          return typeof manifest.bin === 'string' ? manifest.name?.split('/').at(-1) === bin : Object.hasOwn(manifest.bin ?? {}, bin);
        });
        expect(providers, `${server.name}: no root "dependencies" entry provides ${bin}`).not.toHaveLength(0);
      }
    }
  });

  it('stops mcpbus containers no sooner than the configured drain timeout', () => {
    const { drainTimeoutMs } = loadComposeConfig().settings;
    for (const [name, service] of mcpbusServices) {
      // Docker's default is 10 s, after which it kills the process mid-drain.
      expect(durationMs(service.stop_grace_period ?? '10s'), name).toBeGreaterThan(drainTimeoutMs);
    }
  });

  it('declares the named volumes services use', () => {
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        if (!source.startsWith('.') && !source.startsWith('/')) expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${source}`).toContain(source);
        else expect(inRepo(source), `${name}: ${source} does not exist`).toBe(true);
      }
    }
  });
});

describe('deploy/nginx.conf and the proxy service', () => {
  const proxy = compose.services['proxy'];
  const published = (proxy?.ports ?? []).map((p) => p.split(':').map((part) => part.replace(/\/.*$/, '')));

  it('publishes port 4000 and listens where it publishes', () => {
    expect(proxy, 'no proxy service').toBeDefined();
    const mapping = published.find((parts) => parts.at(-2) === '4000');
    expect(mapping, `proxy ports ${JSON.stringify(proxy?.ports)} do not publish 4000`).toBeDefined();
    expect(nginxDirective('listen').map((l) => l.split(/\s+/)[0])).toContain(mapping?.at(-1));
    expect(mountedSource(proxy as ComposeService, '/etc/nginx/nginx.conf')).toBe('deploy/nginx.conf');
  });

  it('balances over exactly the ingress services, on the port each listens on', () => {
    const passTo = nginxDirective('proxy_pass').map((target) => target.replace(/^http:\/\//, '').replace(/\/.*$/, ''));
    expect(passTo.length).toBeGreaterThan(0);
    for (const upstreamName of passTo) {
      const servers = nginxUpstreams.get(upstreamName);
      expect(servers, `proxy_pass to unknown upstream ${upstreamName}`).toBeDefined();
      expect(servers?.map((s) => s.host).sort()).toEqual(ingressServices.map(([name]) => name).sort());
      for (const { host, port } of servers ?? []) expect(port, host).toBe(portOf(compose.services[host] as ComposeService));
    }
    // Named replicas are what nginx can address; `deploy.replicas` on them would go unbalanced.
    for (const [name, service] of ingressServices) expect(service.deploy?.replicas ?? 1, name).toBe(1);
  });

  it('streams, keeps the client Host, and passes MCP headers through', () => {
    expect(nginxDirective('proxy_buffering')).toEqual(['off']);
    expect(nginxDirective('proxy_http_version')).toEqual(['1.1']);
    expect(nginxDirective('proxy_set_header')).toContain('Host $http_host');
    expect(nginxDirective('proxy_pass_request_headers')).not.toContain('off');
    for (const header of MCP_HEADERS) {
      expect(nginxDirective('proxy_hide_header').map((h) => h.toLowerCase()), header).not.toContain(header.toLowerCase());
      const cleared = nginxDirective('proxy_set_header').filter((h) => h.toLowerCase().startsWith(`${header.toLowerCase()} `));
      expect(cleared, `${header} is rewritten by the proxy`).toEqual([]);
    }
    expect(nginxDirective('proxy_next_upstream').join(' '), 'POSTs must never be retried on another ingress').not.toContain('non_idempotent');
  });

  it('allows bodies and waits as long as the gateway does', () => {
    const { settings, servers } = loadComposeConfig();
    const [maxBody] = nginxDirective('client_max_body_size');
    expect(nginxSizeBytes(maxBody ?? '1m'), 'nginx would reject bodies the ingress accepts').toBeGreaterThanOrEqual(settings.maxBodyBytes);
    const longestCallMs = Math.max(settings.callTimeoutMs, ...servers.map((s) => s.timeoutMs));
    const [readTimeout] = nginxDirective('proxy_read_timeout');
    expect(durationMs(readTimeout ?? '60s'), 'nginx would cut streams before calls time out').toBeGreaterThan(longestCallMs);
  });

  it("the proxy's health check hits a location nginx answers itself", () => {
    const found = probes(healthText(proxy as ComposeService));
    expect(found).not.toHaveLength(0);
    for (const { path } of found) expect(nginx).toMatch(new RegExp(`location\\s+=\\s+${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\{[^}]*return\\s+200`));
  });
});

describe('Dockerfile', () => {
  const copies = dockerfile.filter((i) => i.keyword === 'COPY');
  const sourcesOf = (copy: Instruction): string[] => {
    const tokens = copy.args.startsWith('[') ? (JSON.parse(copy.args) as string[]) : copy.args.split(/\s+/);
    return tokens.filter((t) => !t.startsWith('--')).slice(0, -1);
  };
  const install = dockerfile.find((i) => i.keyword === 'RUN' && /\bpnpm install\b/.test(i.args));

  it('builds in at least two stages and runs as a non-root user', () => {
    expect(dockerfile.filter((i) => i.keyword === 'FROM').length).toBeGreaterThanOrEqual(2);
    const user = lastOf('USER')?.args.split(':')[0];
    expect(user, 'the final stage sets no USER').toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('installs production dependencies from the lockfile, with every workspace manifest in place', () => {
    if (install === undefined) throw new Error('the Dockerfile has no RUN pnpm install');
    expect(install.args).toMatch(/--frozen-lockfile\b/);
    expect(install.args).toMatch(/(--prod|--production|-P)\b/);
    const before = copies.filter((c) => c.stage === install.stage && dockerfile.indexOf(c) < dockerfile.indexOf(install)).flatMap(sourcesOf);
    for (const file of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', ...workspaceMembers().map((dir) => `${dir}/package.json`)]) {
      expect(before, `COPY ${file} before pnpm install (a frozen install needs every workspace manifest)`).toContain(file);
    }
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    for (const copy of copies.filter((c) => !/--from=/.test(c.args))) {
      for (const source of sourcesOf(copy)) {
        expect(inRepo(source), `COPY ${source}: no such path`).toBe(true);
        expect(dockerIgnored(posix.normalize(source)), `COPY ${source}: excluded by .dockerignore`).toBe(false);
      }
    }
    for (const path of ['node_modules', 'packages/cli/node_modules', '.git', '.mcpbus']) expect(dockerIgnored(path), path).toBe(true);
  });

  it('starts the CLI through tsx, which a production install can resolve from /app', () => {
    expect(imageEntrypoint.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
    expect(scriptOf(imageEntrypoint).script).toBe(CLI_SCRIPT);
    expect(CLI_COMMANDS).toContain(imageCmd[0]);
    expect(flagValues(imageCmd, '--host')).toEqual(['0.0.0.0']);
    const root = packageJson('.');
    if (root.dependencies?.['tsx'] === undefined) {
      // tsx is then only a devDependency at the root: the image links a workspace package's copy.
      const link = dockerfile.map((i) => /ln -s (\S+) node_modules\/tsx\b/.exec(i.args)).find((m) => m !== null);
      expect(link, 'root tsx is a devDependency (skipped by --prod) and the Dockerfile links no other copy').toBeDefined();
      const target = posix.normalize(posix.join('node_modules', link?.[1] as string));
      const owner = target.replace(/\/node_modules\/tsx$/, '');
      expect(packageJson(owner).dependencies, `${target}: ${owner} does not depend on tsx`).toHaveProperty('tsx');
    }
  });

  it('exposes the port the CLI listens on by default, and its health check hits a served route', () => {
    expect(lastOf('EXPOSE')?.args.split(/\s+/)).toContain(String(cliDefaultPort));
    expect(flagValues(imageCmd, '--port')).toEqual([]);
    const health = lastOf('HEALTHCHECK')?.args ?? '';
    const found = probes(health);
    expect(found, `HEALTHCHECK ${health}`).not.toHaveLength(0);
    for (const { port, path } of found) {
      expect(port).toBe(cliDefaultPort);
      expect(ingressSource, `${INGRESS_SOURCE} serves no route '${path}'`).toContain(`'${path}'`);
    }
  });
});
