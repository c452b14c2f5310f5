export * from './connect.js';
export * from './codec.js';
export * from './request.js';
export * from './api-key.js';
export * from './submissions.js';
export * from './audit.js';
export * from './call-broadcasts.js';
export { trackConnection, type ConnectionState } from './connection-state.js';
export { traceContextOf, withTraceHeaders } from './trace-headers.js';
