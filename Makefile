# sharechain: the two README commands and a few helpers.
#   make devnet   run a local devnet on the embedded default genesis
#   make test     install what is missing, fetch the real-weight test models (cached), build, run all tests
SWIFT ?= swift
JOBS ?= $(shell nproc)

.PHONY: setup build test devnet bench fuzz clean

setup:
	@tools/setup

build: setup
	$(SWIFT) build -j $(JOBS)

test: setup
	tools/fetch-models
	$(SWIFT) build --build-tests -j $(JOBS)
	$(SWIFT) test --skip-build --parallel

# The devnet: a validator producing a block every 10 s on the embedded genesis, with transfer load.
LOAD ?= 2
devnet: setup
	$(SWIFT) build -c release -j $(JOBS) --product sharechain
	.build/release/sharechain devnet --load $(LOAD)

bench: setup
	$(SWIFT) build -c release -j $(JOBS) --product sharechain
	.build/release/sharechain bench all

fuzz: setup
	tools/fuzz/run $(FUZZ_TARGET) $(FUZZ_SECONDS)

clean:
	rm -rf .build
