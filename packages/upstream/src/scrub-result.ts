import { SERVER_INFO_META_KEY } from '@modelcontextprotocol/client';

/** Upstream results lose the upstream's identity stamp; clients talk to mcpbus. */
export function scrubResult(result: Record<string, unknown>): Record<string, unknown> {
  const meta = result['_meta'];
  const { resultType, _meta, ...rest } = result;
  const out: Record<string, unknown> = resultType === undefined || resultType === 'complete' ? rest : { ...rest, resultType };
  if (meta !== null && typeof meta === 'object') {
    const { [SERVER_INFO_META_KEY]: _identity, ...kept } = meta as Record<string, unknown>;
    if (Object.keys(kept).length > 0) out['_meta'] = kept;
  }
  return out;
}

