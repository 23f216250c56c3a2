// Command go-bot is an example engage-gateway bot in Go (grpc-go).
//
// Default: joins a consumer group with Consume, takes its deliveries in batches
// (GATEWAY_MAX_BATCH_EVENTS, default 64), prints each event and settles each batch with
// one `settle` message.
// -tail: a Subscribe tail, from -from-sequence N or from everything retained, its events
// in batches of the same size.
// Generate the client first with `make clients` (build/clients/go, GOPATH layout).
// Credentials come from the environment: GATEWAY_API_KEY (or GATEWAY_API_KEY_FILE), and
// GATEWAY_CLIENT_TLS_CA / _CERT / _KEY or GATEWAY_CLIENT_TLS=true for TLS.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"os"
	"strconv"
	"strings"

	eventsv1 "engagegateway/gen/go/engage/events/v1"
	gatewayv1 "engagegateway/gen/go/engage/gateway/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

func main() {
	addr := flag.String("address", envOr("GATEWAY_ADDRESS", "localhost:50051"), "gateway gRPC address (env GATEWAY_ADDRESS)")
	group := flag.String("group", "example-bots", "consumer group to join")
	tail := flag.Bool("tail", false, "Subscribe (no acks, no group) instead of Consume")
	from := flag.Uint64("from-sequence", 0, "with -tail: first stream sequence; default every retained event, then new ones")
	flag.Parse()
	log.SetFlags(0)

	transport, err := transportOption()
	if err != nil {
		log.Fatalf("tls: %v", err)
	}
	conn, err := grpc.Dial(*addr, transport)
	if err != nil {
		log.Fatalf("dial %s: %v", *addr, err)
	}
	defer conn.Close()
	client := gatewayv1.NewEventGatewayClient(conn)
	ctx, err := withAPIKey(context.Background())
	if err != nil {
		log.Fatalf("api key: %v", err)
	}
	// How many events to ask for per response (max_batch_events), in both modes.
	batch, convErr := strconv.ParseUint(envOr("GATEWAY_MAX_BATCH_EVENTS", "64"), 10, 32)
	if convErr != nil || batch < 1 {
		log.Fatalf("GATEWAY_MAX_BATCH_EVENTS: expected a count from 1, got %s", os.Getenv("GATEWAY_MAX_BATCH_EVENTS"))
	}
	if *tail {
		err = runTail(ctx, client, *from, uint32(batch))
	} else {
		err = runConsume(ctx, client, *group, uint32(batch))
	}
	if err != nil {
		log.Fatalf("gateway: %v", err)
	}
}

// transportOption is TLS when a CA, a client certificate or GATEWAY_CLIENT_TLS=true is
// given, else plaintext (grpc.WithInsecure: grpc-go 1.33, Debian).
func transportOption() (grpc.DialOption, error) {
	ca, cert, key := os.Getenv("GATEWAY_CLIENT_TLS_CA"), os.Getenv("GATEWAY_CLIENT_TLS_CERT"), os.Getenv("GATEWAY_CLIENT_TLS_KEY")
	if ca == "" && cert == "" && os.Getenv("GATEWAY_CLIENT_TLS") != "true" {
		return grpc.WithInsecure(), nil
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := ioutil.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", ca)
		}
	}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("GATEWAY_CLIENT_TLS_CERT and GATEWAY_CLIENT_TLS_KEY: %v", err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(config)), nil
}

