# mismatch: `make figures` rebuilds the paper's figures, `make test` is what CI runs.
# One build profile (release) serves figures, tests and benchmarks, so a fresh machine
# compiles polars once.

CARGO  ?= cargo
BIN    := target/release/mismatch
IDS    := $(basename $(notdir $(wildcard specs/*.toml)))
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock

.PHONY: all figures test verify bench lint check clean

all: figures

# A figure is rebuilt when its spec or the code changed (the binary is newer).
figures: $(IDS:%=figures/%.svg)

figures/%.svg: specs/%.toml $(BIN)
	$(BIN) run $*

$(BIN): $(SOURCES)
	$(CARGO) build --release --locked
	@touch $@

test:
	$(CARGO) test --release --locked

check: $(BIN)
	$(BIN) check --all

verify: $(BIN)
	$(BIN) verify

bench:
	$(CARGO) bench --locked --bench stages

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
