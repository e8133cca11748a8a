# mismatch: `make figures` rebuilds the paper's figures, `make test` is what CI runs.
# One build profile (release) serves figures, tests and benchmarks, so a fresh machine
# compiles polars once.

CARGO  ?= cargo
BIN    := target/release/mismatch
IDS    := $(basename $(notdir $(wildcard specs/*.toml)))
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock specs/style/paper.toml
# The code every figure depends on (with the paper style, compiled in): all of it but
# the other figures' simulations and the report page (src/report/), which reads figures.
SHARED  := $(filter-out $(wildcard src/sim/*.rs src/sim/*/*.rs src/report/*.rs),$(SOURCES)) src/sim/mod.rs

.PHONY: all figures test verify report bench bench-numpy lint check robustness clean

all: figures

# A figure is rebuilt when its spec, its simulation (src/sim/ID.rs or src/sim/ID/*.rs) or the shared code
# changed. The binary is an order-only prerequisite: it is rebuilt when any source
# changed, but that alone does not rerun every figure. With nothing changed, a second
# `make figures` does no work.
figures: $(IDS:%=figures/%.svg)

# A figure's simulation is src/sim/ID.rs or the folder src/sim/ID/.
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

# The reproduction report: report/index.html, one static page (no script, no network)
# built from figures/ and figures/robustness/ (nothing is rerun; not committed).
report: $(BIN)
	$(BIN) report --figures figures --out report

# Per figure: simulation time at 1 and 2 threads, its bound (draws and transcendental
# calls, counted in a build with the feature count-ops, times their measured cost) and
# the serial tail. Medians of 5 runs; run on a quiet machine. The counts build writes a
# slower, counting target/release/mismatch; the last line puts the normal one back.
bench: bench-numpy
	$(CARGO) bench --locked --features count-ops --bench counts
	$(CARGO) bench --locked --bench stages
	$(CARGO) build --release --locked

# The NumPy baselines (bench/numpy/ID.py: the same models, vectorised, one thread):
# their simulate + summarise seconds go to target/bench/numpy-seconds.csv, which the
# stages bench sets beside ours. Skipped, with a note, where python3 has no numpy.
bench-numpy:
	@mkdir -p target/bench
	@if python3 -c 'import numpy' 2>/dev/null; then \
	    echo "figure,numpy_seconds" > target/bench/numpy-seconds.csv; \
	    for id in $(IDS); do \
	        OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 bench/numpy/$$id.py \
	            | sed -n "s/^$$id numpy_seconds=/$$id,/p" >> target/bench/numpy-seconds.csv || exit 1; \
	    done; cat target/bench/numpy-seconds.csv; \
	else echo "bench-numpy: python3 has no numpy (pip install numpy); NumPy column skipped"; \
	    rm -f target/bench/numpy-seconds.csv; fi

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
