# labforge build. Sources are found by wildcard: a new lib/*.c, installer/*.c, appliance/*.c,
# roles/*.c or tests/unit/test-*.c is picked up without editing this file.
#
#   make                  binaries in build/bin/
#   make check            every test (what the README and CI run), under ASan + UBSan
#   make check-unit       the fast loop: unit tests only
#   make bench            builds and runs the benchmarks of tests/bench/ (figures only)
#   make fuzz             each libFuzzer target for FUZZ_SECONDS (60) seconds
#   make install          PREFIX=/usr/local DESTDIR=
#   make deps             installs build and test dependencies from Debian packages
#   make format | clean

O ?= build
PREFIX ?= /usr/local
DESTDIR ?=
FUZZ_SECONDS ?= 60

PKGS := json-c libxml-2.0 blkid libcrypto libarchive libcurl libmicrohttpd sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wvla
ALL_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -Ilib -I$(O)/gen $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
LDLIBS := $(PKG_LIBS) -lm

ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
ALL_CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
endif

LIB_SRC := $(wildcard lib/*.c)
INSTALLER_SRC := $(filter-out installer/main.c,$(wildcard installer/*.c))
APPLIANCE_SRC := $(filter-out appliance/main.c,$(wildcard appliance/*.c))
ROLES_SRC := $(filter-out roles/main.c,$(wildcard roles/*.c))
# labforged's own libraries (corosync, SQLite): only what links libroles.a gets them.
ROLES_PKGS := libcpg libquorum libvotequorum libcmap sqlite3
ROLES_LIBS := $(if $(ROLES_SRC),$(shell pkg-config --libs $(ROLES_PKGS) 2>/dev/null))
TEST_SRC := $(wildcard tests/unit/test-*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz-*.c)
BENCH_SRC := $(wildcard tests/bench/bench-*.c)

# Files under lib/schema/ are compiled in as C strings (lf_schema_<name>), so the binaries
# need nothing beside them at run time.
SCHEMAS := $(wildcard lib/schema/*.rng)
GEN_SRC := $(patsubst lib/schema/%.rng,$(O)/gen/schema-%.c,$(SCHEMAS))

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))
LIB_A := $(O)/liblabforge.a
INSTALLER_A := $(O)/libinstaller.a
APPLIANCE_A := $(O)/libappliance.a
# roles/ has no C code yet: only link its archive once it does.
ROLES_A := $(if $(ROLES_SRC),$(O)/libroles.a)

BINS := $(O)/bin/labforge $(O)/bin/labforge-install
ifneq ($(wildcard roles/main.c),)
BINS += $(O)/bin/labforged
endif
TESTS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(TEST_SRC))
FUZZERS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))
BENCHES := $(patsubst tests/bench/%.c,$(O)/bench/%,$(BENCH_SRC))

.PHONY: all tests unit-tests benches bench check check-unit check-integration check-fuzz check-lab \
	fuzz install deps format clean
.DELETE_ON_ERROR:
# Keep objects and generated sources that only feed other targets (make would delete them).
.SECONDARY:

all: $(BINS)

$(O)/gen/schema-%.c: lib/schema/%.rng
	@mkdir -p $(@D)
	{ echo '/* Generated from $< by the Makefile. */'; \
	  echo 'const char lf_schema_$(subst -,_,$*)[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@

$(O)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRC) $(GEN_SRC))
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^
$(INSTALLER_A): $(call obj,$(INSTALLER_SRC))
	rm -f $@ && $(AR) rcs $@ $^
$(APPLIANCE_A): $(call obj,$(APPLIANCE_SRC))
	rm -f $@ && $(AR) rcs $@ $^
$(O)/libroles.a: $(call obj,$(ROLES_SRC))
	rm -f $@ && $(AR) rcs $@ $^

$(O)/bin/labforge: $(call obj,appliance/main.c) $(APPLIANCE_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/bin/labforge-install: $(call obj,installer/main.c) $(INSTALLER_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/bin/labforged: $(call obj,roles/main.c) $(ROLES_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(ROLES_LIBS) $(LDLIBS)
# libvirt only where the VM driver (roles/virt.c) is used: labforged and the driver's tests
# (liblabforge.a stays free of it). A test of code that calls the driver adds its own line.
VIRT_LIBS := $(shell pkg-config --libs libvirt 2>/dev/null)
$(O)/bin/labforged: LDLIBS += $(VIRT_LIBS)
# (A pattern needs a non-empty stem, so name the test binaries explicitly.)
$(filter $(O)/tests/test-virt%,$(TESTS)): LDLIBS += $(VIRT_LIBS)
# The power subsystem plugs into the daemon, which links the leader and the VM driver.
$(O)/tests/test-power $(O)/tests/test-storage: LDLIBS += $(VIRT_LIBS)

# Each unit test links the harness and every subsystem archive, so it can test any of them.
$(O)/tests/%: $(call obj,tests/unit/%.c tests/unit/test.c) $(APPLIANCE_A) $(INSTALLER_A) \
		$(ROLES_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(ROLES_LIBS) $(LDLIBS)

$(O)/bench/%: $(call obj,tests/bench/%.c) $(APPLIANCE_A) $(INSTALLER_A) $(ROLES_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(ROLES_LIBS) $(LDLIBS)

$(O)/fuzz/%: $(call obj,tests/fuzz/%.c) $(APPLIANCE_A) $(INSTALLER_A) $(ROLES_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(ROLES_LIBS) $(LDLIBS)

tests: $(BINS) $(TESTS)
unit-tests: $(TESTS)
benches: $(BINS) $(BENCHES)
# Runs every benchmark (they print figures, never assert times); bench-gen-trace writes traces.
bench: benches
	@set -e; for b in $(filter-out %/bench-gen-trace,$(BENCHES)); do echo "== $$b"; $$b; done

# The sanitizer build lives in build/san; fuzzers (clang) in build/fuzz.
check-unit:
	$(MAKE) O=build/san SAN=1 unit-tests
	LF_BUILD=build/san tests/run-tests.sh unit

check-integration:
	$(MAKE) O=build/san SAN=1 tests
	LF_BUILD=build/san tests/run-tests.sh integration

# Replays each fuzzer's seed corpus and checked-in crash reproducers once (seconds).
check-fuzz:
	$(MAKE) O=build/fuzz FUZZ=1 CC=clang fuzzers-only
	LF_BUILD=build/fuzz tests/run-tests.sh fuzz

check-lab:
	$(MAKE) all
	LF_BUILD=$(O) tests/run-tests.sh lab

check:
	$(MAKE) O=build/san SAN=1 tests
	$(MAKE) O=build/fuzz FUZZ=1 CC=clang fuzzers-only
	$(MAKE) all
	LF_BUILD=build/san LF_FUZZ_BUILD=build/fuzz LF_LAB_BUILD=$(O) tests/run-tests.sh all

.PHONY: fuzzers-only
fuzzers-only: $(FUZZERS)

fuzz:
	$(MAKE) O=build/fuzz FUZZ=1 CC=clang fuzzers-only
	@set -e; for src in $(FUZZ_SRC); do \
		name=$$(basename $$src .c); f=build/fuzz/fuzz/$$name; corpus=build/fuzz/corpus/$$name; \
		mkdir -p $$corpus; cp -r tests/fuzz/corpus/$$name/. $$corpus/ 2>/dev/null || true; \
		echo "fuzzing $$name for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$corpus; \
	done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/labforge
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(SCHEMAS) $(DESTDIR)$(PREFIX)/share/labforge/

deps:
	./build.sh deps

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
