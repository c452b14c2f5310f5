import { CLIENT_CAPABILITIES_META_KEY, type ServerContext } from '@modelcontextprotocol/server';
import { declaresInputCapability } from '@mcpbus/protocol';

/** The client capabilities a 2026-07-28 request declared in its `_meta` envelope. */
export function envelopeCapabilities(ctx: ServerContext): Record<string, unknown> | undefined {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  return envelope?.[CLIENT_CAPABILITIES_META_KEY] as Record<string, unknown> | undefined;
}

/**
 * What a 2026-07-28 request brings for an upstream that may ask for input: the client's
 * capabilities when they let it answer, and a retry's answers and requestState.
 */
export function modernInputOf(ctx: ServerContext): { capabilities?: Record<string, unknown>; inputResponses?: Record<string, unknown>; requestState?: string } {
  const capabilities = envelopeCapabilities(ctx);
  const state = ctx.mcpReq.requestState<string>();
  return {
    ...(declaresInputCapability(capabilities) ? { capabilities } : {}),
    ...(ctx.mcpReq.inputResponses === undefined ? {} : { inputResponses: ctx.mcpReq.inputResponses }),
    ...(typeof state === 'string' ? { requestState: state } : {}),
  };
}
