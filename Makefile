# phc - build, test, demo, bench.
#   make            build/phc-node and build/libphc.a
#   make test       tree rules (lint), unit tests (cmocka), interop tests against real OTP nodes
#   make unit       the unit tests only (build/test/test_*, run from test/unit)
#   make interop    the interop tests only (test/interop/run)
#   make install-test  install into a temp prefix, build examples/ with
#                   pkg-config, run them (test/install/run)
#   make test-san   the same as make test under ASan+UBSan (build-san/)
#   make probe      build/dist_probe, a dev-only driver for c_src/dist
#   make shared     build/libphc.so (versioned soname)
#   make install    PREFIX (default /usr/local), DESTDIR: phc-node, phc.h,
#                   libphc.a, libphc.so, pkgconfig/phc.pc; make uninstall
#   make examples   examples/ built against the INSTALLED library (pkg-config)
#   make header-test  include/phc.h alone, C11 and C++, -Wall -Wextra -pedantic
#   make demo       a local demo cluster (erl + phc-node)
#   make bench      benchmarks (ratios against a BEAM node); not part of CI
#   make chaos      churn: kill -9 + restart of a hub member (test/chaos/run;
#                   PHC_PROCESS_HUB_LIBS, CHAOS_*); not part of CI
#   make soak       1M calls and 1M sends to crashing children (test/soak/run);
#                   not part of CI
#   make fuzz       the libFuzzer harnesses (clang, ASan+UBSan, build-fuzz/),
#                   each for FUZZ_SECONDS (60); fails on any crash
#   make fuzz-replay  test/fuzz/regress/ inputs through each harness (any CC)
# SAN=1 builds anything above into build-san/ with ASan+UBSan.
CC      ?= cc
BUILD   ?= build
EI_DIR  := $(shell erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)
CFLAGS  ?= -O2 -g
CFLAGS  += -fPIC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
           -Iinclude -Ic_src -I$(EI_DIR)/include
