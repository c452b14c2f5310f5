export { startIngress, type StartIngressOptions, type IngressHandle } from './start-ingress.js';
export { GATEWAY_INFO } from './mcp-server.js';
