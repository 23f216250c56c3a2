import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Struct, Struct_FieldsEntry } from "../gen/google/protobuf/struct";

/**
 * `__proto__` survives as a key of google.protobuf.Struct.
 *
 * JSON.parse keeps a `"__proto__"` key as an own property, and the gateway promises to
 * keep every unknown field in `extra`. ts-proto's generated `Struct.wrap`, `unwrap` and
 * `decode` copy keys with `fields[key] = value`, where assigning `__proto__` sets the
 * prototype instead: the key vanished from every stored event, at every level. These
 * replacements copy with `Object.defineProperty`, which makes an own data property of
 * any key, `__proto__` included, and never touches the prototype. They replace the generated functions
 * once, when the domain is loaded (the generated file is rebuilt by `make generate` and
 * must stay untouched); `Value.wrap` and `Event.encode` call them through `Struct.`.
 */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

Struct.wrap = (object) => {
  const fields: Record<string, unknown> = {};
  if (object !== undefined) for (const key of Object.keys(object)) define(fields, key, object[key]);
  return { fields };
};

Struct.unwrap = (message) => {
  const object: Record<string, unknown> = {};
  if (message.fields) for (const key of Object.keys(message.fields)) define(object, key, message.fields[key]);
  return object;
};

const generatedDecode = Struct.decode;
Struct.decode = (input, length) => {
  const reader = input instanceof BinaryReader ? input : new BinaryReader(input);
  const depth = (reader as unknown as { __tsProtoDecodeDepth?: number }).__tsProtoDecodeDepth ?? 0;
  // The generated decoder keeps the recursion guard; only the copy into `fields` differs.
  if (depth >= 100) return generatedDecode(reader, length);
  (reader as unknown as { __tsProtoDecodeDepth: number }).__tsProtoDecodeDepth = depth + 1;
  try {
    const end = length === undefined ? reader.len : reader.pos + length;
    const fields: Record<string, unknown> = {};
    while (reader.pos < end) {
      const tag = reader.uint32();
      if (tag === 10) {
        const entry = Struct_FieldsEntry.decode(reader, reader.uint32());
        if (entry.value !== undefined) define(fields, entry.key, entry.value);
        continue;
      }
      if ((tag & 7) === 4 || tag === 0) break;
      reader.skip(tag & 7);
    }
    return { fields };
  } finally {
    (reader as unknown as { __tsProtoDecodeDepth: number }).__tsProtoDecodeDepth = depth;
  }
};

/** Loaded for its effect; exported so an import of it is not elided. */
export const SAFE_STRUCT = true;
