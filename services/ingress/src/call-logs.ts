import { LOG_LEVEL_META_KEY, type ServerContext } from '@modelcontextprotocol/server';
import { LOGGING_LEVELS, type CallLogEvent, type LoggingLevel } from '@mcpbus/protocol';

/**
 * The level of log messages a 2026-07-28 request asked for in its `_meta` envelope. 2026 has no
 * `logging/setLevel`: a request without a level gets no log messages at all (SEP-2577).
 */
export function envelopeLogLevel(ctx: ServerContext): LoggingLevel | undefined {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const level = envelope?.[LOG_LEVEL_META_KEY];
  return LOGGING_LEVELS.find((l) => l === level);
}

/** An upstream log message relayed over the bus, as the `notifications/message` params its client gets (every era). */
export function logMessageParams(message: CallLogEvent): { level: LoggingLevel; logger?: string; data: unknown } {
  return { level: message.level, ...(message.logger === undefined ? {} : { logger: message.logger }), data: message.data };
}
