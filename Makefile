# Thin wrapper over CMake. The targets a newcomer needs:
#   make          build everything (build/)
#   make test     run the whole test suite; ends with "N passed, N failed"
#   make check    the suite under ASan+UBSan, and the concurrency tests under TSan
#   make bench    release build and the benchmark table
#   make run      start kvidxd with the embedded default configuration
#   make demo     kvidxd + simulated vLLM pods + scores, in under a minute
#   make fuzz     build the libFuzzer targets (clang) and run each briefly
#   make format   apply clang-format
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# CI builds with -Werror (STYLE.md rule 10); local builds only warn.
ifeq ($(CI),true)
CMAKE_FLAGS += -DKVIDX_WERROR=ON
endif

.PHONY: all build test check check-asan check-tsan bench run demo fuzz format format-check clean deps

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	tests/run.sh $(BUILD)

check: check-asan check-tsan

check-asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKVIDX_SANITIZE=address,undefined
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh build-asan

# Concurrency tests are the ones whose name contains "concurrent".
check-tsan:
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DKVIDX_SANITIZE=thread
	cmake --build build-tsan -j $(JOBS)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" tests/run.sh build-tsan concurrent

bench:
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
	cmake --build build-release -j $(JOBS)
	bench/run.sh build-release

run: build
	$(BUILD)/kvidxd $(KVIDXD_ARGS)

demo: build
	scripts/demo.sh $(BUILD)

fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DKVIDX_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)
	scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

deps:
	scripts/install-deps.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan build-release build-fuzz
