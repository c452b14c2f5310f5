import { resolve } from 'node:path';
import { loadRuntimeEnv } from '@mcpbus/config';
import { loadConfigOrReport, logConfigSummary, untilSignal } from '@mcpbus/runtime';
import { createLogger, startTracing } from '@mcpbus/logging';
import { ensureInfra, type InfraService } from './infra.js';
import { startHealthServer } from './health-server.js';
import { runRoles, type Role } from './run-roles.js';
import { messageOf } from '@mcpbus/protocol';

export interface StartArgs {
  configPath: string;
  port: number;
  host: string;
  roles: readonly Role[];
  env: Record<string, string | undefined>;
  /** Serve /health/liveness and /health/readiness on this port (for worker and runner containers). */
  healthPort?: number;
  /** Where locally started nats-server / redis-server keep their data. */
  dataRoot?: string;
}

/**
 * `mcpbus start`: validate config, bring up (or find) NATS and Redis, start the roles, and on
 * SIGTERM/SIGINT drain in-flight calls and exit 0. Returns the process exit code on failure.
 */
export async function startCommand(args: StartArgs): Promise<number> {
  const config = await loadConfigOrReport(args.configPath, args.env);
  if (config === undefined) return 2;
  const runtime = loadRuntimeEnv(args.env);
  const log = createLogger({ level: runtime.logLevel, service: 'mcpbus' });
  logConfigSummary(config, log);

  // Every role talks over NATS; workers (enqueue, tasks) and runners (jobs) use Redis too.
  const needs: InfraService[] = [{ kind: 'nats', url: runtime.natsUrl, isDefault: runtime.natsUrlIsDefault }];
  if (args.roles.includes('worker') || args.roles.includes('runner')) needs.push({ kind: 'redis', url: runtime.redisUrl, isDefault: runtime.redisUrlIsDefault });
  let infra;
  try {
    infra = await ensureInfra(needs, resolve(args.dataRoot ?? '.mcpbus'), log);
  } catch (err: unknown) {
    process.stderr.write(`mcpbus: ${messageOf(err)}\n`);
    return 1;
  }

  // Spans are exported only when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise tracing is a no-op.
  const tracing = await startTracing({ env: args.env, serviceName: 'mcpbus', attributes: { 'mcpbus.roles': args.roles.join(',') } });
  if (tracing.enabled) log.info('tracing: spans are exported over OTLP/HTTP');
  let roles;
  try {
    roles = await runRoles({ config, runtime, roles: args.roles, port: args.port, host: args.host, log });
  } catch (err: unknown) {
    process.stderr.write(`mcpbus: could not start: ${messageOf(err)}\n`);
    await tracing.close();
    await infra.stop();
    return 1;
  }
  const started = roles;
  let health: { port: number; close(): Promise<void> } | undefined;
  if (args.healthPort !== undefined) {
    try {
      health = await startHealthServer(args.healthPort, args.host, () => started.ready());
    } catch (err: unknown) {
      process.stderr.write(`mcpbus: cannot serve health checks on port ${args.healthPort}: ${messageOf(err)}\n`);
      await roles.close();
      await tracing.close();
      await infra.stop();
      return 1;
    }
  }
  log.info({ roles: args.roles, url: roles.ingress === undefined ? undefined : `${roles.ingress.url}/mcp`, healthPort: health?.port }, 'mcpbus started');

  return untilSignal(async () => {
    await health?.close();
    await roles.close();
    await tracing.close();
    await infra.stop();
  }, log);
}
