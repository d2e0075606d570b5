# jobmeter — top-level build.  Everything lands in build/ (never in git).
#   make            build bpf objects, skeletons and every binary into build/
#   make test       install deps (idempotent), build, run unit + integration tests
#   make demo       install deps, build, run the demo pipeline
#   make fuzz       build libFuzzer targets (clang, ASan+UBSan) and run each FUZZ_SECONDS
#   make bench      run the benchmark suite (bench/RESULTS.md)
#   make V=1 ...    show the commands
# Build-time requirements are installed by scripts/deps.sh.

V ?= 0
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BUILD     ?= build
OBJ       := $(BUILD)/obj
BIN       := $(BUILD)/bin
CC        ?= cc
CLANG     ?= clang
BPFTOOL   ?= bpftool
PROTOC_C  ?= protoc-c
ARCH      := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
             -fno-strict-aliasing -I$(BUILD) -I$(BUILD)/proto -Iagent -Ibpf -I.
LDLIBS    := -lbpf -lelf -lz -lprotobuf-c -lyaml -lcurl -lmicrohttpd -lsqlite3 -lpthread -lm

# uapi headers only (linux/types.h, linux/bpf.h): the multiarch dir supplies asm/.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function \
              -I/usr/include/$(shell $(CC) -dumpmachine) \
              -Ibpf -I$(BUILD) -mcpu=v3

# ---- sources (wildcards: adding a module needs no Makefile edit) ----
BPF_SRCS    := $(wildcard bpf/*.bpf.c)
BPF_OBJS    := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS       := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
PROTO_SRCS  := $(wildcard proto/*.proto)
PROTO_C     := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.c,$(PROTO_SRCS))
PROTO_OBJS  := $(patsubst %.c,$(OBJ)/%.o,$(PROTO_C:$(BUILD)/%=%))

AGENT_SRCS  := $(wildcard agent/*.c agent/protocol/*.c agent/identity/*.c)
AGENT_OBJS  := $(patsubst %.c,$(OBJ)/%.o,$(AGENT_SRCS))
AGENT_LIB   := $(filter-out $(OBJ)/agent/main.o,$(AGENT_OBJS))
COLL_SRCS   := $(wildcard tools/collector/*.c)
COLL_OBJS   := $(patsubst %.c,$(OBJ)/%.o,$(COLL_SRCS))
COLL_LIB    := $(filter-out $(OBJ)/tools/collector/main.o,$(COLL_OBJS))
REPORT_SRCS := $(wildcard tools/report/*.c)
REPORT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(REPORT_SRCS))
REPORT_LIB  := $(filter-out $(OBJ)/tools/report/main.o,$(REPORT_OBJS))
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(HELPER_SRCS))

BINS := $(BIN)/jobmeter-agent
ifneq ($(COLL_SRCS),)
BINS += $(BIN)/jobmeter-collector
endif
ifneq ($(REPORT_SRCS),)
BINS += $(BIN)/jobmeter-report
endif

.SECONDARY:
.PHONY: all deps test unit integration demo fuzz bench clean install deb FORCE
.DEFAULT_GOAL := all
all: $(BINS) $(UNIT_BINS) $(HELPER_BINS)

deps:
	$(Q)scripts/deps.sh

# ---- BPF: compile, then skeleton into build/ ----
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)llvm-strip -g $@ 2>/dev/null || true

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# ---- protobuf-c ----
$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto | $(BUILD)/proto
	$(call msg,PROTOC,$<)
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(BUILD)/proto $<

$(OBJ)/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Wno-error -c $< -o $@

# ---- the version, as a header rewritten only when it changes: the objects
# that include it (their .d files say which) rebuild then, and only they ----
$(BUILD)/version.h: FORCE
	@mkdir -p $(BUILD)
	@printf '#define JOBMETER_VERSION "%s"\n' '$(VERSION)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
FORCE:

# ---- C objects: every agent/tool object may include skeletons and protos ----
$(OBJ)/%.o: %.c $(SKELS) $(PROTO_C) | $(OBJ) $(BUILD)/version.h
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BIN)/jobmeter-agent: $(AGENT_OBJS) $(PROTO_OBJS) | $(BIN)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BIN)/jobmeter-collector: $(COLL_OBJS) $(OBJ)/agent/log.o $(PROTO_OBJS) | $(BIN)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BIN)/jobmeter-report: $(REPORT_OBJS) $(OBJ)/agent/log.o $(OBJ)/agent/utf8.o $(PROTO_OBJS) | $(BIN)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# Unit tests link every non-main object of the agent and tools.
$(BUILD)/tests/%: tests/unit/%.c $(AGENT_LIB) $(COLL_LIB) $(REPORT_LIB) $(PROTO_OBJS)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit $^ -o $@ $(LDLIBS)

$(BUILD)/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lpthread -lm

$(BUILD)/bpf $(BUILD)/proto $(OBJ) $(BIN):
	@mkdir -p $@

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# ---- entry points of the README ----
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run.sh

unit: all
	$(Q)tests/run.sh unit

integration: all
	$(Q)tests/run.sh integration

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

FUZZ_SECONDS ?= 60
fuzz: deps
	$(Q)scripts/fuzz.sh $(FUZZ_SECONDS)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/run.sh

clean:
	rm -rf $(BUILD)

install: all
	$(Q)DESTDIR="$(DESTDIR)" PREFIX="$(or $(PREFIX),/usr)" BUILD="$(BUILD)" scripts/install.sh

deb: all
	$(Q)BUILD="$(BUILD)" scripts/mkdeb.sh
