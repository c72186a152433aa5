# deferred-builds: build, test, install.
#
#   make              build every binary into build/
#   make check        install missing Debian packages, build with ASan/UBSan, run all tests
#   make check-long   the long variants (fuzzing, 1,000-kill loops, full fault counts)
#   make demo         the end-to-end demo on a real nix-daemon and systemd manager
#   make bench        benchmarks, written to docs/BENCHMARKS.md (BENCH=full for all sizes)
#   make install PREFIX=/usr DESTDIR=...
#
# Sources are found by directory, so adding a file needs no Makefile change:
#   src/lib/*.c -> libdeferred.a, linked into every binary and unit test
#   src/generator/*.c, src/realise/*.c, src/cli/*.c, activation/*.c -> one binary each
#   examples/*.c -> one example program each, tests/unit/test_*.c -> one cmocka test each

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/deferred-builds
SYSTEMDDIR ?= $(PREFIX)/lib/systemd
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

BUILD ?= build
SAN   ?=

CC      ?= cc
PKG_CONFIG ?= pkg-config
# Read when the Makefile is parsed: targets that install the packages first (demo, bench,
# check) build in a second make, which reads them again once they are there.
DEPS_OK     := $(shell $(PKG_CONFIG) --exists libsystemd inih 2>/dev/null && echo yes)
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags libsystemd inih 2>/dev/null)
# Each program links only the libraries it calls, whether or not the toolchain defaults to
# --as-needed (Debian's gcc does, but not with -fsanitize=, and nixpkgs' does not):
# loading libsystemd and its dependency chain costs milliseconds at every start.
#   libsystemd: the deferred-builds command (sd-bus, sd-journal) and examples/dbx-serve
#               (socket activation, sd_notify). deferred-realise speaks sd_notify and the
#               journal protocol itself (src/lib/sdproto.c); the generator and the
#               activation helper need neither.
#   inih:       whatever links the manifest parser (src/lib/manifest.c).
SYSTEMD_LIBS := $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null)
INIH_LIBS    := $(shell $(PKG_CONFIG) --libs inih 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
           -Wmissing-prototypes -Wstrict-prototypes -fno-strict-aliasing \
           -D_GNU_SOURCE -Isrc/lib $(DEPS_CFLAGS)
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC   := $(sort $(wildcard src/lib/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
GEN_SRC   := $(sort $(wildcard src/generator/*.c))
REAL_SRC  := $(sort $(wildcard src/realise/*.c))
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
ACT_SRC   := $(sort $(wildcard activation/*.c))
READY_SRC := $(sort $(wildcard src/ready/*.c))
EX_SRC    := $(sort $(wildcard examples/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))

BINS := $(if $(GEN_SRC),$(BUILD)/deferred-builds-generator) \
        $(if $(REAL_SRC),$(BUILD)/deferred-realise) \
        $(if $(CLI_SRC),$(BUILD)/deferred-builds) \
        $(if $(ACT_SRC),$(BUILD)/deferred-builds-activate) \
        $(if $(READY_SRC),$(BUILD)/deferred-ready)
EXAMPLES   := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
UNIT_TESTS := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

UNIT_IN     := $(sort $(wildcard units/*.in units/*/*.in units/*/*/*.in))
UNIT_PLAIN  := $(sort $(filter-out %.in,$(wildcard units/*.service units/*.target units/*.path units/*.socket units/*.timer \
                 units/system/*/*.conf)))
# Units for installation (paths under PREFIX) and units for tests and the demo (paths
# into this build directory), from the same templates.
UNITS_INST  := $(UNIT_IN:units/%.in=$(BUILD)/units/%) $(UNIT_PLAIN:units/%=$(BUILD)/units/%)
UNITS_LOCAL := $(UNIT_IN:units/%.in=$(BUILD)/units-local/%) $(UNIT_PLAIN:units/%=$(BUILD)/units-local/%)

ABS_BUILD := $(abspath $(BUILD))

.PHONY: all check check-long check-unit demo bench fuzz install deps depcheck clean format tidy units
# Keep object files of the one-file programs (examples) between builds.
.SECONDARY:
all: $(BINS) $(EXAMPLES) units
units: $(UNITS_INST) $(UNITS_LOCAL)

$(BUILD)/obj/%.o: %.c $(wildcard src/lib/*.h) | depcheck
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

depcheck:
ifneq ($(DEPS_OK),yes)
	@echo "make: pkg-config finds no libsystemd or inih: run 'make deps' as root, or install libsystemd-dev and libinih-dev" >&2
	@exit 1
endif

$(BUILD)/libdeferred.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/deferred-builds-generator: $(GEN_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libdeferred.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(INIH_LIBS)
$(BUILD)/deferred-realise: $(REAL_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libdeferred.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(INIH_LIBS)
$(BUILD)/deferred-builds: $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libdeferred.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(INIH_LIBS) $(SYSTEMD_LIBS)
$(BUILD)/deferred-builds-activate: $(ACT_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libdeferred.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(INIH_LIBS)
# The readiness helper runs in every server's sandbox at each start: plain sockets, no
# library beyond libc.
$(BUILD)/deferred-ready: $(READY_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libdeferred.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/examples/dbx-serve: LDLIBS += $(SYSTEMD_LIBS)
$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm $(LDLIBS)
# The status line is the realise helper's, and test_nixlog checks it too.
$(BUILD)/obj/tests/unit/test_nixlog.o: CFLAGS += -Isrc/realise
$(BUILD)/tests/test_nixlog: $(BUILD)/obj/src/realise/statusline.o
$(BUILD)/obj/tests/unit/test_errcapture.o: CFLAGS += -Isrc/realise
$(BUILD)/tests/test_errcapture: $(BUILD)/obj/src/realise/statusline.o
# The decision table is the CLI's; its test needs no bus.
$(BUILD)/obj/tests/unit/test_decide.o: CFLAGS += -Isrc/cli
$(BUILD)/tests/test_decide: $(BUILD)/obj/src/cli/decide.o $(BUILD)/obj/src/cli/unitstate.o
$(BUILD)/tests/test_decide: LDLIBS += $(BUILD)/libdeferred.a
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libdeferred.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(INIH_LIBS) -lcmocka

# @EXIT_NAME@ in a template becomes that status of src/lib/exitcode.h (names in a value,
# as in EXIT_NO_RESTART, resolved to numbers): the units carry no copy of them.
EXIT_SED := $(shell awk '$$1 ~ /define$$/ && $$2 ~ /^EXIT_[A-Z_]+$$/ { v = ""; \
	for (i = 3; i <= NF && $$i != "/*"; i++) v = v (v == "" ? "" : " ") ($$i in d ? d[$$i] : $$i); \
	d[$$2] = v; printf "-e \047s|@%s@|%s|g\047 ", $$2, v }' src/lib/exitcode.h)
define subst_unit
	@mkdir -p $(dir $@)
	sed -e 's|@BINDIR@|$(1)|g' -e 's|@LIBEXECDIR@|$(2)|g' $(EXIT_SED) $< > $@.tmp && mv $@.tmp $@
	@! grep -n '@[A-Z_]*@' $@ || { echo "$@: placeholder left unfilled" >&2; rm -f $@; exit 1; }
endef
# Installed units name the install paths, which `make install PREFIX=...` may change after
# `make`: always regenerate them (a sed per unit).
.PHONY: FORCE
FORCE:
$(BUILD)/units/%: units/%.in FORCE
	$(call subst_unit,$(BINDIR),$(LIBEXECDIR))
$(BUILD)/units/%: units/% FORCE
	$(call subst_unit,$(BINDIR),$(LIBEXECDIR))
$(BUILD)/units-local/%: units/%.in src/lib/exitcode.h
	$(call subst_unit,$(ABS_BUILD),$(ABS_BUILD))
$(BUILD)/units-local/%: units/% src/lib/exitcode.h
	$(call subst_unit,$(ABS_BUILD),$(ABS_BUILD))

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------------------------
# Tests. `make check` is what CI runs (.ci/run): it installs what is missing, builds with
# ASan/UBSan into build/san and runs every suite through tests/run, whose last line is
# "N passed, N failed".
# build/dist is the optimised build that the booted-system suites install, as a distribution
# would ship it.
# The builds use every core; the suites run one after another (they share ports and the
# user manager's runtime directory).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
check: deps
	$(MAKE) -j$(JOBS) SAN=1 BUILD=build/san all tests-bin
	$(MAKE) -j$(JOBS) BUILD=build/dist all
	BUILD=build/san tests/run

check-long: deps
	$(MAKE) -j$(JOBS) SAN=1 BUILD=build/san all tests-bin
	$(MAKE) -j$(JOBS) BUILD=build/dist all
	BUILD=build/san LONG=1 SUITE_TIMEOUT=$(or $(SUITE_TIMEOUT),7200) tests/run

.PHONY: tests-bin
tests-bin: $(UNIT_TESTS)

deps:
	@tests/lib/deps.sh

demo: deps
	$(MAKE) all
	examples/demo.sh $(ABS_BUILD)

bench: deps
	$(MAKE) all
	bench/run.sh $(ABS_BUILD)

fuzz: deps
	tests/fuzz/run.sh $(or $(FUZZ_SECONDS),600)

# ---------------------------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
	        $(DESTDIR)$(SYSTEMDDIR)/system-generators $(DESTDIR)$(SYSTEMDDIR)/user-generators \
	        $(DESTDIR)$(SYSTEMDDIR)/system $(DESTDIR)$(SYSTEMDDIR)/user
	install -m 0755 $(BUILD)/deferred-builds $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/deferred-realise $(BUILD)/deferred-builds-activate $(BUILD)/deferred-ready \
	        $(DESTDIR)$(LIBEXECDIR)/
	install -m 0755 $(BUILD)/deferred-builds-generator $(DESTDIR)$(SYSTEMDDIR)/system-generators/
	ln -sf ../system-generators/deferred-builds-generator $(DESTDIR)$(SYSTEMDDIR)/user-generators/deferred-builds-generator
	cd $(BUILD)/units && for f in $$(find . -maxdepth 1 -type f); do \
	        install -m 0644 $$f $(DESTDIR)$(SYSTEMDDIR)/system/$$f; \
	        install -m 0644 $$f $(DESTDIR)$(SYSTEMDDIR)/user/$$f; done
	cd $(BUILD)/units && for s in system user; do [ -d $$s ] || continue; \
	        for f in $$(cd $$s && find . -type f); do \
	        install -D -m 0644 $$s/$$f $(DESTDIR)$(SYSTEMDDIR)/$$s/$$f; done; done
	install -D -m 0644 units/sysusers/deferred-builds.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/deferred-builds.conf
	for m in man/*.[0-9]; do [ -e "$$m" ] || continue; \
	        s=$${m##*.}; install -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$m); done

clean:
	rm -rf build

# Formats the C lines changed since HEAD (staged or not) with .clang-format.
format:
	git clang-format --force HEAD -- '*.c' '*.h'

# The same check as make check's tests/lint/clang-tidy.sh (one process per file).
tidy:
	tests/lint/clang-tidy.sh
