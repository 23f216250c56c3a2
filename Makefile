# Thin wrappers: the real commands live in package.json and scripts/.
.PHONY: setup run test generate lint build clean check-generated send tail clients check-proto

setup:
	@bash scripts/setup.sh

run: setup
	npm run build
	node dist/cli/main.js serve --dev

test: setup
	npm test

generate: setup
	npm run generate

lint: setup
	npm run lint

build: setup
	npm run build

clean:
	rm -rf dist build data

check-generated: setup
	npm run check-generated

# Client code for Python, Go, Node and Java in build/clients/<lang> (installs generators with apt).
clients: setup
	@bash scripts/clients.sh

# buf breaking: proto/ against the previous commit (skips with a reason when there is none).
check-proto: setup
	@bash scripts/check-proto.sh

# Quickstart helpers, against `make run` on this machine.
send: build
	node dist/cli/main.js send test/fixtures/chat.assigned.json test/fixtures/message.received.json test/fixtures/chat.closed.json

tail: build
	node dist/cli/main.js tail --all

# A three-node JetStream cluster on loopback (data in data/cluster/);
# `bash scripts/nats-cluster.sh stop|status` stops it or shows it.
.PHONY: cluster run-cluster
cluster: setup
	@bash scripts/nats-cluster.sh start

run-cluster: cluster build
	GATEWAY_NATS_URL=$$(bash scripts/nats-cluster.sh urls) GATEWAY_STREAM_REPLICAS=3 node dist/cli/main.js serve --dev

# Benchmarks on loopback, each against a baseline from the same run; writes BENCHMARKS.md.
.PHONY: bench
bench: setup
	npm run build
	npx tsx scripts/bench/run.ts
