import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, loadRuntimeEnv, type McpbusConfig, type RuntimeEnv } from '@mcpbus/config';
import { createLogger, type Logger } from '@mcpbus/logging';

/** Loads the config, printing every problem and returning undefined when it is invalid. */
export async function loadConfigOrReport(path: string, env: Record<string, string | undefined>): Promise<McpbusConfig | undefined> {
  try {
    return await loadConfigFile(path, { env });
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      process.stderr.write(`mcpbus: ${path} is not a valid config:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return undefined;
    }
    throw err;
  }
}

/** One-time start-up notes about the config: ignored LiteLLM sections, a missing master key. */
export function logConfigSummary(config: McpbusConfig, log: Logger): void {
  if (config.ignoredSections.length > 0) log.info({ sections: config.ignoredSections }, 'ignoring LiteLLM config sections mcpbus does not use');
  if (config.masterKey === undefined) log.warn('no master key configured (general_settings.master_key or MCPBUS_MASTER_KEY): every request is accepted');
}

/**
 * Resolves with the exit code once SIGTERM or SIGINT has been handled: `close` drains the
 * process; 0 when it finished, 1 when it failed or a second signal cut it short.
 */
export function untilSignal(close: () => Promise<void>, log: Logger): Promise<number> {
  return new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting without waiting');
        done(1);
        return;
      }
      stopping = true;
      log.info({ signal }, 'draining in-flight calls, then exiting');
      close().then(
        () => done(0),
        (err: unknown) => {
          log.error({ err: String(err) }, 'shutdown failed');
          done(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

export interface ServiceContext {
  config: McpbusConfig;
  runtime: RuntimeEnv;
  log: Logger;
  /** `--port` (default 4000); only the ingress listens. */
  port: number;
  host: string;
}

/**
 * The whole life of a single-role process: `--config FILE` (or MCPBUS_CONFIG) → validated
 * config → logger → `start` → wait for a signal → drain. Returns the exit code.
 */
export async function runService(
  service: string,
  argv: string[],
  env: Record<string, string | undefined>,
  start: (ctx: ServiceContext) => Promise<{ close(): Promise<void> }>,
): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } }, strict: true });
  const path = values.config ?? env['MCPBUS_CONFIG'];
  if (path === undefined) {
    process.stderr.write(`mcpbus ${service}: pass --config FILE (or set MCPBUS_CONFIG)\n`);
    return 2;
  }
  const config = await loadConfigOrReport(path, env);
  if (config === undefined) return 2;
  const runtime = loadRuntimeEnv(env);
  const log = createLogger({ level: runtime.logLevel, service: `mcpbus-${service}` });
  logConfigSummary(config, log);
  let handle;
  try {
    handle = await start({ config, runtime, log, port: Number(values.port ?? 4000), host: values.host ?? '127.0.0.1' });
  } catch (err: unknown) {
    process.stderr.write(`mcpbus ${service}: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  return untilSignal(() => handle.close(), log);
}
