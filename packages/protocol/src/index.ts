export * from './errors.js';
export * from './subjects.js';
export * from './messages.js';
export * from './tool-names.js';
export * from './redact.js';
export * from './resource-uris.js';
export * from './call-ids.js';
export * from './api-keys.js';
