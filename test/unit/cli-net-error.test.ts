import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { columns } from "../../src/cli/args";
import { describeConnectError, describeGrpcError } from "../../src/cli/net-error";

const grpcError = (code: status, details: string): ServiceError =>
  Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });

describe("the CLI's network error wording", () => {
  it("turns grpc-js's refused connection into the address, the code and a question", () => {
    const err = grpcError(status.UNAVAILABLE, "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:50051. Resolution note: ");
    assert.equal(describeGrpcError(err, "127.0.0.1:50051", true), "UNAVAILABLE: cannot connect to 127.0.0.1:50051 (ECONNREFUSED): is the gateway running?");
  });

  it("never ends with an empty resolution note, whatever the error", () => {
    const err = grpcError(status.UNAVAILABLE, "No connection established. Last error: something odd. Resolution note: ");
    const text = describeGrpcError(err, "gw:1", true);
    assert.doesNotMatch(text, /Resolution note/);
    assert.match(text, /^UNAVAILABLE: cannot connect to gw:1: something odd/);
  });

  it("names a host that does not resolve", () => {
    const err = grpcError(status.UNAVAILABLE, "Name resolution failed for target dns:nohost.invalid:1");
    assert.equal(describeGrpcError(err, "nohost.invalid:1", true), "UNAVAILABLE: cannot connect to nohost.invalid:1 (ENOTFOUND): the host name does not resolve");
  });

  it("says how to give a key only when none was given", () => {
    const err = grpcError(status.UNAUTHENTICATED, "unknown API key");
    assert.equal(describeGrpcError(err, "a:1", true), "UNAUTHENTICATED: unknown API key");
    assert.match(describeGrpcError(err, "a:1", false), /pass --api-key or --api-key-file, or set GATEWAY_API_KEY$/);
  });

  it("keeps only the first line of an OpenSSL reason", () => {
    const text = describeConnectError("h:443", "ERR_SSL_SOMETHING_CERT", "8020:error:0A00:SSL routines:ssl3_read_bytes:bad thing\n../deps/openssl/x.c:1");
    assert.equal(text.split("\n").length, 1);
    assert.match(text, /\(bad thing\)$/);
  });
});

describe("help columns", () => {
  it("keep two spaces between the columns, and move a description under a flag too long for the column", () => {
    const long = `  --${"x".repeat(40)} <value>`;
    const out = columns([["  --a <value>", "short"], [long, "long one"]], 20);
    assert.equal(out[0], `${"  --a <value>".padEnd(22)}short`);
    assert.equal(out[1], long);
    assert.equal(out[2], `${"".padEnd(22)}long one`);
  });
});
