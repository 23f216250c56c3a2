// Example engage-gateway bot in Java (grpc-java, Debian's libgrpc-java).
//
// Default: joins a consumer group with Consume, takes its deliveries in batches
// (GATEWAY_MAX_BATCH_EVENTS, default 64), prints each event and settles each batch with
// one `settle` message.
// --tail: a Subscribe tail, from --from-sequence N or from everything retained, its
// events in batches of the same size.
// Generate the client first: `make clients` (compiles build/clients/java and writes the
// java.args with its classpath). Run from the repository root, as a single source file:
//   java @build/clients/java/java.args examples/java-bot/Bot.java [--tail] [...]
// Credentials come from the environment: GATEWAY_API_KEY (or GATEWAY_API_KEY_FILE), and
// GATEWAY_CLIENT_TLS_CA / _CERT / _KEY or GATEWAY_CLIENT_TLS=true for TLS.

import io.engagegateway.events.v1.Event;
import io.engagegateway.events.v1.Message;
import io.engagegateway.gateway.v1.ConsumeAck;
import io.engagegateway.gateway.v1.ConsumeDelivery;
import io.engagegateway.gateway.v1.ConsumeOpen;
import io.engagegateway.gateway.v1.ConsumeRequest;
import io.engagegateway.gateway.v1.ConsumeResponse;
import io.engagegateway.gateway.v1.ConsumeSettle;
import io.engagegateway.gateway.v1.EventGatewayGrpc;
import io.engagegateway.gateway.v1.StartPosition;
import io.engagegateway.gateway.v1.SubscribeRequest;
import io.engagegateway.gateway.v1.SubscribeResponse;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

