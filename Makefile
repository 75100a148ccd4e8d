# rsvault build. `make` builds bin/ (and checks no packages: `make
# deps-build` installs the build packages); `make run` starts a vault under
# ./var; `make test` installs what it needs, then runs every test twice:
# once with the hardened build and once under AddressSanitizer + UBSan; and
# once the smoke of `make bench`.
#
# CC, CFLAGS, LDFLAGS and LDLIBS from the command line or the environment
# are honoured (ours are added to them). Objects go to a folder named after
# the flags that change them (build/release, build/release-testing,
# build/asan, build/asan-testing), so a sanitizer build never links objects
# of another kind.

SAN     ?= 0
TESTING ?= 0
BUILD   ?= build/$(if $(filter 1,$(SAN)),asan,release)$(if $(filter 1,$(TESTING)),-testing)
BIN     ?= bin

PKGS    := libmicrohttpd lmdb libsodium jansson gnutls libcrypto libcurl libseccomp

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wvla -Wstrict-prototypes \
           -Wmissing-prototypes -Werror
STD     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
ifeq ($(SAN),1)
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=all
LDOPT   := -fsanitize=address,undefined
else
OPT     := -O2 -g -D_FORTIFY_SOURCE=3 -fstack-protector-strong \
           -fstack-clash-protection -fcf-protection -fPIE
LDOPT   := -pie -Wl,-z,relro,-z,now,-z,noexecstack
endif
ifeq ($(TESTING),1)
OPT     += -DRSVAULT_TESTING=1
endif

# pkg-config runs once per make invocation (not once per compiler call).
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  += $(STD) $(OPT) $(WARN) -Icommon -MMD -MP $(PKG_CFLAGS)
LDFLAGS += $(LDOPT)
LDLIBS  += $(PKG_LIBS) -lpthread

