import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const read = (f: string): string => readFileSync(path.join(ROOT, f), "utf8");

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

  it("the systemd unit starts the package's binary and outlasts the shutdown timeout", () => {
    const unit = read("deploy/engage-gateway.service");
    const bin = JSON.parse(read("package.json")).bin["engage-gateway"];
    assert.match(unit, new RegExp(`^ExecStart=/usr/bin/node /opt/engage-gateway/${bin.replace(/\./g, "\\.")} serve$`, "m"));
    assert.match(unit, /^User=engage-gateway$/m);
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    assert.ok(stop > 10, "longer than the default GATEWAY_SHUTDOWN_TIMEOUT of 10 s");
  });
});
