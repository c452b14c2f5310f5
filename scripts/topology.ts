// `pnpm topology [--config FILE] [--port 4000]`: docker-compose.yml's topology without Docker.
// Two ingresses behind a round-robin proxy on the public port, two workers, one runner and the
// demo upstream, each its own process; NATS and Redis are the machine's (started, as
// `mcpbus start` would, when nothing listens on their default ports). Ctrl-C stops everything.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startTopology, type Topology } from '../test/harness/topology.js';
import { REPO_ROOT } from '../test/harness/paths.js';

const USAGE = `usage: pnpm topology [--config FILE] [--port 4000] [--upstream-port 4100] [--ingresses 2] [--workers 2] [--runners 1]
                      [--root SUBJECT_ROOT] [--log-level info] [--log-dir DIR]

  --config FILE       mcpbus config (default examples/config.yaml, which expects the demo upstream on 4100)
  --port N            public port of the round-robin proxy (default 4000)
  --upstream-port N   port of the demo upstream, the fixture server over Streamable HTTP (default 4100)
  --root ROOT         NATS subject root (default: a fresh one per run, printed below)
  --log-dir DIR       where each process's log goes (default .mcpbus/topology/<root>)

environment: NATS_URL, REDIS_URL (default: the machine's, on their default ports)`;

function intOf(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) {
    process.stderr.write(`topology: --${name} must be a whole number, got "${value}"\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        'upstream-port': { type: 'string' },
        ingresses: { type: 'string' },
        workers: { type: 'string' },
        runners: { type: 'string' },
        root: { type: 'string' },
        'log-level': { type: 'string' },
        'log-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err: unknown) {
    process.stderr.write(`topology: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const root = values.root ?? `topo${Date.now().toString(36)}`;
  const logDir = resolve(values['log-dir'] ?? resolve(REPO_ROOT, '.mcpbus/topology', root));
  const env = process.env;
  const counts = {
    port: intOf('port', values.port, 4000),
    upstreamPort: intOf('upstream-port', values['upstream-port'], 4100),
    ingresses: intOf('ingresses', values.ingresses, 2),
    workers: intOf('workers', values.workers, 2),
    runners: intOf('runners', values.runners, 1),
  };
  process.stdout.write('starting the demo upstream, workers, runners and ingresses, then the proxy…\n');
  let topology: Topology;
  try {
    topology = await startTopology({
      config: resolve(values.config ?? resolve(REPO_ROOT, 'examples/config.yaml')),
      ...counts,
      subjectRoot: root,
      ...(env['NATS_URL'] ? { natsUrl: env['NATS_URL'] } : {}),
      ...(env['REDIS_URL'] ? { redisUrl: env['REDIS_URL'] } : {}),
      ensureInfra: true,
      logLevel: values['log-level'] ?? 'info',
      logDir,
    });
  } catch (err: unknown) {
    process.stderr.write(`topology: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }

  const key = topology.masterKey ?? '<no master key>';
  process.stdout.write(`
mcpbus topology ready (subject root ${topology.subjectRoot}; NATS ${topology.natsUrl}, Redis ${topology.redisUrl})
${topology.describe()}

  MCP endpoint:  ${topology.url}   (Authorization: Bearer ${key})
  try:           curl -s ${topology.baseUrl}/health/readiness
                 pnpm mcpbus tools --config ${values.config ?? 'examples/config.yaml'} --root ${topology.subjectRoot}
  logs:          ${logDir}/<name>.log
  A process that dies is started again (as compose's restart: unless-stopped). Ctrl-C stops everything.
`);

  await new Promise<void>((done) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        process.stderr.write(`topology: second ${signal}: killing everything now\n`);
        process.exit(1);
      }
      stopping = true;
      process.stdout.write(`\n${signal}: draining and stopping every process…\n`);
      void topology.close({ graceMs: 35_000 }).then(done);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  process.stdout.write('stopped.\n');
  return 0;
}

process.exit(await main());