public class Bot {
  public static void main(String[] args) throws Exception {
    String address = env("GATEWAY_ADDRESS", "localhost:50051");
    String group = "example-bots";
    boolean tail = false;
    long fromSequence = 0;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--address" -> address = value(args, ++i);
        case "--group" -> group = value(args, ++i);
        case "--tail" -> tail = true;
        case "--from-sequence" -> fromSequence = Long.parseLong(value(args, ++i));
        default -> usage("unknown option " + args[i]);
      }
    }

    ManagedChannel channel = Grpc.newChannelBuilder(address, channelCredentials()).build();
    EventGatewayGrpc.EventGatewayStub stub = EventGatewayGrpc.newStub(channel);
    String key = apiKey();
    if (key != null) {
      // Every call carries the key as `authorization: Bearer <key>` metadata.
      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
      stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    CountDownLatch done = new CountDownLatch(1);
    int batch = maxBatchEvents();
    if (tail) tail(stub, fromSequence, batch, done);
    else consume(stub, group, batch, done);
    done.await();
    channel.shutdownNow();
  }

  static void consume(EventGatewayGrpc.EventGatewayStub stub, String group, int batch, CountDownLatch done) {
    // Responses arrive one at a time on grpc's executor, so writing acks from there is safe.
    AtomicReference<StreamObserver<ConsumeRequest>> requests = new AtomicReference<>();
    requests.set(stub.consume(new Responses<>(done) {
      @Override
      public void onNext(ConsumeResponse res) {
        switch (res.getResponseCase()) {
          case OPENED -> System.out.printf("opened group=%s member=%s%n", res.getOpened().getGroup(), res.getOpened().getMemberId());
          case DELIVERY -> {
            // One at a time: batching is off, or the gateway predates it (and so has no `settle`).
            show(res.getDelivery().getSequence(), res.getDelivery().getEvent());
            ConsumeAck ack = ConsumeAck.newBuilder().setDeliveryId(res.getDelivery().getDeliveryId()).build();
            requests.get().onNext(ConsumeRequest.newBuilder().setAck(ack).build());
          }
          case BATCH -> {
            // In order: a chat's events come in the order they happened. Then one `settle` for all.
            ConsumeSettle.Builder settle = ConsumeSettle.newBuilder();
            for (ConsumeDelivery d : res.getBatch().getDeliveriesList()) {
              show(d.getSequence(), d.getEvent());
              settle.addAckIds(d.getDeliveryId());
            }
            requests.get().onNext(ConsumeRequest.newBuilder().setSettle(settle).build());
            System.out.printf("settle acks=%d%n", settle.getAckIdsCount());
          }
          // We settle each batch before reading on, so no work is left to drop; a bot that
          // works in the background would abandon it here (a late ack of it is ignored).
          case REVOKED -> System.out.printf("revoked %s: %s%n", res.getRevoked().getDeliveryIdsList(), res.getRevoked().getReason());
          default -> { }
        }
        System.out.flush();
      }
    }));
    // `open` must be the first message of the call. max_in_flight as large as a batch, so a
    // whole batch can come at once.
    ConsumeOpen open = ConsumeOpen.newBuilder().setGroup(group).setMaxBatchEvents(batch).setMaxInFlight(batch).build();
    requests.get().onNext(ConsumeRequest.newBuilder().setOpen(open).build());
  }

  /** How many events to ask for per response (ConsumeOpen / SubscribeRequest.max_batch_events). */
  static int maxBatchEvents() {
    String value = env("GATEWAY_MAX_BATCH_EVENTS", "64");
    if (!value.matches("[0-9]{1,9}") || Integer.parseInt(value) < 1) usage("GATEWAY_MAX_BATCH_EVENTS: expected a count from 1, got " + value);
    return Integer.parseInt(value);
  }

  static void tail(EventGatewayGrpc.EventGatewayStub stub, long fromSequence, int batch, CountDownLatch done) {
    // Batches cut the per-response cost when many events come at once (a replay, a burst).
    SubscribeRequest req = fromSequence > 0
        ? SubscribeRequest.newBuilder().setStart(StartPosition.START_POSITION_SEQUENCE).setStartSequence(fromSequence).setMaxBatchEvents(batch).build()
        : SubscribeRequest.newBuilder().setStart(StartPosition.START_POSITION_ALL).setMaxBatchEvents(batch).build();
    System.out.println("tailing from=" + (fromSequence > 0 ? fromSequence : "all"));
    stub.subscribe(req, new Responses<>(done) {
      @Override
      public void onNext(SubscribeResponse res) {
        // With batching on, every event comes in the batch, in stream order. Without it (a
        // batch size of 1, or a gateway that predates batching) the response is the event.
        if (res.hasBatch()) {
          for (SubscribeResponse r : res.getBatch().getResponsesList()) show(r.getSequence(), r.getEvent());
        } else {
          show(res.getSequence(), res.getEvent());
        }
        System.out.flush();
      }
    });
  }

  /** Ends the bot on the call's end: exit 1 with the status on an error. */
  abstract static class Responses<T> implements StreamObserver<T> {
    private final CountDownLatch done;

    Responses(CountDownLatch done) {
      this.done = done;
    }

    @Override
    public void onError(Throwable t) {
      Status s = Status.fromThrowable(t);
      System.err.println("gateway: " + s.getCode() + ": " + s.getDescription());
      System.exit(1);
    }

    @Override
    public void onCompleted() {
      done.countDown();
    }
  }

  /** TLS when a CA, a client certificate or GATEWAY_CLIENT_TLS=true is given; else plaintext. */
  static ChannelCredentials channelCredentials() throws IOException {
    String ca = env("GATEWAY_CLIENT_TLS_CA", null);
    String cert = env("GATEWAY_CLIENT_TLS_CERT", null);
    String key = env("GATEWAY_CLIENT_TLS_KEY", null);
    if (ca == null && cert == null && !"true".equals(env("GATEWAY_CLIENT_TLS", ""))) return InsecureChannelCredentials.create();
    TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
    if (ca != null) tls.trustManager(new File(ca));
    if (cert != null) {
      if (key == null) usage("GATEWAY_CLIENT_TLS_CERT needs GATEWAY_CLIENT_TLS_KEY");
      tls.keyManager(new File(cert), new File(key)); // PEM; the key in PKCS#8
    }
    return tls.build();
  }

  static String apiKey() throws IOException {
    String key = env("GATEWAY_API_KEY", null);
    String file = env("GATEWAY_API_KEY_FILE", null);
    if (key == null && file != null) key = Files.readString(Path.of(file)).strip();
    return key;
  }

  /** The first message's text, or the title of the option chosen in an interactive reply. */
  static String text(Event e) {
    List<Message> messages = switch (e.getPayloadCase()) {
      case CHAT_ASSIGNED -> e.getChatAssigned().getMessagesList();
      case MESSAGE_RECEIVED -> e.getMessageReceived().getMessagesList();
      default -> List.of();
    };
    if (messages.isEmpty()) return "";
    Message first = messages.get(0);
    return first.getText().isEmpty() ? first.getInteractiveResponse().getTitle() : first.getText();
  }

  static void show(long sequence, Event e) {
    System.out.printf("event seq=%d chat=%s type=%s text=%s%n", sequence, e.getChatId(), e.getTypeName(), quote(text(e)));
  }

  /** A JSON string literal, like the other example bots print. */
  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  static String env(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? fallback : v;
  }

  static String value(String[] args, int i) {
    if (i >= args.length) usage(args[i - 1] + " needs a value");
    return args[i];
  }

  static void usage(String problem) {
    System.err.println(problem + "\nusage: Bot [--address host:port] [--group name] [--tail] [--from-sequence N]");
    System.exit(2);
  }
}
