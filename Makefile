# rsvault build. `make` builds bin/; `make run` starts a vault under ./var;
# `make test` installs what it needs, then runs every test twice: once with
# the hardened build and once under AddressSanitizer + UBSan.

CC      ?= gcc
BUILD   ?= build/release
BIN     ?= bin
SAN     ?= 0
TESTING ?= 0

PKGS    := libmicrohttpd lmdb libsodium jansson gnutls libcrypto libcurl

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

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  += $(STD) $(OPT) $(WARN) -Icommon -MMD -MP $(PKG_CFLAGS)
LDFLAGS += $(LDOPT)
LDLIBS  += $(PKG_LIBS) -lpthread

COMMON_SRC := $(wildcard common/*.c)
VAULT_SRC  := $(filter-out vault/main.c,$(wildcard vault/*.c))
CLIENT_SRC := $(filter-out client/main.c,$(wildcard client/*.c))
KEYS_SRC   := $(filter-out keys/main.c,$(wildcard keys/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON_SRC))
VAULT_OBJ  := $(call obj,$(VAULT_SRC))
CLIENT_OBJ := $(call obj,$(CLIENT_SRC))
KEYS_OBJ   := $(call obj,$(KEYS_SRC))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

PROGS := $(BIN)/rsvaultd $(BIN)/rsvault $(BIN)/rsvault-keys

.PHONY: all deps run test check unit-tests bench lint clean
all: deps
	@$(MAKE) --no-print-directory programs

.PHONY: programs
programs: $(PROGS)

deps:
	@bash .ci/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BIN)/rsvaultd: $(call obj,vault/main.c) $(VAULT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/rsvault: $(call obj,client/main.c) $(CLIENT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/rsvault-keys: $(call obj,keys/main.c) $(KEYS_OBJ) $(COMMON_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(VAULT_OBJ) $(CLIENT_OBJ) $(KEYS_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ivault -Iclient -Ikeys $(LDFLAGS) $< $(VAULT_OBJ) $(CLIENT_OBJ) $(KEYS_OBJ) $(COMMON_OBJ) \
		$(LDLIBS) $(shell pkg-config --libs cmocka 2>/dev/null) -o $@

unit-tests: $(UNIT_BIN)

# One test pass over the programs and unit tests in $(BUILD)/$(BIN).
check: programs unit-tests
	CMOCKA_MESSAGE_OUTPUT=TAP RSVAULT_BIN=$(abspath $(BIN)) \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		prove -f $(UNIT_BIN) tests/integration/*.py

run: all
	@bash tests/lib/run-local.sh

test: deps
	@$(MAKE) --no-print-directory BUILD=build/test BIN=build/test/bin TESTING=1 check
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin TESTING=1 SAN=1 check

bench: all $(BUILD)/tests/bench_store
	@bash tests/bench/run.sh

$(BUILD)/tests/bench_store: tests/bench/bench_store.c $(VAULT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ivault $(LDFLAGS) $< $(VAULT_OBJ) $(COMMON_OBJ) $(LDLIBS) -o $@

lint:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
