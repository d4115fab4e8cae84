# aigov: build, run and test against Debian's stock nginx.
# `make run` and `make test` are the two commands a new user needs.

SHELL     := /bin/bash
NGX_SRC   ?= /usr/share/nginx/src
NGINX     ?= /usr/sbin/nginx
B         := build
CC        ?= cc

DEB_PKGS  := nginx nginx-dev libjwt-dev libyaml-dev libssl-dev libjansson-dev \
             libcmocka-dev libpcre2-dev libvectorscan-dev zlib1g-dev \
             pkg-config wrk clang perl openssl curl ca-certificates procps iproute2 \
             prometheus logrotate
# Node.js runs the OpenAI SDK test; a machine may have it from elsewhere.
NODE_PKGS := nodejs npm
# t/redis.t and make bench start Debian's Redis on a loopback port
DEB_PKGS  += redis-server

WARN      := -Wall -Wextra -Werror
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g -fPIC -Ilib -Iplugins -I/usr/include/hs $(WARN)
CFLAGS    ?= -O2
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
EXT_LIBS  := -ljwt -lyaml -ljansson -lssl -lcrypto -lpcre2-8 -lhs -lz -ldl -lm -lpthread

LIB_SRC   := $(wildcard lib/*.c)
LIB_HDR   := $(wildcard lib/*.h) plugins/aigov_plugin.h
LIB_OBJ   := $(LIB_SRC:%.c=$(B)/obj/%.o)
LIB_ASAN  := $(LIB_SRC:%.c=$(B)/asan/%.o)
TOOL_SRC  := $(wildcard tools/*.c)
PLUGINS   := $(patsubst plugins/%/,%,$(sort $(dir $(wildcard plugins/*/*.c))))
PLUGIN_SO := $(PLUGINS:%=$(B)/plugins/%.so)
UNIT_SRC  := $(wildcard t/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:t/unit/%.c=$(B)/unit/%)
TPLUG_SO  := $(patsubst t/unit/plugins/%.c,$(B)/test-plugins/%.so,$(wildcard t/unit/plugins/*.c))
NODE_SDK  := t/node/node_modules/openai/package.json
MOD_SRC   := $(wildcard module/*.c module/*.h)
MODULE    := $(B)/nginx/ngx_http_aigov_module.so

.PHONY: all deps build run stop test unit integration bench fuzz nginx-tests clean
.DEFAULT_GOAL := all

all: build

# Installs only what is missing; a no-op on a machine that has everything.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing="$$missing $(NODE_PKGS)"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build: $(B)/libaigov.a $(B)/aigov $(PLUGIN_SO) $(MODULE)

$(B)/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

$(B)/asan/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 $(SAN) -c $< -o $@

$(B)/libaigov.a: $(LIB_OBJ)
	@mkdir -p $(B)
	rm -f $@ && ar rcs $@ $^

$(B)/libaigov-asan.a: $(LIB_ASAN)
	@mkdir -p $(B)
	rm -f $@ && ar rcs $@ $^

$(B)/aigov: $(TOOL_SRC) $(B)/libaigov.a $(LIB_HDR) $(wildcard tools/*.h)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itools $(TOOL_SRC) $(B)/libaigov.a $(EXT_LIBS) -o $@

# One shared object per folder under plugins/; a plugin sees only its own
# folder, aigov_plugin.h and aigov_hs.h (Vectorscan on a runtime that
# finds every match; see there).
.SECONDEXPANSION:
$(B)/plugins/%.so: $$(wildcard plugins/%/*.c plugins/%/*.h) plugins/aigov_plugin.h plugins/aigov_hs.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -g -fPIC -shared -fvisibility=hidden -Iplugins -I/usr/include/hs $(WARN) $(CFLAGS) \
	  $(filter %.c,$^) -o $@ -lhs -lpcre2-8 -lm

# Plugins that misbehave on purpose, for the host's tests.
$(B)/test-plugins/%.so: t/unit/plugins/%.c plugins/aigov_plugin.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -g -fPIC -shared -Iplugins -Wall -Wextra -Wno-unused-parameter $< -o $@

# The official OpenAI SDK, for t/sdk.t, installed from the lock file.
$(NODE_SDK): t/node/package.json t/node/package-lock.json
	cd t/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Unit tests run under AddressSanitizer and UBSan. A test named
# test_plugin_NAME also compiles plugins/NAME/*.c into itself.
$(B)/unit/%: t/unit/%.c $(B)/libaigov-asan.a $(wildcard t/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Wno-unused-parameter -It/unit -O1 $(SAN) $(filter %.c,$^) $(B)/libaigov-asan.a $(EXT_LIBS) -lcmocka -o $@

$(foreach t,$(filter $(B)/unit/test_plugin_%,$(UNIT_BIN)),\
  $(eval $(t): $(wildcard plugins/$(patsubst $(B)/unit/test_plugin_%,%,$(t))/*.c) plugins/aigov_hs.h))

# nginx's configure runs once (it takes half a minute); afterwards only the
# module is recompiled. The static library is linked into the module, so a
# change there relinks the .so.
# configure writes a Makefile into the tree it runs in, so it runs in a copy
# of Debian's nginx-dev tree rather than under /usr.
$(B)/nginx/Makefile: config
	@mkdir -p $(B)/nginx
	rm -rf $(B)/ngx-src && cp -a $(NGX_SRC) $(B)/ngx-src
	cd $(B)/ngx-src && . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	  --add-dynamic-module=$(CURDIR) --builddir=$(CURDIR)/$(B)/nginx >$(CURDIR)/$(B)/nginx/configure.log 2>&1 \
	  || { tail -30 $(CURDIR)/$(B)/nginx/configure.log; exit 1; }

$(MODULE): $(B)/nginx/Makefile $(MOD_SRC) $(B)/libaigov.a $(LIB_HDR)
	rm -f $@
	$(MAKE) -s -f $(CURDIR)/$(B)/nginx/Makefile -C $(CURDIR)/$(B)/ngx-src modules >$(B)/nginx/make.log 2>&1 \
	  || { cat $(B)/nginx/make.log; exit 1; }
	@test -f $@

run: deps build
	@tools/run.sh

stop:
	@tools/run.sh stop

unit: $(UNIT_BIN) $(PLUGIN_SO) $(TPLUG_SO)
	@t/unit/run.sh $(UNIT_BIN)

integration: build $(NODE_SDK)
	@prove -j2 -I t/lib t/*.t

test: deps
	@$(MAKE) --no-print-directory build $(UNIT_BIN) $(TPLUG_SO) $(NODE_SDK)
	@t/run-all.sh $(UNIT_BIN)

# Library micro-benchmarks, appended to the benchmark's table.
$(B)/bench-micro: bench/micro.c $(B)/libaigov.a $(LIB_HDR)
	$(CC) -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Ilib -Iplugins -I/usr/include/hs $< $(B)/libaigov.a $(EXT_LIBS) -o $@

bench: deps build $(B)/bench-micro
	@bench/run.sh

# libFuzzer targets for every parser and plugin (FUZZ_SECONDS each).
fuzz: deps
	@fuzz/build.sh && fuzz/run.sh

# nginx's own test suite with the module (developers; not in make test):
#   git clone https://github.com/nginx/nginx-tests && git -C nginx-tests checkout fa3d3c6
#   make nginx-tests NGINX_TESTS=nginx-tests [NGINX_TESTS_MODE=plain|loaded|on] [NGINX_TESTS_FILES="dav*.t"]
nginx-tests: build
	@test -n "$(NGINX_TESTS)" || { \
	    echo "make nginx-tests NGINX_TESTS=DIR: DIR is a checkout of https://github.com/nginx/nginx-tests (see tools/nginx-tests.sh)"; exit 2; }
	tools/nginx-tests.sh $(NGINX_TESTS) $(or $(NGINX_TESTS_MODE),on) $(NGINX_TESTS_FILES)

clean:
	rm -rf $(B)
