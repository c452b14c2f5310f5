export { startIngress, type StartIngressOptions, type IngressHandle } from './start-ingress.js';
export { FAILURES_META_KEY, GATEWAY_INFO } from './mcp-server.js';
