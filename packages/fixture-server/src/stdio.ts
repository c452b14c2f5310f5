import { StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import { createCounters } from './counters.js';
import { createFixtureServer, type FixtureEntryOptions } from './server.js';

export interface FixtureStdioOptions extends FixtureEntryOptions {
  /** Aborting it closes the connection. */
  signal?: AbortSignal;
}

// serveStdio owns the transport's `onclose`, so observe the close by overriding `close()` instead.
class ObservedStdioTransport extends StdioServerTransport {
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  constructor() {
    super();
    this.closed = new Promise(resolve => (this.markClosed = resolve));
  }

  override async close(): Promise<void> {
    await super.close();
    this.markClosed();
  }
}

/**
 * Serves the fixture over this process's stdin/stdout (either era). Resolves once the
 * connection has closed: stdin ended or `signal` aborted. Never write anything else to stdout.
 */
export async function serveFixtureStdio(options: FixtureStdioOptions = {}): Promise<void> {
  const { signal, stateDir, ...serverOptions } = options;
  const transport = new ObservedStdioTransport();
  const counters = createCounters(stateDir);
  const handle = serveStdio(ctx => createFixtureServer({ ...serverOptions, counters, era: ctx.era }), {
    transport,
    onerror: error => process.stderr.write(`fixture stdio error: ${error.message}\n`),
  });
  const onAbort = (): void => void handle.close();
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await transport.closed;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    counters.close();
  }
}
