# Thin wrappers: the real commands live in package.json and scripts/.
.PHONY: setup run test generate lint build clean check-generated send tail clients check-proto

setup:
	@bash scripts/setup.sh

# `build` compiles only when a source is newer than the last build (scripts/setup.sh).
run: build
	node dist/cli/main.js serve --dev

test: setup
	npm test

generate: setup
	npm run generate

lint: setup
	npm run lint

build:
	@bash scripts/setup.sh build

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

# Quickstart helpers, against `make run` on this machine. Both wait up to 2 minutes for
# the gateway, so the three Quickstart terminals may be started together; `send --fresh`
# gives each fixture a new transaction_id, so every `make send` stores three new events.
send: build
	node dist/cli/main.js send --fresh --wait 2m test/fixtures/chat.assigned.json test/fixtures/message.received.json test/fixtures/chat.closed.json

tail: build
	node dist/cli/main.js tail --all --wait 2m

# A three-node JetStream cluster on loopback (data in data/cluster/);
# `bash scripts/nats-cluster.sh stop|status` stops it or shows it.
.PHONY: cluster run-cluster
cluster: setup
	@bash scripts/nats-cluster.sh start

run-cluster: cluster build
	GATEWAY_NATS_URL=$$(bash scripts/nats-cluster.sh urls) GATEWAY_STREAM_REPLICAS=3 node dist/cli/main.js serve --dev

# The chaos run for 3 minutes (make test runs it for 60 s): NATS nodes killed every 20 s,
# a gateway restarted, a tail and a group reading; prints its counts.
.PHONY: chaos
chaos: setup
	npm run test:chaos

# Benchmarks on loopback, each against a baseline from the same run; writes BENCHMARKS.md
# (about 5 minutes; its curves part, from the last bench-full, is kept).
# bench-full: the same, then the scaling curves at full size, drawn as docs/bench/*.svg
# (15 to 30 minutes). `npx tsx scripts/bench/run.ts --only curves` draws the curves at
# reduced sizes alone.
.PHONY: bench bench-full
bench: setup
	npm run build
	npx tsx scripts/bench/run.ts

bench-full: setup
	npm run build
	npx tsx scripts/bench/run.ts --full
