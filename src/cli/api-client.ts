import { readFileSync } from "node:fs";
import { credentials, Metadata } from "@grpc/grpc-js";
import { EventGatewayClient } from "../gen/engage/gateway/v1/gateway";
import { value, UsageError, type OptionDef, type Parsed } from "./args";

/** The environment variable a CLI command reads the gRPC API key from, when no --key-file is given. */
export const API_KEY_ENV = "ENGAGE_GATEWAY_API_KEY";

/** How a command reaches the gateway's gRPC port. */
export const CLIENT_OPTIONS: OptionDef[] = [
  { name: "grpc", help: "gateway gRPC address", default: "127.0.0.1:50051" },
  { name: "key-file", help: `file holding the gRPC API key (else $${API_KEY_ENV}; none in dev mode)` },
  { name: "tls-ca", help: "PEM CA that signed the gateway's certificate: connect with TLS" },
];

/** A client and the call metadata carrying the API key, from the command's options. */
export function connectClient(p: Parsed, defs: OptionDef[], env: NodeJS.ProcessEnv): { client: EventGatewayClient; metadata: Metadata } {
  const keyFile = value(p, defs, "key-file");
  let key = env[API_KEY_ENV];
  if (keyFile !== undefined) {
    try {
      key = readFileSync(keyFile, "utf8").trim();
    } catch (err) {
      throw new UsageError(`--key-file: cannot read ${keyFile} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  const metadata = new Metadata();
  if (key) metadata.set("authorization", `Bearer ${key}`);
  const ca = value(p, defs, "tls-ca");
  let creds = credentials.createInsecure();
  if (ca !== undefined) {
    try {
      creds = credentials.createSsl(readFileSync(ca));
    } catch (err) {
      throw new UsageError(`--tls-ca: cannot read ${ca} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  return { client: new EventGatewayClient(value(p, defs, "grpc")!, creds), metadata };
}
