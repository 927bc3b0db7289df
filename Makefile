# sharechain: the two README commands and a few helpers.
#   make devnet        the demo: validator(s), honest and cheating workers, clients and a verifier on loopback
#   make test          install what is missing, fetch the test models, build, run every test
#   make bench         every benchmark (release), each beside its baseline measured in the same run
#   make verifier-release  the executor's bit-exact golden and real-model tests in a release build
#   make reliability   SIGKILL-during-import, a 10-minute four-validator soak, the ledger differential test against
#                      tools/ledger_ref.py on 2000 random chains, fuzzing every network decoder
#   make ledger-vectors  regenerate Specs/vectors/ledger/ from the executable spec tools/ledger_ref.py
SWIFT ?= swift
JOBS ?= $(shell nproc)

# Tests that run real processes, sockets or real-time slots live in the SystemTests target (tag `.system`): a
# second, serial phase, so the CPU-heavy unit tests of the first phase cannot starve their clocks on a 2-core
# machine. `--filter`/`--skip` match the target's module name.
SYSTEM_TESTS = SystemTests

.PHONY: setup build test devnet bench bench-indexer verifier-release reliability fuzz clean ledger-vectors ledger-check

setup:
	@tools/setup

build: setup
	$(SWIFT) build -j $(JOBS)

test: setup
	tools/fetch-models
	$(SWIFT) build --build-tests -j $(JOBS)
	$(SWIFT) test --skip-build --parallel --skip '$(SYSTEM_TESTS)'
	$(SWIFT) test --skip-build --no-parallel --filter '$(SYSTEM_TESTS)'
	python3 tools/check_openrpc_golden.py
	python3 tools/ledger_ref.py check
	python3 tools/ledger_ref.py coverage

# The ledger vectors come from the executable specification, not from the Swift code (Specs/vectors/ledger/README.md).
ledger-vectors:
	python3 tools/ledger_ref.py vectors

ledger-check:
	python3 tools/ledger_ref.py selftest
	python3 tools/ledger_ref.py check
	python3 tools/ledger_ref.py coverage --verbose

# The devnet demo on the embedded genesis (10-second slots). VALIDATORS=4 for four validators,
# DEMO="--fast" for 1-second slots and short windows.
VALIDATORS ?= 1
DEMO ?=
devnet: setup
	$(SWIFT) build -c release -j $(JOBS) --product sharechain
	.build/release/sharechain demo --validators $(VALIDATORS) $(DEMO)

bench: setup
	$(SWIFT) build -c release -j $(JOBS) --product sharechain-bench
	.build/release/sharechain-bench all
	tools/bench-rpc

# Indexer backfill into a throwaway PostgreSQL cluster beside a raw COPY of the same rows (Specs/indexer.md §6).
bench-indexer: setup
	JOBS=$(JOBS) tools/bench-indexer

# The canonical executor must agree bit for bit with the numpy reference under -O as well as -Onone.
verifier-release: setup
	tools/fetch-models
	$(SWIFT) test -c release -j $(JOBS) --filter VerifierTests

reliability: setup
	tools/fetch-models
	$(SWIFT) build --build-tests -j $(JOBS)
	SHARECHAIN_RELIABILITY=1 $(SWIFT) test --skip-build --no-parallel --filter ReliabilityTests
	LEDGER_DIFF_SEED=$${LEDGER_DIFF_SEED:-$$(date +%s)} LEDGER_DIFF_COUNT=$${LEDGER_DIFF_COUNT:-2000} LEDGER_DIFF_BLOCKS=$${LEDGER_DIFF_BLOCKS:-24} \
		$(SWIFT) test --skip-build --filter LedgerDifferentialTests
	RUNS=$${RUNS:-200000} tools/fuzz/run

fuzz: setup
	tools/fuzz/run $(FUZZ_TARGET) $(FUZZ_SECONDS)

clean:
	rm -rf .build
