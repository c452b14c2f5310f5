import { Ajv, type ValidateFunction } from 'ajv';
import { ErrorCode, McpbusError, SCHEMAS, type SchemaName } from '@mcpbus/protocol';

const ajv = new Ajv({ allErrors: false, strict: false });
const validators = new Map<SchemaName, ValidateFunction>();

function validatorFor(name: SchemaName): ValidateFunction {
  let v = validators.get(name);
  if (v === undefined) {
    v = ajv.compile(SCHEMAS[name]);
    validators.set(name, v);
  }
  return v;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses a bus body as JSON; anything else becomes a `bad_request` error naming `what`. */
export function parseJsonBody(data: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(data)) as unknown;
  } catch (err: unknown) {
    throw new McpbusError(ErrorCode.BadRequest, `${what}: body is not valid JSON`, { cause: err });
  }
}

/** Parses and schema-checks a bus body; anything malformed becomes a `bad_request` error. */
export function decodeBody<T>(data: Uint8Array, schema: SchemaName): T {
  return checkBody<T>(parseJsonBody(data, schema), schema);
}

/** Schema-checks an already parsed bus body. */
export function checkBody<T>(value: unknown, schema: SchemaName): T {
  const validate = validatorFor(schema);
  if (!validate(value)) {
    const first = validate.errors?.[0];
    const where = first?.instancePath === '' || first === undefined ? '(body)' : first.instancePath;
    throw new McpbusError(ErrorCode.BadRequest, `${schema}: ${where} ${first?.message ?? 'is invalid'}`);
  }
  return value as T;
}
