export * from './auth-headers.js';
export * from './errors.js';
export * from './transport.js';
export * from './server-sessions.js';
export * from './call-tool.js';
export { namespaceBlock, namespacePromptResult, namespaceToolResult } from './namespace-content.js';
export { scrubResult } from './scrub-result.js';
export { type LocalToolContext } from './local-tools.js';
export { createServerPools } from './server-pools.js';