# Each object gets a .d file next to it listing the headers it includes
# (-MP adds an empty rule per header, so a deleted header is no error).
DEPFLAGS = -MMD -MP
LDLIBS  += -L$(EI_DIR)/lib -lei -luv -lssl -lcrypto -lpthread -lm

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
                      c_src/dsup/*.c c_src/children/*.c)
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
        install-test install uninstall shared examples header-test test-plugins \
        fuzz fuzz-bins fuzz-replay chaos soak
all: $(BUILD)/phc-node $(LIB)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(UNIT_OBJ) $(TSUP_OBJ): CFLAGS += -Itest/unit

# The library's objects remember the flags they were built with (a change,
# such as -fPIC for the shared library, rebuilds them).
$(BUILD)/.cflags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CFLAGS)' | cmp -s - $@ || echo '$(CFLAGS)' > $@
$(LIB_OBJ) $(CLI_OBJ): $(BUILD)/.cflags
FORCE:

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# phc-node exports the whole library and ei to the plugins it dlopens
# (-rdynamic with --whole-archive: a plugin may call what phc-node does not).
$(BUILD)/phc-node: $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $(CLI_OBJ) -Wl,--whole-archive $(LIB) \
	  -L$(EI_DIR)/lib -lei -Wl,--no-whole-archive $(LDLIBS) -ldl

$(TESTLIB): $(TSUP_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(UNIT_BIN): $(BUILD)/test/%: $(BUILD)/test/unit/%.o $(TESTLIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB) $(LIB) $(LDLIBS) -lcmocka

# Plugins for phc_plugin_SUITE: one source built four ways (good, failing
# init, no init, another ABI), found by the suite next to phc-node.
TPLUG_DIR := $(BUILD)/test/plugins
TPLUG_SRC := test/interop/plugin/test_plugin.c
TPLUGINS  := $(TPLUG_DIR)/good.so $(TPLUG_DIR)/fail.so $(TPLUG_DIR)/noinit.so \
             $(TPLUG_DIR)/oldabi.so
PLUG_CFLAGS = $(filter-out -Werror,$(CFLAGS)) -Wno-unused -fPIC -shared
$(TPLUG_DIR)/good.so: $(TPLUG_SRC) include/phc.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUG_CFLAGS) -o $@ $<
$(TPLUG_DIR)/%.so: $(TPLUG_SRC) include/phc.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUG_CFLAGS) -DPLUGIN_$(shell echo $* | tr a-z A-Z) -o $@ $<
test-plugins: $(TPLUGINS)

# The fixtures are prerequisites so a missing one stops make before any
# test runs; every test runs each time.
# test_plugin loads the test plugins: it exports phc_* to them (-rdynamic).
$(BUILD)/test/test_plugin: LDFLAGS += -rdynamic
$(BUILD)/test/test_plugin: LDLIBS += -ldl

unit: $(UNIT_BIN) $(FIXTURES) $(TPLUGINS)
	@fail=0; for t in $(UNIT_BIN); do \
	  echo "== $$t"; (cd test/unit && PHC_TEST_PLUGINS=$(CURDIR)/$(TPLUG_DIR) ../../$$t) \
	  || fail=1; done; exit $$fail

probe: $(PROBE)

$(PROBE): $(PROBE_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)


# ---- shared library, install, pkg-config ----------------------------------
# The ABI rule (include/phc.h): MAJOR.MINOR must match, so the soname
# carries both.
VMAJ := $(shell sed -n 's/^\#define PHC_VERSION_MAJOR //p' include/phc.h)
VMIN := $(shell sed -n 's/^\#define PHC_VERSION_MINOR //p' include/phc.h)
VPAT := $(shell sed -n 's/^\#define PHC_VERSION_PATCH //p' include/phc.h)
VERSION := $(VMAJ).$(VMIN).$(VPAT)
SONAME  := libphc.so.$(VMAJ).$(VMIN)
SHLIB   := $(BUILD)/libphc.so.$(VERSION)
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
DEST     = $(DESTDIR)$(PREFIX)

shared: $(SHLIB)

$(SHLIB): $(LIB_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $(LIB_OBJ) \
	  -Wl,--whole-archive -L$(EI_DIR)/lib -lei -Wl,--no-whole-archive \
	  -luv -lssl -lcrypto -lpthread -lm

install: all $(SHLIB)
	install -d $(DEST)/bin $(DEST)/include $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 755 $(BUILD)/phc-node $(DEST)/bin/phc-node
	install -m 644 include/phc.h $(DEST)/include/phc.h
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libphc.a
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/libphc.so.$(VERSION)
	ln -sf libphc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libphc.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@EI_DIR@|$(EI_DIR)|' \
	    pkg/phc.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/phc.pc

uninstall:
	rm -f $(DEST)/bin/phc-node $(DEST)/include/phc.h \
	  $(DESTDIR)$(LIBDIR)/libphc.a $(DESTDIR)$(LIBDIR)/libphc.so \
	  $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libphc.so.$(VERSION) \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/phc.pc

# include/phc.h alone (only libuv's and ei's headers beside it), as C11
# and as C++, every warning an error. uv.h needs POSIX types, which strict
# -std=c11 hides: C11 users add -D_POSIX_C_SOURCE=200809L (or use gnu11).
header-test:
	@mkdir -p $(BUILD)/test
	printf '#include <phc.h>\nint main(void) { return (int)phc_version() & 0; }\n' > $(BUILD)/test/hdr.c
	cp $(BUILD)/test/hdr.c $(BUILD)/test/hdr.cc
	cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -pedantic -Werror -Iinclude -I$(EI_DIR)/include -c $(BUILD)/test/hdr.c -o $(BUILD)/test/hdr_c.o
	g++ -std=c++11 -Wall -Wextra -pedantic -Werror -Iinclude -I$(EI_DIR)/include -c $(BUILD)/test/hdr.cc -o $(BUILD)/test/hdr_cc.o

# The examples, built against an installed phc found by pkg-config
# (PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig when PREFIX is not a default).
examples:
	$(MAKE) -C examples

interop: all test-plugins
	PHC_NODE=$(CURDIR)/$(BUILD)/phc-node test/interop/run

# The tree's structural rules (docs/DESIGN.md, Layout): layer order of
# includes, file and function sizes, no paths outside the repository.
lint:
	test/lint/check_tree

# The installed library end to end (test/install/run): install, headers,
# examples via pkg-config, phc_examples_SUITE, uninstall. Not under SAN=1
# (programs linked to an ASan libphc.so would need the ASan runtime first).
install-test: all test-plugins
ifeq ($(SAN),1)
	@echo "install-test: skipped under SAN=1"
else
	test/install/run $(BUILD)
endif

test: lint unit fuzz-replay interop install-test

test-san:
	$(MAKE) SAN=1 test

demo: all
	bin/demo $(CURDIR)/$(BUILD)/phc-node

# bench/scale_run loads this plugin into phc-node (the start loop).
$(BUILD)/bench/scale_plugin.so: bench/scale_plugin.c include/phc.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUG_CFLAGS) -o $@ $<
bench: all $(BUILD)/bench/scale_plugin.so
	bench/run $(CURDIR)/$(BUILD)/phc-node
	bench/hub_run $(CURDIR)/$(BUILD)/phc-node
	bench/scale_run $(CURDIR)/$(BUILD)/phc-node $(CURDIR)/$(BUILD)/bench/scale_plugin.so
	bench/hub3_run $(CURDIR)/$(BUILD)/phc-node

chaos: all
	PHC_NODE=$(CURDIR)/$(BUILD)/phc-node test/chaos/run

soak: all
	PHC_NODE=$(CURDIR)/$(BUILD)/phc-node test/soak/run

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
