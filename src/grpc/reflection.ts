import type { Server } from "@grpc/grpc-js";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import {
  loadFileDescriptorSetFromBuffer,
  type AnyDefinition,
  type EnumTypeDefinition,
  type MessageTypeDefinition,
  type PackageDefinition,
} from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { DESCRIPTOR_SET_BASE64 } from "../gen/descriptor-set";

/**
 * The FileDescriptorProtos of a FileDescriptorSet, byte for byte as protoc wrote them.
 * FileDescriptorSet is `repeated FileDescriptorProto file = 1`, so each field-1 record is
 * one file; nothing else may appear.
 */
export function splitDescriptorSet(set: Uint8Array): Buffer[] {
  const reader = new BinaryReader(set);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1 || wireType !== WireType.LengthDelimited) {
      throw new Error(`not a FileDescriptorSet: field ${field} with wire type ${wireType}`);
    }
    files.push(Buffer.from(reader.bytes()));
  }
  return files;
}

/**
 * Server reflection (grpc.reflection.v1 and v1alpha) over the descriptor set that
 * `make generate` builds from proto/ with protoc.
 *
 * @grpc/reflection describes whatever `fileDescriptorProtos` a package definition
 * carries. Loading the .proto files with @grpc/proto-loader gives protobufjs's
 * re-derived descriptors: synthetic file names, no dependencies, camelCase fields and
 * relative type names, which descriptor pools (Python's, grpcurl's) reject. So every
 * entry carries protoc's own files instead. The EventGateway handlers do not use this
 * definition: they are registered from the ts-proto service definition.
 */
export function addReflection(server: Server): void {
  const set = Buffer.from(DESCRIPTOR_SET_BASE64, "base64");
  const files = splitDescriptorSet(set);
  // The loader checks that the set is complete (every type resolves) and lists its symbols.
  const loaded = loadFileDescriptorSetFromBuffer(set, { keepCase: true });
  const definition: PackageDefinition = {};
  for (const [name, entry] of Object.entries(loaded)) {
    definition[name] = isTypeDefinition(entry) ? { ...entry, fileDescriptorProtos: files } : entry;
  }
  new ReflectionService(definition).addToServer(server);
}

/** Message and enum entries carry descriptors; a service entry is a map of methods. */
function isTypeDefinition(e: AnyDefinition): e is MessageTypeDefinition<object, object> | EnumTypeDefinition {
  return typeof (e as { format?: unknown }).format === "string";
}
