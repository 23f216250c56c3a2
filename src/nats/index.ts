export { createEmbeddedNatsServer, type EmbeddedNatsServer } from "./embedded-server";
export { startNatsServer, findNatsServer, type NatsServerProcess, type NatsServerOptions } from "./nats-server-process";
export { encryptedStreams } from "./store-encryption";
