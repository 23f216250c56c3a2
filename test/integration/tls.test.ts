import assert from "node:assert/strict";
import { request } from "node:https";
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { EventGatewayClient, type PublishResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { fixtureBytes } from "../helpers/fixtures";
import { startTestGateway, TOKEN, type TestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";

/** POSTs a fixture over HTTPS; resolves with the status, or rejects on a TLS failure. */
function postTls(port: number, certs: TestCerts, clientCert: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/v1/engage/events",
        method: "POST",
        ca: certs.read(certs.caFile),
        ...(clientCert ? { cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) } : {}),
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      },
    );
    req.on("error", reject);
    req.end(fixtureBytes("chat.assigned"));
  });
}

function publishTls(port: number, certs: TestCerts, clientCert: boolean): Promise<PublishResponse> {
  const creds = credentials.createSsl(
    certs.read(certs.caFile),
    clientCert ? certs.read(certs.clientKey) : null,
    clientCert ? certs.read(certs.clientCert) : null,
  );
  const client = new EventGatewayClient(`127.0.0.1:${port}`, creds);
  return new Promise<PublishResponse>((resolve, reject) =>
    client.publish({ source: { $case: "json", json: fixtureBytes("chat.closed") }, tenant: "", traceparent: "" }, (e, r) =>
      e ? reject(e) : resolve(r),
    ),
  ).finally(() => client.close());
}

describe("TLS on the HTTP and gRPC ports", function () {
  this.timeout(30_000);
  let nats: TestNats;
  let certs: TestCerts;

  before(async () => {
    nats = await startTestNats();
    certs = makeCerts();
  });
  after(async () => {
    await nats?.cleanup();
  });

  describe("with a server certificate", () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway(nats.url, { GATEWAY_TLS_CERT: certs.serverCert, GATEWAY_TLS_KEY: certs.serverKey });
    });
    after(async () => {
      await gw?.close();
    });

    it("serves the webhook over HTTPS", async () => {
      assert.equal(await postTls(gw.httpPort, certs, false), 200);
    });

    it("serves gRPC over TLS, and refuses a plaintext client", async () => {
      const res = await publishTls(gw.grpcPort, certs, false);
      assert.ok(res.sequence > 0);
      const plain = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
      const err = await new Promise<ServiceError>((resolve) =>
        plain.publish({ source: { $case: "json", json: fixtureBytes("chat.closed") }, tenant: "", traceparent: "" }, (e) => resolve(e!)),
      );
      plain.close();
      assert.equal(err.code, status.UNAVAILABLE);
    });
  });

  describe("with client certificates required (mTLS)", () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway(nats.url, {
        GATEWAY_TLS_CERT: certs.serverCert,
        GATEWAY_TLS_KEY: certs.serverKey,
        GATEWAY_TLS_CLIENT_CA: certs.caFile,
      });
    });
    after(async () => {
      await gw?.close();
    });

    it("accepts a webhook with a client certificate and refuses one without", async () => {
      assert.equal(await postTls(gw.httpPort, certs, true), 200);
      await assert.rejects(postTls(gw.httpPort, certs, false));
    });

    it("accepts a gRPC client with a certificate and refuses one without", async () => {
      assert.ok((await publishTls(gw.grpcPort, certs, true)).sequence > 0);
      const err = await publishTls(gw.grpcPort, certs, false).then(() => assert.fail("expected an error"), (e: ServiceError) => e);
      assert.equal(err.code, status.UNAVAILABLE);
    });
  });

  it("refuses to start with a certificate and no key, naming the variables", async () => {
    await assert.rejects(startTestGateway(nats.url, { GATEWAY_TLS_CERT: certs.serverCert }), /GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together/);
  });
});
