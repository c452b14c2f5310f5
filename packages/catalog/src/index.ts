export * from './validation.js';
export * from './catalog.js';
