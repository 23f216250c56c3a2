import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/config";
import { EMBEDDED_MAX_PAYLOAD } from "../../src/nats/embedded-server";

const ROOT = path.resolve(__dirname, "../..");
const read = (f: string): string => readFileSync(path.join(ROOT, f), "utf8");
// mocha reads .mocharc files with js-yaml, so the test suite always has it.
const yaml = require("js-yaml") as { load(text: string): any };

/** Runs the shell lines a file's header comment tells the user to run, in a fresh directory. */
function runHeaderCommands(text: string, from: RegExp, until: RegExp): string {
  const lines = text.split("\n").map((l) => l.replace(/^#\s{3}/, ""));
  const start = lines.findIndex((l) => from.test(l));
  const end = lines.findIndex((l, i) => i > start && until.test(l));
  assert.ok(start >= 0 && end > start, `the header shows the commands from ${from} to ${until}`);
  const dir = mkdtempSync(path.join(tmpdir(), "engage-gw-deploy-"));
  execFileSync("bash", ["-euo", "pipefail", "-c", lines.slice(start, end).join("\n")], { cwd: dir, stdio: "pipe" });
  return dir;
}

describe("deployment files", () => {
  it("the Dockerfile copies only files that exist, builds in a separate stage and runs as a non-root user", () => {
    const docker = read("Dockerfile");
    const copies = [...docker.matchAll(/^COPY (?!--from)(.+)$/gm)].map((m) => m[1].trim().split(/\s+/).slice(0, -1)).flat();
    assert.ok(copies.length > 0);
    for (const src of copies) assert.ok(existsSync(path.join(ROOT, src)), `COPY ${src}: no such file`);
    assert.equal([...docker.matchAll(/^FROM /gm)].length, 2, "multi-stage");
    assert.match(docker, /^USER node$/m);
    const bin = JSON.parse(read("package.json")).bin["engage-gateway"];
    assert.ok(docker.includes(`"node", "${bin}"`), `the entrypoint runs ${bin}`);
  });

  it("the Dockerfile's docker run line starts a gateway with webhook tokens and API keys from mounted files", () => {
    const docker = read("Dockerfile");
    const runLine = /^#\s+docker run ((?:.*\\\n#\s+)*.*)$/m.exec(docker)?.[1].replace(/\\\n#\s+/g, " ");
    assert.ok(runLine, "a docker run example");
    const env = Object.fromEntries([...runLine.matchAll(/-e (\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    const mount = /-v "\$PWD\/(\w+):(\/\S+):ro"/.exec(runLine);
    assert.ok(mount, "the secrets directory is mounted read-only");
    // The same files compose uses, made as its header says.
    const dir = runHeaderCommands(read("docker-compose.yml"), /^mkdir -p secrets$/, /^docker compose up/);
    try {
      const local = (v: string): string => v.replace(mount[2], path.join(dir, mount[1]));
      const config = loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, local(v)])));
      assert.equal(config.security.grpcApiKeys?.length, 1, "an API key: the gateway starts instead of exiting 2");
      assert.deepEqual([...config.webhookTokens.keys()].length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("docker compose gives the gateway tokens and API keys as secret files, so it starts instead of exiting 2 in a restart loop", () => {
    const compose = yaml.load(read("docker-compose.yml"));
    const gw = compose.services.gateway;
    const dir = runHeaderCommands(read("docker-compose.yml"), /^mkdir -p secrets$/, /^docker compose up/);
    try {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries<string>(gw.environment)) {
        const secret = /^\/run\/secrets\/(.+)$/.exec(v)?.[1];
        if (!secret) continue;
        assert.ok(gw.secrets.includes(secret), `${k}: secret ${secret} is given to the gateway`);
        const file = compose.secrets[secret].file as string;
        assert.ok(existsSync(path.join(dir, file)), `${file}: made by the commands in the header`);
        env[k] = path.join(dir, file);
      }
      assert.deepEqual(Object.keys(env).sort(), ["GATEWAY_GRPC_KEYS_FILE", "GATEWAY_WEBHOOK_TOKENS_FILE"]);
      const config = loadConfig({ ...env, GATEWAY_NATS_URL: gw.environment.GATEWAY_NATS_URL, GATEWAY_STREAM_REPLICAS: gw.environment.GATEWAY_STREAM_REPLICAS });
      assert.equal(config.security.grpcApiKeys?.length, 1);
      assert.equal(config.webhookTokens.size, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.match(read(".gitignore"), /^secrets\/$/m, "the secrets stay out of git");
  });

  it("every compose NATS node reads deploy/nats.conf, whose max_payload matches the embedded server's", () => {
    const compose = yaml.load(read("docker-compose.yml"));
    const conf = compose.configs.nats.file as string;
    assert.equal(conf, "./deploy/nats.conf");
    assert.equal(Number(/^max_payload: (\d+)$/m.exec(read("deploy/nats.conf"))?.[1]), EMBEDDED_MAX_PAYLOAD);
    const nodes = Object.entries<any>(compose.services).filter(([name]) => name.startsWith("nats-"));
    assert.equal(nodes.length, 3);
    for (const [name, node] of nodes) {
      // Compose applies YAML merge keys (`<<: *nats`); js-yaml leaves them as they are.
      const svc = { ...node["<<"], ...node };
      const target = svc.configs.find((c: any) => c.source === "nats").target;
      const i = svc.command.indexOf("-c");
      assert.ok(i >= 0 && svc.command[i + 1] === target, `${name} runs with -c ${target}`);
    }
    // nats-server itself accepts the file (-t tests a configuration and exits).
    execFileSync("nats-server", ["-t", "-c", path.join(ROOT, "deploy/nats.conf")], { stdio: "pipe" });
  });

  it("the systemd unit starts the package's binary, outlasts the shutdown timeout and stops the gateway alone first", () => {
    const unit = read("deploy/engage-gateway.service");
    const bin = JSON.parse(read("package.json")).bin["engage-gateway"];
    assert.match(unit, new RegExp(`^ExecStart=/usr/bin/node /opt/engage-gateway/${bin.replace(/\./g, "\\.")} serve$`, "m"));
    assert.match(unit, /^User=engage-gateway$/m);
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    assert.ok(stop > 10, "longer than the default GATEWAY_SHUTDOWN_TIMEOUT of 10 s");
    // SIGTERM to the gateway only: it stops its embedded nats-server after draining.
    assert.match(unit, /^KillMode=mixed$/m);
  });

  it("the systemd unit hands the token and key files to the gateway as credentials, and systemd accepts every line", () => {
    const unit = read("deploy/engage-gateway.service");
    const creds = new Map([...unit.matchAll(/^LoadCredential=([\w-]+):(\S+)$/gm)].map((m) => [m[1], m[2]]));
    const env = Object.fromEntries(
      [...unit.matchAll(/^Environment=(.+)$/gm)].flatMap((m) => m[1].split(/\s+/).map((kv) => kv.split("=") as [string, string])),
    );
    const dir = mkdtempSync(path.join(tmpdir(), "engage-gw-creds-"));
    try {
      writeFileSync(path.join(dir, "webhook-tokens"), "default:0123456789abcdef0123\n");
      writeFileSync(path.join(dir, "grpc-keys"), "bots:0123456789abcdef0123456789abcdef:*:*\n");
      for (const v of ["GATEWAY_WEBHOOK_TOKENS_FILE", "GATEWAY_GRPC_KEYS_FILE"]) {
        const name = /^%d\/(.+)$/.exec(env[v] ?? "")?.[1];
        assert.ok(name && creds.has(name), `${v} names a LoadCredential`);
        env[v] = path.join(dir, name);
      }
      const config = loadConfig({ ...env, GATEWAY_DATA_DIR: dir });
      assert.equal(config.security.grpcApiKeys?.length, 1);
      assert.match(unit, new RegExp(`^# +${creds.get("grpc-keys")!.replace(/\//g, "\\/")} `, "m"), "the header documents the key file");
      // systemd-analyze prints a line for every directive it cannot parse.
      const copy = path.join(dir, "engage-gateway.service");
      writeFileSync(copy, unit);
      const out = execFileSync("systemd-analyze", ["verify", copy], { stdio: "pipe", encoding: "utf8" });
      assert.equal(out, "");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
