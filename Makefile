# The two commands of the README: `make dev` runs zkvault, `make check` runs every test.
# Both install their own dependencies first (scripts/deps.sh, Debian 12).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
JOBS       ?= $(shell nproc)

.PHONY: all deps node-deps build dev check test test-asan fuzz bench clean

all: build

deps:
	@scripts/deps.sh

# npm packages for the tests that use clients no one here wrote (tests/interop/package.json).
node-deps:
	@cd tests/interop && npm ci --no-audit --no-fund --loglevel=error

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

dev: build
	$(BUILD)/zkvault dev

test: build node-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps node-deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DZK_SANITIZE=ON \
		-DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DZK_FUZZ=ON \
		-DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/fuzz.sh $(FUZZ_BUILD)/fuzz $(FUZZ_SECONDS)

check: test test-asan fuzz

bench: build
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
