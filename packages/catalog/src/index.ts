export * from './validation.js';
export * from './catalog.js';
export {
  MAX_COMBINATOR_WORK,
  MAX_PATTERN_STATES,
  MAX_SCHEMA_BYTES,
  MAX_SCHEMA_DEPTH,
  MAX_SCHEMA_KEYWORDS,
  MAX_SCHEMA_PATTERN_STATES,
  MAX_SUBSCHEMAS,
} from './schema-limits.js';
