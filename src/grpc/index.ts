export { createGrpcServer, SERVICE_NAME, type GrpcServer, type GrpcServerOptions } from "./server";
