# SPDX-License-Identifier: GPL-2.0-or-later
# Common vswap commands.  Each target installs what it needs first.
#
#   make check   run every test suite (what CI runs)
#   make demo    boot a VM with the vswap device
#   make build   standalone store library, tools and unit tests
#   make qemu    QEMU 10.0 with vswap built in (build/qemu)
#   make bench   store benchmarks (figures in docs/benchmarks.md)
#   make bench-blk BLOCKDEV=OPTS   the store's writeback through QEMU's
#                block layer against its liburing engine (or rbd bench)
#   make corpus  capture the page corpus the tests use (build/corpus)
#   make bench-migration   live migration of a swapping guest: vswap
#                          against an NBD-mirrored virtio-blk swap disk
#   make bench-guest       the guest's swap set-ups side by side
#   make bench-overcommit  three guests in one memory cgroup: host swap, no
#                          swap, and vswap-overcommitd (root)

BUILD ?= build

.PHONY: all deps corpus build qemu check demo bench bench-blk bench-migration bench-guest bench-overcommit clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps corpus
	@test -f $(BUILD)/standalone/build.ninja || meson setup $(BUILD)/standalone -Dcorpus=$(abspath $(BUILD))/corpus
	ninja -C $(BUILD)/standalone

# The page corpus (scripts/make-corpus.py): cached, so quick once made.
corpus: deps
	/usr/bin/python3 scripts/make-corpus.py --out $(BUILD)/corpus >/dev/null

qemu: deps
	bash scripts/build-qemu.sh

check:
	bash scripts/check.sh

demo: qemu corpus
	bash scripts/demo.sh

# Store benchmarks; figures and how to read them in docs/benchmarks.md.
bench: build
	/usr/bin/python3 scripts/make-corpus.py --out $(BUILD)/corpus >/dev/null
	$(BUILD)/standalone/bench/vswap-bench --corpus $(BUILD)/corpus $(BENCH_ARGS)

# The store's writeback through QEMU's block layer (vswap-blk-bench, built
# in QEMU's tree on request).  BLOCKDEV: the node, as -blockdev takes it;
# by default a file in /var/tmp with O_DIRECT, against the liburing engine.
BLOCKDEV ?= driver=file,filename=/var/tmp/vswap-blk-bench.store,aio=io_uring,cache.direct=on,discard=unmap
bench-blk: deps corpus
	bash scripts/build-qemu.sh tests/bench/vswap/vswap-blk-bench
	$(BUILD)/qemu/tests/bench/vswap/vswap-blk-bench --corpus $(BUILD)/corpus --blockdev '$(BLOCKDEV)' $(BENCH_ARGS)

# Guest benchmarks (real QEMU, TCG, minutes each; docs/benchmarks.md).
# They use $(VSWAP_QEMU) or build/qemu/qemu-system-x86_64; nothing here
# builds QEMU.
bench-migration:
	/usr/bin/python3 bench/migration-bench.py $(BENCH_ARGS)

bench-guest:
	/usr/bin/python3 bench/guest-bench.py $(BENCH_ARGS)

# It needs the controller, vswap-overcommitd, from the standalone build.
bench-overcommit: build
	/usr/bin/python3 bench/overcommit-eval.py $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)
