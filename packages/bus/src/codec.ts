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

/** Parses and schema-checks a bus body; anything malformed becomes a `bad_request` error. */
export function decodeBody<T>(data: Uint8Array, schema: SchemaName): T {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (err: unknown) {
    throw new McpbusError(ErrorCode.BadRequest, `${schema}: body is not valid JSON`, { cause: err });
  }
  const validate = validatorFor(schema);
  if (!validate(value)) {
    const first = validate.errors?.[0];
    const where = first?.instancePath === '' || first === undefined ? '(body)' : first.instancePath;
    throw new McpbusError(ErrorCode.BadRequest, `${schema}: ${where} ${first?.message ?? 'is invalid'}`);
  }
  return value as T;
}
