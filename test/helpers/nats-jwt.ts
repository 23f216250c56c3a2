import { createHash } from "node:crypto";
import { nkeys } from "nats";

/**
 * Just enough of the NATS JWT format (v2, ed25519-nkey) to run a nats-server in operator
 * mode in a test and write a real `.creds` file: operator → account → user.
 */
const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString("base64url");

function base32(buf: Buffer): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function encode(issuer: any, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = { jti: "", iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats };
  claims.jti = base32(createHash("sha512-256").update(JSON.stringify(claims)).digest());
  const signing = `${b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }))}.${b64url(JSON.stringify(claims))}`;
  return `${signing}.${b64url(issuer.sign(new TextEncoder().encode(signing)))}`;
}

export interface OperatorSetup {
  /** nats-server configuration lines for operator mode with a memory resolver. */
  serverConf: string;
  /** The text of a .creds file for a user of the account. */
  creds: string;
  /** The user's seed (so a test can look for it in logs). */
  userSeed: string;
}

export function operatorSetup(): OperatorSetup {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const system = nkeys.createAccount();
  const user = nkeys.createUser();
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const operatorJwt = encode(operator, operator.getPublicKey(), "test-operator", {
    system_account: system.getPublicKey(),
    type: "operator",
    version: 2,
  });
  const accountJwt = encode(operator, account.getPublicKey(), "test-account", {
    limits: { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
    default_permissions: { pub: {}, sub: {} },
    type: "account",
    version: 2,
  });
  const systemJwt = encode(operator, system.getPublicKey(), "SYS", {
    limits: unlimited,
    default_permissions: { pub: {}, sub: {} },
    type: "account",
    version: 2,
  });
  const userJwt = encode(account, user.getPublicKey(), "gateway", { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: "user", version: 2 });
  const userSeed = new TextDecoder().decode(user.getSeed());
  const creds =
    `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n` +
    `************************* IMPORTANT *************************\n` +
    `NKEY Seed printed below can be used to sign and prove identity.\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${userSeed}\n------END USER NKEY SEED------\n`;
  const serverConf =
    `operator: "${operatorJwt}"\nsystem_account: ${system.getPublicKey()}\nresolver: MEMORY\n` +
    `resolver_preload: {\n  ${account.getPublicKey()}: "${accountJwt}"\n  ${system.getPublicKey()}: "${systemJwt}"\n}\n`;
  return { serverConf, creds, userSeed };
}
