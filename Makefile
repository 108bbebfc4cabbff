# phc - build, test, demo, bench.
#   make            build/phc-node and build/libphc.a
#   make test       tree rules (lint), unit tests (cmocka), interop tests against real OTP nodes
#   make unit       the unit tests only (build/test/test_*, run from test/unit)
#   make interop    the interop tests only (test/interop/run)
#   make test-san   the same as make test under ASan+UBSan (build-san/)
#   make probe      build/dist_probe, a dev-only driver for c_src/dist
#   make demo       a local demo cluster (erl + phc-node)
#   make bench      benchmarks (ratios against a BEAM node); not part of CI
#   make fuzz       the libFuzzer harnesses (clang, ASan+UBSan, build-fuzz/),
#                   each for FUZZ_SECONDS (60); fails on any crash
#   make fuzz-replay  test/fuzz/regress/ inputs through each harness (any CC)
# SAN=1 builds anything above into build-san/ with ASan+UBSan.
CC      ?= cc
BUILD   ?= build
EI_DIR  := $(shell erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
           -Iinclude -Ic_src -I$(EI_DIR)/include
# Each object gets a .d file next to it listing the headers it includes
# (-MP adds an empty rule per header, so a deleted header is no error).
DEPFLAGS = -MMD -MP
LDLIBS  += -L$(EI_DIR)/lib -lei -luv -lcrypto -lpthread -lm

ifeq ($(SAN),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# FUZZ=1 (make fuzz sets it): clang, libFuzzer's coverage, ASan+UBSan.
ifeq ($(FUZZ),1)
BUILD   := build-fuzz
CC      := clang
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
endif

# The library: every .c under these folders (a folder that does not exist
# yet adds nothing).
LIB_SRC := $(wildcard c_src/*.c c_src/term/*.c c_src/dist/*.c c_src/proc/*.c \
                      c_src/otp/*.c c_src/hub/*.c c_src/hub/strategy/*.c \
                      c_src/children/*.c)
CLI_SRC := $(wildcard c_src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB     := $(BUILD)/libphc.a

# Unit tests: one program per test/unit/test_*.c. The other .c files in
# test/unit (node fixtures, helpers) make the test support library every
# test links. The tests read their fixtures from test/fixtures.
UNIT_SRC := $(wildcard test/unit/test_*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
TSUP_SRC := $(filter-out $(UNIT_SRC),$(wildcard test/unit/*.c))
TSUP_OBJ := $(TSUP_SRC:%.c=$(BUILD)/%.o)
TESTLIB  := $(BUILD)/test/libphctest.a
FIXTURES := $(shell find test/fixtures -type f 2>/dev/null)

PROBE     := $(BUILD)/dist_probe
PROBE_OBJ := $(BUILD)/test/dist_probe.o

DEPS := $(patsubst %.o,%.d,$(LIB_OBJ) $(CLI_OBJ) $(UNIT_OBJ) $(TSUP_OBJ) $(PROBE_OBJ))

.PHONY: all test lint unit interop test-san probe demo bench clean format \
        fuzz fuzz-bins fuzz-replay
all: $(BUILD)/phc-node $(LIB)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(UNIT_OBJ) $(TSUP_OBJ): CFLAGS += -Itest/unit

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/phc-node: $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(TESTLIB): $(TSUP_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(UNIT_BIN): $(BUILD)/test/%: $(BUILD)/test/unit/%.o $(TESTLIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB) $(LIB) $(LDLIBS) -lcmocka

# The fixtures are prerequisites so a missing one stops make before any
# test runs; every test runs each time.
unit: $(UNIT_BIN) $(FIXTURES)
	@fail=0; for t in $(UNIT_BIN); do \
	  echo "== $$t"; (cd test/unit && ../../$$t) || fail=1; done; exit $$fail

probe: $(PROBE)

$(PROBE): $(PROBE_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

interop: all
	PHC_NODE=$(CURDIR)/$(BUILD)/phc-node test/interop/run

# The tree's structural rules (docs/DESIGN.md, Layout): layer order of
# includes, file and function sizes, no paths outside the repository.
lint:
	test/lint/check_tree

test: lint unit fuzz-replay interop

test-san:
	$(MAKE) SAN=1 test

demo: all
	bin/demo $(CURDIR)/$(BUILD)/phc-node

bench: all
	bench/run $(CURDIR)/$(BUILD)/phc-node
	bench/hub_run $(CURDIR)/$(BUILD)/phc-node

# Fuzzing (test/fuzz/README.md): one program per test/fuzz/fuzz_*.c, with
# libFuzzer (make fuzz) or with replay.c's main() (make fuzz-replay, part of
# make test). Seeds: test/fuzz/gen_seeds.escript from test/fixtures.
FUZZ_SECONDS ?= 60
FUZZ_NAMES := $(patsubst test/fuzz/fuzz_%.c,%,$(filter-out \
                test/fuzz/fuzz_node.c,$(wildcard test/fuzz/fuzz_*.c)))
FUZZ_SUP   := $(BUILD)/test/fuzz/fuzz_node.o \
              $(filter-out $(BUILD)/c_src/cli/main.o,$(CLI_OBJ))
FUZZ_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
DEPS += $(patsubst test/fuzz/%.c,$(BUILD)/test/fuzz/%.d,$(wildcard test/fuzz/*.c))

$(BUILD)/test/fuzz/%.o: CFLAGS += -Itest/fuzz

$(FUZZ_BINS): $(BUILD)/fuzz/fuzz_%: $(BUILD)/test/fuzz/fuzz_%.o $(FUZZ_SUP) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

$(REPLAY_BINS): $(BUILD)/fuzz/replay_%: $(BUILD)/test/fuzz/fuzz_%.o \
                $(BUILD)/test/fuzz/replay.o $(FUZZ_SUP) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz-replay: $(REPLAY_BINS)
	@fail=0; for n in $(FUZZ_NAMES); do mkdir -p test/fuzz/regress/$$n; \
	  $(BUILD)/fuzz/replay_$$n test/fuzz/regress/$$n || fail=1; done; exit $$fail

fuzz:
	$(MAKE) FUZZ=1 fuzz-bins
	test/fuzz/run build-fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

format:
	clang-format -i $$(git ls-files 'c_src/*.[ch]' 'include/*.h' 'test/unit/*.[ch]' 'test/*.c' 'test/fuzz/*.[ch]')

clean:
	rm -rf build build-san build-fuzz

-include $(DEPS)
