# lambda-probe — every command a user types is here; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# The tools venv comes first on PATH: cargo-lambda's zig and `sam build` find it there.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

BIN := target/release/lambda-probe
PAYLOADS := $(wildcard bench-payloads/*.json)

.PHONY: help setup build build-arm64 build-x86 demo test lint bench watch local emulate clean

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install what builds and tests need (idempotent, quick when present)
	@scripts/setup.sh

build: build-arm64 build-x86 ## Build bootstrap for arm64 and x86_64 (target/lambda/lambda-probe/)

build-arm64: setup ## Build bootstrap for arm64 (Graviton)
	cargo lambda build --release --arm64

build-x86: setup ## Build bootstrap for x86_64
	cargo lambda build --release --x86-64

$(BIN): $(wildcard src/*.rs src/*/*.rs) Cargo.toml Cargo.lock
	cargo build --release --bin lambda-probe

demo: setup $(BIN) ## Run every bench payload locally and print a short summary of each
	@for p in $(PAYLOADS); do \
	  echo "== $$p"; \
	  $(BIN) run "$$p" --summary || true; \
	done

lint: setup ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

test: setup lint ## The full test suite (what CI runs): lint, unit/integration/e2e tests, both arch builds
	cargo test --workspace
	cargo lambda build --release --arm64
	cargo lambda build --release --x86-64

bench: setup $(BIN) ## Benchmarks against references measured in the same run
	.venv/bin/python scripts/bench.py --probe $(BIN)

watch: setup ## Start the Lambda Runtime API emulator on 127.0.0.1:9000
	cargo lambda watch -A 127.0.0.1 -P 9000

local: ## Invoke the running emulator (make watch) with a payload: make local W=bench-payloads/env.json
	@test -n "$(W)" || { echo "usage: make local W=bench-payloads/<payload>.json"; exit 2; }
	cargo lambda invoke lambda-probe -A 127.0.0.1 -P 9000 --data-file "$(W)"

# emulate: Lambda's CPU share and memory limit per memory size, with cgroups (needs root).
M ?= 128,256,512,1024,1769,2048,3538
RUNS ?= 1
OUT ?= out/emulate.jsonl
emulate: setup ## Sweep memory sizes locally under Lambda's CPU share and memory limit: make emulate M=128,1769 W=bench-payloads/pbkdf2-multi.json [RUNS=3] [OUT=out/x.jsonl]
	@test -n "$(W)" || { echo "usage: make emulate W=bench-payloads/<payload>.json [M=$(M)] [RUNS=$(RUNS)] [OUT=$(OUT)]"; exit 2; }
	cargo build --release -p lambda-probe -p lambda-probe-tools
	@mkdir -p "$(dir $(OUT))"
	target/release/lambda-probe-tools emulate --memory "$(M)" --payload "$(W)" --runs "$(RUNS)" --out "$(OUT)"
	@echo "JSON lines: $(OUT)"

clean: ## Remove build outputs
	cargo clean
	rm -rf .aws-sam

# report: plots and tables across memory sizes from responses, emulate lines, CloudWatch exports.
IN ?= out/emulate.jsonl
REPORT ?= out/report
report: setup ## Build report.md and report.html from results: make report IN="out/emulate.jsonl out/*.json" [REPORT=out/report]
	cargo build --release -p lambda-probe-tools
	target/release/lambda-probe-tools report $(IN) --out "$(REPORT)"
	@echo "open $(REPORT)/report.html"

# report-check: render the fixture report in headless Chromium; the screenshot stays outside the repo.
SHOT ?= /tmp/lambda-probe-report.png
report-check: setup ## Render a report of the test fixtures in headless Chromium and save a screenshot: make report-check [SHOT=/tmp/x.png]
	@command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
	cargo build --release -p lambda-probe-tools
	@d=$$(mktemp -d) && \
	target/release/lambda-probe-tools report tools/tests/fixtures/report/run-*.json tools/tests/fixtures/report/responses.jsonl tools/tests/fixtures/report/emulate.jsonl --out "$$d/report" && \
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync \
	  --user-data-dir="$$d/profile" --window-size=1400,5000 --screenshot="$(SHOT)" \
	  "file://$$d/report/report.html" && \
	rm -rf "$$d" && echo "screenshot: $(SHOT)"
.PHONY: report report-check
