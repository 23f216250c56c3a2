import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { cli, lines } from "../helpers/cli";

const OPERATIONS = readFileSync(path.resolve(__dirname, "../../docs/operations.md"), "utf8");

/** The "Command line" section of docs/operations.md. */
function commandLineSection(): string {
  const start = OPERATIONS.indexOf("## Command line");
  assert.ok(start >= 0, "docs/operations.md has a Command line section");
  const end = OPERATIONS.indexOf("\n## ", start + 1);
  return OPERATIONS.slice(start, end < 0 ? undefined : end);
}

/** An option line whose text shares the line must keep two spaces between the two columns. */
function assertColumns(help: string): void {
  for (const line of lines(help).filter((l) => /^ {2}--/.test(l))) {
    assert.match(line, /^ {2}--[a-z-]+(?: <value>)?(?: {2,}\S.*)?$/, `the columns run together: ${JSON.stringify(line)}`);
  }
}

describe("the engage-gateway CLI's help and usage errors", function () {
  this.timeout(60_000);

  it("--help lists every command with a one-line description, and so does docs/operations.md", async () => {
    const r = await cli(["--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith("usage: engage-gateway <command> [options]"), r.stdout);
    const listed = lines(r.stdout.split("commands:\n")[1].split("\n\n")[0]).map((l) => /^ {2}(\S+) {2,}\S/.exec(l)?.[1]);
    const all = ["serve", "send", "tail", "dlq", "status", "groups", "chat", "erase", "help"];
    assert.deepEqual(listed, all);
    const section = commandLineSection();
    const documented = [...section.matchAll(/^\| `(\w+)[^`]*`/gm)].map((m) => m[1]);
    assert.deepEqual(documented, all);
  });

  it("help prints the list, then every command's help, groups, chat and erase included", async () => {
    const r = await cli(["help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const command of ["serve", "send", "tail", "dlq", "status", "groups", "chat", "erase"]) {
      assert.match(r.stdout, new RegExp(`^usage: engage-gateway ${command}( |$)`, "m"), command);
    }
    assert.match(r.stdout, /^usage: engage-gateway groups list \| describe <name> \| delete <name> \[--force\]$/m);
  });

  it("the credentials table names every gRPC command for the key flags", () => {
    const section = commandLineSection();
    for (const flag of ["--api-key", "--api-key-file"]) {
      const row = lines(section).find((l) => l.startsWith(`| \`${flag}\` |`));
      assert.ok(row, flag);
      for (const command of ["tail", "dlq", "groups", "chat", "erase"]) assert.ok(row.includes(`\`${command}\``), `${flag}: ${command}`);
    }
  });

  it("exits 2 with a one-line error for an unknown flag", async () => {
    const r = await cli(["tail", "--bogus"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "engage-gateway: unknown option --bogus\n");
    assert.equal(r.stdout, "");
  });

  it("exits 2 with a one-line error for an unknown command", async () => {
    const r = await cli(["frobnicate"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "engage-gateway: unknown command frobnicate (serve, send, tail, dlq, status, groups, chat, erase, help; see engage-gateway --help)\n");
  });

  it("refuses a --wait without a unit, naming the units", async () => {
    const r = await cli(["tail", "--wait", "5"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'engage-gateway: --wait must be a duration with a unit (ms, s, m or h), such as 30s or 2m, got "5"\n');
  });

  const helps: [string, [string, string][]][] = [
    ["serve", [["--http-port", "8080"], ["--grpc-port", "50051"], ["--data-dir", "./data"], ["--partitions", "16"], ["--duplicate-window", "2h"], ["--log-level", "info"]]],
    ["send", [["--url", "http://127.0.0.1:8080"], ["--attempts", "8"], ["--data-dir", "./data"]]],
    ["tail", [["--grpc", "127.0.0.1:50051"]]],
    ["dlq", [["--grpc", "127.0.0.1:50051"], ["--from", "1"], ["--limit", "100"]]],
    ["status", [["--url", "http://127.0.0.1:8080"]]],
    ["groups", [["--grpc", "127.0.0.1:50051"]]],
    ["chat", [["--grpc", "127.0.0.1:50051"], ["--page-size", "500"]]],
    ["erase", [["--grpc", "127.0.0.1:50051"]]],
  ];
  for (const [command, options] of helps) {
    it(`${command} --help exits 0, lists its options with their defaults, in two columns that never run together`, async () => {
      const r = await cli([command, "--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.ok(r.stdout.startsWith(`usage: engage-gateway ${command}`), r.stdout);
      for (const [flag, def] of options) {
        const line = lines(r.stdout).find((l) => l.trimStart().startsWith(`${flag} `));
        assert.ok(line, `${flag} missing from:\n${r.stdout}`);
        assert.ok(line.includes(`(default: ${def})`), line);
      }
      assertColumns(r.stdout);
    });
  }

  for (const command of ["tail", "dlq", "groups", "chat", "erase"]) {
    it(`${command} --help offers the gRPC address, the API key and TLS options`, async () => {
      const r = await cli([command, "--help"]);
      for (const flag of ["--grpc", "--api-key", "--api-key-file", "--tls-ca", "--tls-cert", "--tls-key"]) {
        assert.match(r.stdout, new RegExp(`^  ${flag} <value>`, "m"), `${command}: ${flag}`);
      }
      assert.match(r.stdout, /GATEWAY_API_KEY\)/);
      assert.doesNotMatch(r.stdout, /--key-file|ENGAGE_GATEWAY_API_KEY/);
    });
  }

  it("tail --help lists its flags and repeatable filters", async () => {
    const r = await cli(["tail", "--help"]);
    assert.equal(r.code, 0);
    for (const flag of ["--all", "--from-sequence", "--since", "--limit", "--json", "--wait"]) assert.match(r.stdout, new RegExp(`^  ${flag}\\b`, "m"));
    for (const flag of ["--type", "--channel", "--tenant", "--asset", "--chat"]) {
      const line = lines(r.stdout).find((l) => l.startsWith(`  ${flag} `));
      assert.ok(line?.includes("(repeatable)"), `${flag}: ${line}`);
    }
  });

  it("serve --help names each option's environment variable", async () => {
    const r = await cli(["serve", "--help"]);
    assert.equal(r.code, 0);
    for (const env of ["GATEWAY_WEBHOOK_TOKENS", "GATEWAY_NATS_URL", "GATEWAY_HTTP_PORT", "GATEWAY_DEV", "GATEWAY_NATS_NKEY_SEED_FILE"]) {
      assert.match(r.stdout, new RegExp(`^ +env ${env}$`, "m"));
    }
  });

  it("serve with no token and no --dev exits 2 naming GATEWAY_WEBHOOK_TOKENS", async () => {
    const r = await cli(["serve"], { env: { GATEWAY_NATS_URL: "nats://127.0.0.1:1", GATEWAY_HTTP_PORT: "0", GATEWAY_GRPC_PORT: "0" } });
    assert.equal(r.code, 2);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^engage-gateway: no webhook token: set GATEWAY_WEBHOOK_TOKENS/);
    assert.match(r.stderr, /--dev/);
  });

  it("serve refuses a bare-number duration, naming the units to add", async () => {
    const r = await cli(["serve", "--dev"], { env: { GATEWAY_PUBLISH_TIMEOUT: "5" } });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'engage-gateway: GATEWAY_PUBLISH_TIMEOUT must be a duration with a unit (ms, s, m, h or d), such as 5s or 5ms, got "5"\n');
  });
});
