// CLI: `tsx packages/fixture-server/src/main.ts --stdio | --http [--port N] [--host H] [--path P]`
//      plus `[--tools-page-size N] [--name NAME] [--state-dir DIR]`. In stdio mode stdout carries protocol only.
import { parseArgs } from 'node:util';
import { startFixtureHttp } from './http.js';
import { serveFixtureStdio } from './stdio.js';

const USAGE = 'usage: main.ts (--stdio | --http [--port N] [--host H] [--path P]) [--tools-page-size N] [--name NAME] [--state-dir DIR]';

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function toInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) fail(`--${flag} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

const OPTIONS = {
  stdio: { type: 'boolean' },
  http: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  path: { type: 'string' },
  'tools-page-size': { type: 'string' },
  name: { type: 'string' },
  'state-dir': { type: 'string' },
} as const;

function parse() {
  try {
    return parseArgs({ options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err: unknown) {
    fail(err instanceof Error ? err.message : String(err));
  }
}

async function main(): Promise<void> {
  const args = parse();
  if (args.stdio === args.http) fail('pass exactly one of --stdio or --http');
  const pageSize = toInt('tools-page-size', args['tools-page-size']);
  const common = {
    ...(pageSize !== undefined && { pageSize }),
    ...(args.name !== undefined && { name: args.name }),
    ...(args['state-dir'] !== undefined && { stateDir: args['state-dir'] }),
  };

  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());

  if (args.stdio) {
    await serveFixtureStdio({ ...common, signal: stop.signal });
    process.exit(0);
  }

  const port = toInt('port', args.port);
  const handle = await startFixtureHttp({
    ...common,
    ...(port !== undefined && { port }),
    ...(args.host !== undefined && { host: args.host }),
    ...(args.path !== undefined && { path: args.path }),
  });
  process.stderr.write(`fixture listening on ${handle.url}\n`);
  stop.signal.addEventListener('abort', () => {
    handle.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`fixture close failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`fixture failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