// withAPIKey makes every call made with ctx carry `authorization: Bearer <key>` metadata.
func withAPIKey(ctx context.Context) (context.Context, error) {
	key := os.Getenv("GATEWAY_API_KEY")
	if file := os.Getenv("GATEWAY_API_KEY_FILE"); key == "" && file != "" {
		b, err := ioutil.ReadFile(file)
		if err != nil {
			return nil, err
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		return ctx, nil
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key), nil
}

func runConsume(ctx context.Context, client gatewayv1.EventGatewayClient, group string, batch uint32) error {
	stream, err := client.Consume(ctx)
	if err != nil {
		return err
	}
	// `open` must be the first message of the call. max_in_flight as large as a batch, so a
	// whole batch can come at once.
	open := &gatewayv1.ConsumeOpen{Group: group, MaxBatchEvents: batch, MaxInFlight: batch}
	if err := stream.Send(&gatewayv1.ConsumeRequest{Request: &gatewayv1.ConsumeRequest_Open{Open: open}}); err != nil {
		return err
	}
	for {
		res, err := stream.Recv()
		if err != nil {
			return err
		}
		switch r := res.Response.(type) {
		case *gatewayv1.ConsumeResponse_Opened:
			fmt.Printf("opened group=%s member=%s\n", r.Opened.Group, r.Opened.MemberId)
		case *gatewayv1.ConsumeResponse_Delivery:
			// One at a time: batching is off, or the gateway predates it (and so has no `settle`).
			show(r.Delivery.Sequence, r.Delivery.Event)
			ack := &gatewayv1.ConsumeRequest{Request: &gatewayv1.ConsumeRequest_Ack{Ack: &gatewayv1.ConsumeAck{DeliveryId: r.Delivery.DeliveryId}}}
			if err := stream.Send(ack); err != nil {
				return err
			}
		case *gatewayv1.ConsumeResponse_Batch:
			// In order: a chat's events come in the order they happened. Then one `settle` for all.
			settle := &gatewayv1.ConsumeSettle{}
			for _, d := range r.Batch.Deliveries {
				show(d.Sequence, d.Event)
				settle.AckIds = append(settle.AckIds, d.DeliveryId)
			}
			if err := stream.Send(&gatewayv1.ConsumeRequest{Request: &gatewayv1.ConsumeRequest_Settle{Settle: settle}}); err != nil {
				return err
			}
			fmt.Printf("settle acks=%d\n", len(settle.AckIds))
		case *gatewayv1.ConsumeResponse_Revoked:
			// We settle each batch before reading on, so no work is left to drop; a bot that
			// works in the background would abandon it here (a late ack of it is ignored).
			fmt.Printf("revoked %v: %s\n", r.Revoked.DeliveryIds, r.Revoked.Reason)
		}
	}
}

func runTail(ctx context.Context, client gatewayv1.EventGatewayClient, from uint64, batch uint32) error {
	// Batches cut the per-response cost when many events come at once (a replay, a burst).
	req, fromText := &gatewayv1.SubscribeRequest{Start: gatewayv1.StartPosition_START_POSITION_ALL, MaxBatchEvents: batch}, "all"
	if from > 0 {
		req.Start, req.StartSequence, fromText = gatewayv1.StartPosition_START_POSITION_SEQUENCE, from, fmt.Sprint(from)
	}
	stream, err := client.Subscribe(ctx, req)
	if err != nil {
		return err
	}
	fmt.Printf("tailing from=%s\n", fromText)
	for {
		res, err := stream.Recv()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		// With batching on, every event comes in Batch, in stream order. Without it (a batch
		// size of 1, or a gateway that predates batching) the response is the event.
		if b := res.GetBatch(); b != nil {
			for _, r := range b.Responses {
				show(r.Sequence, r.Event)
			}
		} else {
			show(res.Sequence, res.Event)
		}
	}
}

// text is the first message's text, or the title of the option chosen in an interactive reply.
func text(e *eventsv1.Event) string {
	var msgs []*eventsv1.Message
	if p := e.GetChatAssigned(); p != nil {
		msgs = p.Messages
	} else if p := e.GetMessageReceived(); p != nil {
		msgs = p.Messages
	}
	if len(msgs) == 0 {
		return ""
	}
	if msgs[0].Text != "" {
		return msgs[0].Text
	}
	return msgs[0].GetInteractiveResponse().GetTitle()
}

func show(seq uint64, e *eventsv1.Event) {
	t, _ := json.Marshal(text(e))
	fmt.Printf("event seq=%d chat=%s type=%s text=%s\n", seq, e.ChatId, e.TypeName, t)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
