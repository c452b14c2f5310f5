import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '@mcpbus/runtime';
import { clientCommand } from './client-commands.js';
import { startCommand } from './start-command.js';
import { ROLES, type Role } from './run-roles.js';
import { messageOf } from '@mcpbus/protocol';

const USAGE = `usage:
  mcpbus start --config FILE [--port 4000] [--host 127.0.0.1] [--role ingress|worker|runner ...] [--health-port PORT]
  mcpbus check-config --config FILE
  mcpbus demo [--port 4000]      run the example config with its demo upstreams
  mcpbus tools [--config FILE] [--key KEY] [--root ROOT]
  mcpbus call <tool> --args '{...}' [--config FILE] [--key KEY] [--root ROOT]
  mcpbus submit <tool> --args '{...}' [--id CALL_ID] [--no-wait] [--config FILE] [--key KEY] [--root ROOT]
                                 list, call and durably submit over the bus of a running mcpbus
                                 (the key: --key, MCPBUS_API_KEY, or the config's master key)

environment: NATS_URL, REDIS_URL, LOG_LEVEL, MCPBUS_MASTER_KEY, MCPBUS_API_KEY,
             OTEL_EXPORTER_OTLP_ENDPOINT (export traces; docs/observability.md)
--health-port serves /health/liveness, /health/readiness and /metrics (no key: keep it internal)`;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function fail(message: string): number {
  process.stderr.write(`mcpbus: ${message}\n${USAGE}\n`);
  return 2;
}

function parsePort(value: string | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  const port = Number(value);
  return Number.isInteger(port) && port >= 0 && port <= 65_535 ? port : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        role: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
        args: { type: 'string', short: 'a' },
        key: { type: 'string' },
        root: { type: 'string' },
        id: { type: 'string' },
        'no-wait': { type: 'boolean' },
        'health-port': { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err: unknown) {
    return fail(messageOf(err));
  }
  const { values, positionals } = parsed;
  if (values.help === true || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  const port = parsePort(values.port, 4000);
  if (port === undefined) return fail(`--port must be a port number, got "${values.port}"`);
  const roles = (values.role ?? [...ROLES]) as Role[];
  const unknownRole = roles.find((r) => !(ROLES as readonly string[]).includes(r));
  if (unknownRole !== undefined) return fail(`unknown role "${unknownRole}"; roles are ${ROLES.join(', ')}`);
  const host = values.host ?? '127.0.0.1';
  const allowed = command === 'call' || command === 'submit' ? 1 : 0;
  if (positionals.length > allowed) return fail(`unexpected argument "${positionals[allowed] ?? ''}"`);
  if (command !== 'submit' && (values.id !== undefined || values['no-wait'] === true)) return fail('--id and --no-wait belong to submit');

  switch (command) {
    case 'start':
      if (values.config === undefined) return fail('start needs --config FILE');
      if (values['health-port'] !== undefined && parsePort(values['health-port'], 0) === undefined) return fail(`--health-port must be a port number, got "${values['health-port']}"`);
      return startCommand({ configPath: values.config, port, host, roles, env: process.env, ...(values['health-port'] === undefined ? {} : { healthPort: parsePort(values['health-port'], 0) }) });
    case 'check-config': {
      if (values.config === undefined) return fail('check-config needs --config FILE');
      const config = await loadConfigOrReport(values.config, process.env);
      if (config === undefined) return 2;
      process.stdout.write(`${values.config}: ok (${config.servers.length} servers: ${config.servers.map((s) => `${s.name}/${s.transport}`).join(', ')})\n`);
      return 0;
    }
    case 'demo':
      return demo(port, host);
    case 'tools':
    case 'call':
    case 'submit':
      return clientCommand({
        command,
        ...(positionals[0] === undefined ? {} : { tool: positionals[0] }),
        ...(values.args === undefined ? {} : { args: values.args }),
        ...(values.config === undefined ? {} : { configPath: values.config }),
        ...(values.key === undefined ? {} : { key: values.key }),
        ...(values.root === undefined ? {} : { root: values.root }),
        ...(values.id === undefined ? {} : { callId: values.id }),
        wait: values['no-wait'] !== true,
        env: process.env,
      });
    default:
      return fail(`unknown command "${command}"`);
  }
}

/**
 * The example config mounts the fixture server over Streamable HTTP on port 4100; the demo
 * starts that upstream next to the gateway so the whole example works offline.
 */
async function demo(port: number, host: string): Promise<number> {
  const fixture = spawn(process.execPath, ['--import', 'tsx', resolve(repoRoot, 'packages/fixture-server/src/main.ts'), '--http', '--port', '4100'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    return await startCommand({ configPath: resolve(repoRoot, 'examples/config.yaml'), port, host, roles: ROLES, env: process.env });
  } finally {
    fixture.kill('SIGTERM');
  }
}

process.exit(await main(process.argv.slice(2)));
