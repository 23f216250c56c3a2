# Thin wrappers: the real commands live in package.json and scripts/.
.PHONY: setup run test generate lint build clean check-generated

setup:
	@bash scripts/setup.sh

run: setup
	npm run build
	node dist/main.js --dev

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
