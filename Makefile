# mismatch: `make figures` rebuilds the paper's figures, `make test` is what CI runs.
# One build profile (release) serves figures, tests and benchmarks, so a fresh machine
# compiles polars once.

CARGO  ?= cargo
BIN    := target/release/mismatch
IDS    := $(basename $(notdir $(wildcard specs/*.toml)))
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
# The code every figure depends on: all of it but the other figures' simulations.
SHARED  := $(filter-out $(wildcard src/sim/*.rs src/sim/*/*.rs),$(SOURCES)) src/sim/mod.rs

.PHONY: all figures test verify bench lint check robustness clean

all: figures

# A figure is rebuilt when its spec, its simulation (src/sim/ID.rs or src/sim/ID/*.rs) or the shared code
# changed. The binary is an order-only prerequisite: it is rebuilt when any source
# changed, but that alone does not rerun every figure. With nothing changed, a second
# `make figures` does no work.
figures: $(IDS:%=figures/%.svg)

.SECONDEXPANSION:
figures/%.svg: specs/%.toml $$(wildcard src/sim/$$*.rs src/sim/$$*/*.rs) $(SHARED) | $(BIN)
	$(BIN) run $*

$(BIN): $(SOURCES)
	$(CARGO) build --release --locked
	@touch $@

test:
	$(CARGO) test --release --locked

check: $(BIN)
	$(BIN) check --all

# Where the claims hold: every claim and knock-out at 20 seeds, and every robustness
# map; writes figures/robustness/ (exit 1 if a finding holds at fewer than 19 of 20).
SEEDS ?= 20
robustness: $(BIN)
	$(BIN) robustness --all --seeds $(SEEDS)

verify: $(BIN)
	$(BIN) verify

bench:
	$(CARGO) bench --locked --bench stages

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
