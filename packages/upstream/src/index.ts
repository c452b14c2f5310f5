export * from './auth-headers.js';
export * from './errors.js';
export * from './transport.js';
export * from './server-sessions.js';
