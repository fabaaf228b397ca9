# lambda-probe — every command a user types is here; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# The tools venv comes first on PATH: cargo-lambda's zig and `sam build` find it there.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
# SAM CLI: no usage reports from builds, tests and CI.
export SAM_CLI_TELEMETRY := 0

BIN := target/release/lambda-probe
PAYLOADS := $(wildcard bench-payloads/*.json)
PY := .venv/bin/python
# make invoke / make tune: which function (ARCH) and, for invoke, which memory size (MEMORY).
ARCH ?= arm64
MEMORY ?=
# make tune: check the Power Tuning run every POLL_S seconds; stop waiting after WAIT_S (the run
# goes on in AWS).
WAIT_S ?= 3600
POLL_S ?= 15
# make fetch-logs / make insights: which function's logs (both, arm64, x86_64, a function name or a
# log group) and the time range (3h / 90m / 2d ago, or ISO 8601; UNTIL defaults to now).
FN ?= both
SINCE ?= 3h
UNTIL ?=
# make deploy: parameter overrides, e.g. PARAMS='DeployPowerTuning=true MemorySize=1769'.
PARAMS ?=
SAM_CAPABILITIES := CAPABILITY_IAM CAPABILITY_AUTO_EXPAND

.PHONY: help setup build build-arm64 build-x86 demo test test-template lint bench estimate predict-check watch \
	local deploy invoke invoke-lmi tune tune-both outputs fetch-logs insights emulate emulate-lmi report predict \
	report-check clean delete soak fuzz deny fixtures schema

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

# demo: every payload runs here without Lambda's CPU limit, as a function of the size whose CPU
# share is this machine's cores (`run --memory-mb host`: 3,538 MB on 2 cores), so the sizes
# report and predict read match what the runs had. Responses in $(DEMO_OUT)/<payload>.json.
DEMO_OUT ?= out/demo
demo: setup $(BIN) ## Run every bench payload locally (io against a local moto endpoint), print a summary of each, save the responses in out/demo/
	@mkdir -p $(DEMO_OUT)
	@for p in $(filter-out bench-payloads/io-%,$(PAYLOADS)); do \
	  echo "== $$p"; \
	  $(BIN) run "$$p" --summary --memory-mb host --save "$(DEMO_OUT)/$$(basename "$$p")" || true; \
	done
	@# io needs a DynamoDB table: a local one (moto_server), started once for the io payloads.
	@$(PY) scripts/local_dynamodb.py -- sh -c 'for p in $(filter bench-payloads/io-%,$(PAYLOADS)); do \
	  echo "== $$p"; $(BIN) run "$$p" --summary --memory-mb host --save "$(DEMO_OUT)/$$(basename "$$p")" || true; done'
	@echo "== saved in $(DEMO_OUT)/: plot them with make report IN='$(DEMO_OUT)/*.json', predict every size with"
	@echo "   make predict IN=$(DEMO_OUT)/pbkdf2-multi.json"

lint: setup ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

test: setup lint test-template ## The full test suite (what CI runs): lint, template checks, all tests, both arch builds
	cargo test --workspace
	cargo lambda build --release --arm64
	cargo lambda build --release --x86-64
	@# SAM's rust-cargolambda builder builds in the source tree (target/), so after the two builds
	@# above it only copies the binaries: no second compilation. It builds from the template
	@# without the nested Power Tuning app, which sam build would otherwise fetch from the
	@# Serverless Application Repository (credentials, network), into its own build dir.
	@mkdir -p .aws-sam
	$(PY) scripts/template_json.py --build-template > .aws-sam/ci-template.json
	time sam build --no-cached -t .aws-sam/ci-template.json -s . -b .aws-sam/ci-build
	@# Each function got its own architecture's binary (ELF e_machine: 183 aarch64, 62 x86-64);
	@# sam build builds the Lambda Managed Instances functions too, whatever their condition.
	@$(PY) -c 'import sys; want = {"Arm64Function": 183, "X86Function": 62, "Arm64LmiFunction": 183, "X86LmiFunction": 62}; \
	  got = {f: int.from_bytes(open(f".aws-sam/ci-build/{f}/bootstrap", "rb").read(20)[18:20], "little") for f in want}; \
	  sys.exit(f"sam build: wrong architectures {got}, want {want}" if got != want else 0)'

test-template: setup ## Lint template.yaml (sam validate --lint, cfn-lint)
	sam validate --lint
	cfn-lint template.yaml

bench: setup $(BIN) ## Benchmarks against references measured in the same run
	$(PY) scripts/bench.py --probe $(BIN)
	$(PY) scripts/bench_memory.py --probe $(BIN)
	$(PY) scripts/bench_io.py --probe $(BIN)

# predict-check: predict's accuracy benchmark (docs/predict.md): per workload, one emulated run at
# 1,024 MB → predict → the emulated sweep → predict --check. Needs root (emulate); about 20 minutes.
# The base run is taken again while its equal items strayed more than PREDICT_BASE_SPREAD % in
# CPU time (a noisy host); measure when the machine is quiet, and read the load it prints.
PREDICT_RUNS ?= 3
PREDICT_BASE_SPREAD ?= 5
predict-check: setup ## Benchmark predict: one emulated 1,024 MB run against the emulated sweep (root) [PREDICT_RUNS=3]
	cargo build --release -p lambda-probe -p lambda-probe-tools
	$(PY) scripts/predict_check.py --tools target/release/lambda-probe-tools --runs $(PREDICT_RUNS) \
	  --base-spread-max $(PREDICT_BASE_SPREAD)

# estimate: each Power Tuning input's payload run here (unthrottled: no root needed; 3 runs, the
# io ones against a local DynamoDB), then predict: its run time at 128 / 1,769 / 10,240 MB and
# what a Power Tuning run of the input costs and picks. This machine's CPU is not Lambda's.
ESTIMATE_OUT ?= out/estimate
estimate: setup ## Predict each Power Tuning input's run times and sweep cost from runs on this machine [ESTIMATE_OUT=out/estimate]
	cargo build --release -p lambda-probe -p lambda-probe-tools
	@mkdir -p $(ESTIMATE_OUT)
	@for f in bench-payloads/power-tuning/*.json; do \
	  $(PY) -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["payload"]))' "$$f" \
	    > "$(ESTIMATE_OUT)/$$(basename "$$f")" || exit 1; done
	@$(PY) scripts/local_dynamodb.py -- sh -c 'for p in $(ESTIMATE_OUT)/*.json; do \
	  target/release/lambda-probe-tools emulate --unthrottled --memory 1769 --runs 3 \
	    --payload "$$p" --out "$${p%.json}.jsonl" 2>/dev/null || exit 1; done'
	target/release/lambda-probe-tools predict $(ESTIMATE_OUT)/*.jsonl --memory 128,1769,10240 \
	  --power-tuning bench-payloads/power-tuning/*.json

watch: setup ## Start the Lambda Runtime API emulator on 127.0.0.1:9000
	cargo lambda watch -A 127.0.0.1 -P 9000

local: ## Invoke the running emulator (make watch) with a payload: make local W=bench-payloads/env.json
	@test -n "$(W)" || { echo "usage: make local W=bench-payloads/<payload>.json"; exit 2; }
	cargo lambda invoke lambda-probe -A 127.0.0.1 -P 9000 --data-file "$(W)"

deploy: setup ## sam build && sam deploy; guided the first time (no samconfig.toml). PARAMS='Name=value …'
	sam build
	@if [ -f samconfig.toml ]; then \
	  set -x; sam deploy --capabilities $(SAM_CAPABILITIES) $(if $(PARAMS),--parameter-overrides $(PARAMS)); \
	else \
	  echo "No samconfig.toml yet: sam deploy --guided asks for the stack name, region and parameters, and saves them."; \
	  set -x; sam deploy --guided --capabilities $(SAM_CAPABILITIES) $(if $(PARAMS),--parameter-overrides $(PARAMS)); \
	fi

invoke: setup ## Invoke the deployed function: make invoke W=pbkdf2-single ARCH=arm64|x86_64 [MEMORY=1769]
	@test -n "$(W)" || { echo "usage: make invoke W=<payload name or file> [ARCH=arm64|x86_64] [MEMORY=<MB>]"; exit 2; }
	@$(PY) scripts/aws.py invoke "$(W)" --arch "$(ARCH)" $(if $(MEMORY),--memory "$(MEMORY)")

invoke-lmi: setup ## Send an LMI experiment K at a time: make invoke-lmi W=pbkdf2-1-thread [ARCH=arm64|x86_64] (docs/managed-instances.md)
	@test -n "$(W)" || { echo "usage: make invoke-lmi W=<name in bench-payloads/lmi/> [ARCH=arm64|x86_64]"; exit 2; }
	@$(PY) scripts/aws.py lmi "$(W)" --arch "$(ARCH)"

tune: setup ## Run Power Tuning: make tune W=pbkdf2-1-thread [ARCH=arm64|x86_64] [WAIT_S=3600]
	@test -n "$(W)" || { echo "usage: make tune W=<name in bench-payloads/power-tuning/> [ARCH=arm64|x86_64]"; exit 2; }
	@$(PY) scripts/aws.py tune "$(W)" --arch "$(ARCH)" --wait-s "$(WAIT_S)" --poll-s "$(POLL_S)"

tune-both: setup ## Run Power Tuning on arm64 and x86_64 with one input, side by side: make tune-both W=pbkdf2-1-thread
	@test -n "$(W)" || { echo "usage: make tune-both W=<name in bench-payloads/power-tuning/>"; exit 2; }
	@$(PY) scripts/aws.py tune-both "$(W)" --wait-s "$(WAIT_S)" --poll-s "$(POLL_S)"

fetch-logs: setup ## Save the probe's result lines and REPORT lines from CloudWatch Logs: make fetch-logs [FN=both] [SINCE=3h] [UNTIL=…]
	@$(PY) scripts/aws.py fetch-logs --fn "$(FN)" --since "$(SINCE)" $(if $(UNTIL),--until "$(UNTIL)")

insights: setup ## Run a Logs Insights query from queries/: make insights Q=report-by-memory [FN=both] [SINCE=3h] [UNTIL=…]
	@test -n "$(Q)" || { echo "usage: make insights Q=<name in queries/> [FN=both|arm64|x86_64|<function>] [SINCE=3h] [UNTIL=…]"; exit 2; }
	@$(PY) scripts/aws.py insights "$(Q)" --fn "$(FN)" --since "$(SINCE)" $(if $(UNTIL),--until "$(UNTIL)")

outputs: setup ## Print the deployed stack's outputs (function names and ARNs, table, state machine)
	@$(PY) scripts/aws.py outputs

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

# emulate-lmi: a Lambda Managed Instances environment of V vCPUs (whole cores, no CFS quota,
# R GiB per vCPU) serving K invocations at once, one level after another (needs root).
V ?= 2
K ?= 1,2,4
R ?= 2
LMI_OUT ?= out/emulate-lmi.jsonl
emulate-lmi: setup ## Emulate an LMI environment: make emulate-lmi W=bench-payloads/pbkdf2-single.json [V=2] [K=1,2,4] [R=2] [RUNS=1] [LMI_OUT=out/emulate-lmi.jsonl]
	@test -n "$(W)" || { echo "usage: make emulate-lmi W=bench-payloads/<payload>.json [V=$(V)] [K=$(K)] [R=$(R)] [RUNS=$(RUNS)]"; exit 2; }
	cargo build --release -p lambda-probe -p lambda-probe-tools
	@mkdir -p "$(dir $(LMI_OUT))"
	target/release/lambda-probe-tools emulate --managed "$(V)" --gib-per-vcpu "$(R)" --concurrency "$(K)" --payload "$(W)" --runs "$(RUNS)" --out "$(LMI_OUT)"
	@echo "JSON lines: $(LMI_OUT)"

clean: ## Remove build outputs
	cargo clean
	rm -rf .aws-sam out

delete: setup ## Delete the deployed stack (sam delete): functions, table, logs, Power Tuning
	sam delete

# report: plots and tables across memory sizes from responses, emulate lines, CloudWatch exports.
IN ?= out/emulate.jsonl
REPORT ?= out/report
report: setup ## Build report.md and report.html from results: make report IN="out/emulate.jsonl out/*.json" [REPORT=out/report]
	cargo build --release -p lambda-probe-tools
	target/release/lambda-probe-tools report $(IN) --out "$(REPORT)"
	@echo "open $(REPORT)/report.html"

SIZES ?=
predict: setup ## Every memory size's duration, cost and the sizes to pick, from one run: make predict IN=out/demo/pbkdf2-multi.json [SIZES=128,1769,3538]
	@test "$(origin IN)" != file || { echo "usage: make predict IN=<results: a response, emulate lines, CloudWatch export> [SIZES=128,1769,3538]"; exit 2; }
	cargo build --release -p lambda-probe-tools
	target/release/lambda-probe-tools predict $(IN) $(if $(SIZES),--memory "$(SIZES)")

# report-check: render the fixture report in headless Chromium; the screenshot stays outside the repo.
SHOT ?= out/report-check.png
report-check: setup ## Render a report of the test fixtures in headless Chromium and save a screenshot: make report-check [SHOT=out/x.png]
	@command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
	cargo build --release -p lambda-probe-tools
	@mkdir -p "$(dir $(SHOT))" && d=$$(mktemp -d) && \
	target/release/lambda-probe-tools report tests/fixtures/results/run-*.json tests/fixtures/results/responses.jsonl tests/fixtures/results/emulate.jsonl tests/fixtures/results/cloudwatch-filter-log-events.json --out "$$d/report" && \
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync \
	  --user-data-dir="$$d/profile" --window-size=1400,5000 --screenshot="$(SHOT)" \
	  "file://$$d/report/report.html" && \
	rm -rf "$$d" && echo "screenshot: $(SHOT)"

# ---- the results contract: fixtures every reader is tested on, and the committed JSON Schemas
fixtures: setup ## Make tests/fixtures/results/ again from real runs of every workload (as root; io against local moto)
	cargo test -p lambda-probe-tools --test fixtures -- --ignored regenerate_fixtures

schema: ## Write docs/schema/event.schema.json and response.schema.json from the types
	UPDATE_SCHEMA=1 cargo test -p lambda-probe --lib schema::tests::committed_schemas_match_the_types

# ---- reliability (README, "Reliability")
# make soak: invocations against one warm function process; make fuzz: seconds of fuzzing.
N ?= 1000
FUZZ_S ?= 60

soak: setup ## Warm-sandbox soak through the emulator: make soak [N=1000]; prints the RSS curve
	SOAK_INVOCATIONS=$(N) cargo test --test soak -- --nocapture

fuzz: ## Fuzz the event parser (nightly + cargo-fuzz): make fuzz [FUZZ_S=60]
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	@# A copy of the committed seeds as the working corpus: new finds stay out of git.
	@mkdir -p target/fuzz-corpus/parse && cp -n fuzz/corpus/parse/* target/fuzz-corpus/parse/
	cargo +nightly fuzz run --sanitizer none parse target/fuzz-corpus/parse \
	  -- -max_total_time=$(FUZZ_S) -max_len=65536 -print_final_stats=1

deny: ## Supply chain: licenses, bans (duplicate versions), sources with cargo-deny (deny.toml)
	@command -v cargo-deny >/dev/null || cargo install --locked cargo-deny
	cargo deny check licenses bans sources

