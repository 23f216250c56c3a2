export { createHttpApp, WEBHOOK_PATH, RETRY_AFTER_SECONDS, type HttpAppOptions, type Readiness } from "./app";
export { createTokenCheck, type TokenCheck } from "./webhook-auth";
export { handleClientErrors } from "./client-errors";
