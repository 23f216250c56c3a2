import { credentials, loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

/**
 * Clients built at run time by @grpc/proto-loader straight from .proto files: generated
 * independently of the gateway's ts-proto code, as a user's client would be.
 */
export function dynamicClient(address: string, file: string, includeDirs: string[], service: string): any {
  const def = loadSync(file, { includeDirs, keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  let obj: any = loadPackageDefinition(def) as GrpcObject;
  for (const part of service.split(".")) obj = obj[part];
  const Ctor = obj as ServiceClientConstructor;
  return new Ctor(address, credentials.createInsecure());
}

export function gatewayClient(address: string): any {
  return dynamicClient(address, "engage/gateway/v1/gateway.proto", [path.join(ROOT, "proto")], "engage.gateway.v1.EventGateway");
}

export function healthClient(address: string): any {
  return dynamicClient(address, "health/v1/health.proto", [path.join(ROOT, "node_modules/grpc-health-check/proto")], "grpc.health.v1.Health");
}

export function reflectionClient(address: string): any {
  return dynamicClient(
    address,
    "grpc/reflection/v1/reflection.proto",
    [path.join(ROOT, "node_modules/@grpc/reflection/build/proto")],
    "grpc.reflection.v1.ServerReflection",
  );
}
