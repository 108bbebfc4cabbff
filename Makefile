# phc - build, test, demo, bench.
#   make            build/phc-node and build/libphc.a
#   make test       unit tests (cmocka) + interop tests against real OTP nodes
#   make test-san   the same under ASan+UBSan (build-san/)
#   make demo       a local demo cluster (erl + phc-node)
#   make bench      benchmarks (ratios against a BEAM node); not part of CI
CC      ?= cc
BUILD   ?= build
EI_DIR  := $(shell erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
           -Iinclude -Ic_src -I$(EI_DIR)/include
LDLIBS  += -L$(EI_DIR)/lib -lei -luv -lcrypto -lpthread -lm

ifeq ($(SAN),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC := $(wildcard c_src/*.c c_src/term/*.c c_src/dist/*.c c_src/proc/*.c \
                      c_src/otp/*.c c_src/hub/*.c c_src/children/*.c)
CLI_SRC := $(wildcard c_src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard test/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
HDRS    := $(wildcard include/*.h c_src/*.h c_src/*/*.h)

.PHONY: all test unit interop test-san demo bench clean
all: $(BUILD)/phc-node $(BUILD)/libphc.a

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libphc.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/phc-node: $(CLI_OBJ) $(BUILD)/libphc.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libphc.a $(LDLIBS)

$(BUILD)/test/%: test/unit/%.c $(BUILD)/libphc.a test/unit/phc_test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itest/unit $(LDFLAGS) -o $@ $< $(BUILD)/libphc.a $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
	  echo "== $$t"; (cd test/unit && ../../$$t) || fail=1; done; exit $$fail

interop: all
	PHC_NODE=$(CURDIR)/$(BUILD)/phc-node test/interop/run

test: unit interop

test-san:
	$(MAKE) SAN=1 test

demo: all
	bin/demo $(CURDIR)/$(BUILD)/phc-node

bench: all
	bench/run $(CURDIR)/$(BUILD)/phc-node
	bench/hub_run $(CURDIR)/$(BUILD)/phc-node

clean:
	rm -rf build build-san