COMMON_SRC := $(wildcard common/*.c)
VAULT_SRC  := $(filter-out vault/main.c,$(wildcard vault/*.c))
CLIENT_SRC := $(filter-out client/main.c,$(wildcard client/*.c))
KEYS_SRC   := $(filter-out keys/main.c,$(wildcard keys/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

# The customer's pages (web/, SPEC 8.2) are built into rsvaultd: the
# generator tools/embed.c (plain C, built for the build machine) writes
# them into a C table, $(BUILD)/gen/web_files.c, that vault/pages.c serves.
WEB_FILES  := $(sort $(wildcard web/*.html web/*/*.html web/assets/*.css web/assets/*.js))
WEB_GEN    := $(BUILD)/gen/web_files.c
WEB_OBJ    := $(BUILD)/gen/web_files.o
EMBED      := $(BUILD)/gen/embed

COMMON_OBJ := $(call obj,$(COMMON_SRC))
VAULT_OBJ  := $(call obj,$(VAULT_SRC)) $(WEB_OBJ)
CLIENT_OBJ := $(call obj,$(CLIENT_SRC))
KEYS_OBJ   := $(call obj,$(KEYS_SRC))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

PROGS := $(BIN)/rsvaultd $(BIN)/rsvault $(BIN)/rsvault-keys

.PHONY: all deps deps-build run test check unit-tests bench bench-smoke bench-deps lint clean stress install
all: programs

.PHONY: programs
programs: $(PROGS)

# Debian packages, installed (as root) only if missing: deps-build what
# `make` needs, deps also what the tests need.
deps:
	@bash .ci/deps.sh

deps-build:
	@bash .ci/deps.sh build

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(EMBED): tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O2 $(WARN) $< -o $@

$(WEB_GEN): $(EMBED) $(WEB_FILES)
	$(EMBED) $@ web $(WEB_FILES)

$(WEB_OBJ): $(WEB_GEN)
	$(CC) $(CFLAGS) -Ivault -c $< -o $@

$(BIN)/rsvaultd: $(call obj,vault/main.c) $(VAULT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/rsvault: $(call obj,client/main.c) $(CLIENT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# admin-token works on the vault's own store with the server's code.
KEYS_VAULT_OBJ := $(call obj,vault/tokens.c vault/store.c vault/crypto.c vault/records.c vault/log.c vault/display.c vault/metrics.c vault/wrapped.c vault/audit_read.c)
$(call obj,keys/admin_token.c keys/restore.c): CFLAGS += -Ivault
$(call obj,keys/master.c): CFLAGS += -Ivault
$(call obj,keys/audit_rotate.c): CFLAGS += -Ivault

$(BIN)/rsvault-keys: $(call obj,keys/main.c) $(KEYS_OBJ) $(KEYS_VAULT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(VAULT_OBJ) $(CLIENT_OBJ) $(KEYS_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ivault -Iclient -Ikeys $(LDFLAGS) $< $(VAULT_OBJ) $(CLIENT_OBJ) $(KEYS_OBJ) $(COMMON_OBJ) \
		$(LDLIBS) $(shell pkg-config --libs cmocka 2>/dev/null) -o $@

# LD_PRELOAD shim for the fault-injection tests (tests/lib/fault_preload.c):
# plain C, no sanitizer, so it loads into either build.
FAULT_SO := $(BUILD)/tests/fault_preload.so

$(FAULT_SO): tests/lib/fault_preload.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -D_GNU_SOURCE -O2 -g $(WARN) -fPIC -shared $< -ldl -o $@

# and the key tool's (tests/lib/keys_preload.c: a file swapped between two
# reads, a failing rename).
KEYS_SO := $(BUILD)/tests/keys_preload.so

$(KEYS_SO): tests/lib/keys_preload.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -D_GNU_SOURCE -O2 -g $(WARN) -fPIC -shared $< -ldl -o $@

unit-tests: $(UNIT_BIN) $(FAULT_SO) $(KEYS_SO)

# One test pass over the programs and unit tests in $(BUILD)/$(BIN)
# (docs/testing.md). The test files are independent (each its own scratch
# directory and servers on port 0), so they may run TEST_JOBS at a time,
# the longest first; then, alone, TEST_SERIAL: the files whose checks bound
# response times (deadlines, rate-limit windows, fault bounds, thousands of
# durable writes each within the queue bound). Both prove runs always run;
# the pass fails if either does. `make test` (CI) runs one file at a time:
# it fits the time budget that way, and a shared disk cannot push a
# durable write past its queue bound; TEST_JOBS=3 is for a quick local run.
TEST_JOBS   ?= 1
TEST_FIRST  := $(addprefix tests/integration/,test_crash.py test_approval.py test_races.py)
TEST_SERIAL := $(addprefix tests/integration/,test_limits.py test_ratelimit.py test_faults.py \
                 test_bounded_rows.py)
TEST_PAR    := $(TEST_FIRST) $(filter-out $(TEST_FIRST) $(TEST_SERIAL),$(sort $(wildcard tests/integration/*.py)))
check: programs unit-tests
	rc=0; export CMOCKA_MESSAGE_OUTPUT=TAP RSVAULT_BIN=$(abspath $(BIN)) \
	RSVAULT_FAULT_SO=$(abspath $(FAULT_SO)) \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1; \
	echo "== $(BUILD): $(TEST_JOBS) test files at a time"; \
	prove -f --timer -j$(TEST_JOBS) $(TEST_PAR) $(UNIT_BIN) $(FUZZ_REPLAY) || rc=1; \
	echo "== $(BUILD): alone: $(notdir $(TEST_SERIAL))"; \
	prove -f --timer $(TEST_SERIAL) || rc=1; \
	exit $$rc

run: deps-build
	@$(MAKE) --no-print-directory programs
	@bash tests/lib/run-local.sh

test: deps bench-deps
	@$(MAKE) --no-print-directory BUILD=build/test BIN=build/test/bin TESTING=1 check
	@$(MAKE) --no-print-directory BUILD=build/test BIN=build/test/bin TESTING=1 bench-smoke
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin TESTING=1 SAN=1 check

# Long drills, not part of `make test` (which runs a short form of each).
# STRESS_ROUNDS SIGKILL rounds of the crash drill (tests/lib/crashdrill.py).
STRESS_ROUNDS ?= 200
stress: deps
	@$(MAKE) --no-print-directory programs
	RSVAULT_BIN=$(abspath $(BIN)) RSVAULT_CRASH_ROUNDS=$(STRESS_ROUNDS) \
		prove -v tests/integration/test_crash.py

# `make bench` (docs/benchmarks.md): the release rsvaultd against nginx with
# wrk, in one run; prints the table and writes it into docs/benchmarks.md.
# Not part of `make test`, which runs `bench-smoke`: every part of the
# harness for a second or so, judged only on working, never on figures.
# BENCH_SECONDS, BENCH_REPS, BENCH_CONNS, BENCH_PERF, ...: tests/bench/bench.py.
# It builds the baseline commit (BENCH_BASELINE, 6d5a57e) from the git history
# into build/bench/baseline/ once and measures it beside bin/ at 1 connection.
bench: deps-build bench-deps
	@$(MAKE) --no-print-directory programs
	RSVAULT_BIN=$(abspath $(BIN)) python3 tests/bench/bench.py

bench-smoke: programs
	RSVAULT_BIN=$(abspath $(BIN)) prove -v tests/bench/bench.py :: --smoke

# wrk and nginx-light, installed (as root) only if missing.
bench-deps:
	@bash .ci/deps.sh bench

# `make install` (docs/operations.md): the programs, man pages, the systemd
# unit (with the paths filled in), a sysusers.d entry for its user and the
# example configuration, under $(DESTDIR)$(PREFIX) and $(DESTDIR)$(SYSCONFDIR).
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALL    ?= install

install: programs
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/rsvault
	$(INSTALL) -m 0755 $(PROGS) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 docs/rsvault.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 docs/rsvaultd.8 docs/rsvault-keys.8 $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/rsvaultd.service.in \
		> $(DESTDIR)$(UNITDIR)/rsvaultd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/rsvaultd.service
	$(INSTALL) -m 0644 dist/rsvault.sysusers $(DESTDIR)$(SYSUSERSDIR)/rsvault.conf
	$(INSTALL) -m 0644 dist/rsvaultd.conf.example $(DESTDIR)$(SYSCONFDIR)/rsvault/

lint:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- fuzzing (tests/fuzz; docs/fuzzing.md) ---------------------------------
# Each tests/fuzz/fuzz_NAME.c is a libFuzzer harness for pure functions.
# `make check` (so both passes of `make test`) runs $(BUILD)/tests/replay_NAME:
# the harness linked with tests/fuzz/replay_main.c by $(CC) with the normal
# flags, replaying tests/fuzz/corpus/NAME (a path relative to the top of the
# tree, the directory make and prove run in).
# `make fuzz` builds every harness with clang's libFuzzer + ASan + UBSan into
# build/fuzz and fuzzes each for FUZZ_SECONDS; new inputs go to
# build/fuzz/corpus/NAME, crashes to build/fuzz/artifacts/. `make fuzz-merge`
# minimises those into the checked-in corpora. tests/fuzz/NAME.dict is passed
# as -dict, tests/fuzz/NAME.options holds extra libFuzzer options for NAME.
# FUZZ_TARGETS picks harnesses, FUZZ_ARGS adds options (FUZZ_ARGS=-jobs=4).
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY  := $(patsubst %,$(BUILD)/tests/replay_%,$(FUZZ_NAMES))
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_ARGS    ?=
FUZZ_DIR     := build/fuzz
FUZZ_CFLAGS   = $(STD) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all $(filter-out -Werror,$(WARN)) -Icommon -Ivault \
                -Itests/fuzz -MMD -MP $(PKG_CFLAGS)
FUZZ_OBJ     := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(COMMON_SRC) $(VAULT_SRC)) \
                $(FUZZ_DIR)/obj/gen/web_files.o
FUZZ_BIN     := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_NAMES))

.PHONY: fuzz fuzz-build fuzz-merge fuzz-replays
check: fuzz-replays
fuzz-replays: $(FUZZ_REPLAY)

$(BUILD)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c tests/fuzz/fuzz.h \
		$(VAULT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ivault -Itests/fuzz -DCORPUS_DIR='"tests/fuzz/corpus/$*"' $(LDFLAGS) \
		$< tests/fuzz/replay_main.c $(VAULT_OBJ) $(COMMON_OBJ) $(LDLIBS) -o $@

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/gen/web_files.o: $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJ) $(PKG_LIBS) -lpthread -o $@

fuzz-build: deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

fuzz: fuzz-build
	@set -e; for n in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$n $(FUZZ_DIR)/artifacts; \
		echo "== fuzz_$$n: $(FUZZ_SECONDS) s"; \
		dict=; [ -f tests/fuzz/$$n.dict ] && dict=-dict=tests/fuzz/$$n.dict; \
		opts=; [ -f tests/fuzz/$$n.options ] && opts=$$(cat tests/fuzz/$$n.options); \
		$(FUZZ_DIR)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/artifacts/$$n- $$dict $$opts $(FUZZ_ARGS) \
			$(FUZZ_DIR)/corpus/$$n tests/fuzz/corpus/$$n; \
	done

fuzz-merge: fuzz-build
	@set -e; for n in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$n; \
		opts=; [ -f tests/fuzz/$$n.options ] && opts=$$(cat tests/fuzz/$$n.options); \
		$(FUZZ_DIR)/fuzz_$$n -merge=1 $$opts $(FUZZ_ARGS) tests/fuzz/corpus/$$n \
			$(FUZZ_DIR)/corpus/$$n; \
	done
# ---- end of fuzzing ----------------------------------------------------------
