# The two commands a new user needs: `make run` and `make test`.
CARGO ?= cargo
HARNESS := target/release/harness

FUZZ_TIME ?= 60
FUZZ_CORES ?= 0
# Fuzz builds instrument the reference-stack crate, and only it, with
# SanitizerCoverage (see fuzzer/sancov-rustc).
FUZZ_ENV := RUSTC_WORKSPACE_WRAPPER=$(CURDIR)/fuzzer/sancov-rustc

.PHONY: mutants-report run test lint ci setup lwip-dut lwip-vt-probe bench bench-report bench-packetdrill stress-linux seeds fuzz-build fuzz fuzz-bench fuzz-planted fuzz-smoke fuzz-clean fuzz-diff-build fuzz-diff fuzz-diff-clean fuzz-diff-edges fuzz-linux fuzz-parsers mutants

## Build, then run the main job: every script under suites/ on every target
## (the reference stack, smoltcp, and where privileges allow the Linux kernel
## and lwIP; otherwise those are skipped with the reason), each script also
## with its numbers placed to wrap mid-script (--wrap), then two stacks over
## a lossy link.
run: setup lwip-dut
	$(CARGO) build --release -p harness
	$(HARNESS) run suites/ --target all --wrap peer,stack
	$(HARNESS) loopback --loss 1 --seed 7

## Scripts per second on the reference target and on smoltcp (against the
## reference over the same scripts); fixed cost per script and suite time on
## Linux and on the lwIP DUT.
bench: setup lwip-dut
	$(CARGO) build --release -p harness
	$(HARNESS) bench suites --rounds 200
	$(HARNESS) bench suites --target smoltcp --rounds 200
	$(HARNESS) bench suites --target linux --transport tun
	$(HARNESS) bench suites --target linux --transport raw
	$(HARNESS) bench suites --target lwip

## What writing the HTML report (--report-dir) adds to `harness run suites/`
## on the reference target (median of interleaved runs; the target is 10 %).
bench-report: setup
	$(CARGO) build --release -p harness
	scripts/bench-report.sh

## packetdrill's own Linux TCP scripts, read from PACKETDRILL_TCP (GPL data,
## never copied into this repository): imported (a `*v6.pkt` file over IPv6,
## as run_all.py runs it; the others over IPv4), then run on the Linux target
## at -j 2 and -j 16, one verdict line per script, the totals for the 160
## IPv4 runs (and the IPv6 ones apart) and the wall time.
## Their shell commands are kept (--allow-shell) where they act on the run's
## own namespace only (tc, ip, ethtool, nstat, sysctl: iproute2 and ethtool
## are installed for them, the harness itself needs neither); the importer refuses
## the others (writes under /sys/module, files in /tmp).
PACKETDRILL_TCP ?= ../shared/peers/packetdrill/gtests/net/tcp
## The helpers that copy lacks (`../common/defaults.sh`, set_sysctls.py),
## written for this project from its HELPERS.md; a tree that holds its own
## helpers is read first, so these only fill the gap.
PACKETDRILL_HELPERS ?= harness/import-helpers/packetdrill-gtests
PD_OUT := target/packetdrill
bench-packetdrill: setup
	command -v ethtool >/dev/null || apt-get install -y --no-install-recommends ethtool
	command -v tc >/dev/null || apt-get install -y --no-install-recommends iproute2
	$(CARGO) build --release -p harness
	rm -rf $(PD_OUT) && mkdir -p $(PD_OUT)
	$(HARNESS) import $(PACKETDRILL_TCP) --helpers $(PACKETDRILL_HELPERS) --allow-shell -o $(PD_OUT)/scripts | tee $(PD_OUT)/import.txt
	for j in 2 16; do \
	  $(HARNESS) run $(PD_OUT)/scripts --target linux --allow-shell -j $$j --verdicts > $(PD_OUT)/run-j$$j.txt; \
	  grep -E '^(pass|FAIL|ERROR|skip) +[0-9.]+s ' $(PD_OUT)/run-j$$j.txt; \
	  total=$$(find $(PACKETDRILL_TCP) -name '*.pkt' ! -name '*v6.pkt' | wc -l); \
	  refused=$$(grep '^refused   ' $(PD_OUT)/import.txt | grep -vc 'v6\.pkt:'); \
	  v4=$$(grep -E '^(pass|FAIL|ERROR) +[0-9.]+s ' $(PD_OUT)/run-j$$j.txt | grep -v 'v6\.yaml '); \
	  v6=$$(grep -E '^(pass|FAIL|ERROR) +[0-9.]+s ' $(PD_OUT)/run-j$$j.txt | grep 'v6\.yaml '); \
	  echo "-j $$j: $$(echo "$$v4" | grep -c '^pass') of $$total IPv4 scripts passed," \
	    "$$(echo "$$v4" | grep -cE '^(FAIL|ERROR)') failed, $$refused not imported;" \
	    "IPv6: $$(echo "$$v6" | grep -c '^pass') of $$(echo "$$v6" | grep -c .) passed;" \
	    "$$(grep '^wall time' $(PD_OUT)/run-j$$j.txt)"; \
	done

## Linux timing under load: one busy loop per core plus one (STRESS_LOAD)
## while the suites run on the Linux target STRESS_RUNS times (10) at -j
## STRESS_JOBS (16), then packetdrill's scripts (PACKETDRILL_TCP, imported)
## STRESS_PD_RUNS times (3), their verdicts compared run to run. Prints each
## run's totals, failures the harness explains by its own descheduling apart
## from the rest; fails on any unexplained failure or changed verdict.
## Figures in target/stress/.
stress-linux: setup
	$(CARGO) build --release -p harness
	PACKETDRILL_TCP=$(PACKETDRILL_TCP) PACKETDRILL_HELPERS=$(PACKETDRILL_HELPERS) scripts/stress-linux.sh

## The lwIP device under test (duts/lwip/lwip-dut.c), against Debian's
## liblwip-dev (2.1.3): a program the harness starts per script.
LWIP_DUT := target/lwip-dut
lwip-dut: $(LWIP_DUT)
$(LWIP_DUT): duts/lwip/lwip-dut.c
	@pkg-config --exists lwip || { echo "lwip-dut needs liblwip-dev and pkg-config: apt-get install liblwip-dev pkg-config" >&2; exit 1; }
	mkdir -p target
	$${CC:-cc} -O2 -Wall -Wextra -Werror -o $@ $< $$(pkg-config --cflags --libs lwip) -lpthread

## The probe behind docs/adding-a-stack.md's report on lwIP in virtual time:
## an executable's sys_now() drives liblwip's timers.
lwip-vt-probe: duts/lwip/virtual-time-probe.c
	@pkg-config --exists lwip || { echo "lwip-vt-probe needs liblwip-dev and pkg-config" >&2; exit 1; }
	@mkdir -p target
	$${CC:-cc} -O2 -Wall -Wextra -Werror -o target/lwip-vt-probe $< $$(pkg-config --cflags --libs lwip) -lpthread
	target/lwip-vt-probe

## All tests of the workspace.
test: setup lwip-dut
	$(CARGO) test --workspace

## Formatting and lints, as CI runs them.
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Regenerates the fuzzer's seeds (corpus/) from the suites.
seeds: setup
	$(CARGO) build --release -p harness
	$(HARNESS) seeds suites/ --out corpus/

## Builds tcp-fuzz (LibAFL; profile fuzz: panic=abort, overflow checks).
fuzz-build: setup
	$(FUZZ_ENV) $(CARGO) build --profile fuzz -p fuzzer

## A campaign (FUZZ_TIME seconds on FUZZ_CORES), then triage: findings are
## deduplicated, minimised and written as scripts under fuzz-out/findings/.
fuzz: fuzz-build
	$(CARGO) build --release -p harness
	$(HARNESS) fuzz --time $(FUZZ_TIME) --cores $(FUZZ_CORES) --corpus corpus --out fuzz-out --fuzzer target/fuzz/tcp-fuzz

## execs/s on one core and on two; transitions reached from seeds and from nothing.
fuzz-bench: fuzz-build
	fuzzer/bench.sh 60

## Time to find each planted bug (limit 5 minutes each).
fuzz-planted: setup
	fuzzer/planted.sh 300

## CI's smoke run: 30 seconds must find the planted in-window-RST bug, and
## 30 seconds on the stack as it is must find nothing.
fuzz-smoke: setup
	fuzzer/planted.sh 30 planted-rst-any-in-window
	$(MAKE) --no-print-directory fuzz-clean
	PLANTED_AGAINST=reference fuzzer/planted.sh 60 planted-divergence
	$(MAKE) --no-print-directory fuzz-diff-clean

## 30 seconds on the stack as built (no planted bug) must find nothing; a
## finding fails the run and is printed as the script that replays it.
FUZZ_CLEAN_OUT := target/fuzz-clean
fuzz-clean: fuzz-build
	$(CARGO) build --release -p harness
	rm -rf $(FUZZ_CLEAN_OUT)
	$(HARNESS) fuzz --time 30 --cores 0 --corpus corpus --out $(FUZZ_CLEAN_OUT) --fuzzer target/fuzz/tcp-fuzz || { \
	  for f in $(FUZZ_CLEAN_OUT)/findings/*/case.yaml; do [ -f "$$f" ] && { echo "--- $$f"; cat "$$f"; }; done; exit 1; }

## Differential campaigns (harness/src/fuzz/diff.rs): each case runs on the
## reference stack and, beside it in the same virtual time, on FUZZ_AGAINST
## (smoltcp, or `reference`: the stack itself with another seed, the
## comparison's self-check); where they part, unless
## fuzzer/divergences/<stack>.yaml allows it, is a finding. Both stacks'
## code is instrumented, in a build of its own (target/fuzz-diff): smoltcp is
## a dependency, not a workspace member, so the wrapper is RUSTC_WRAPPER there.
FUZZ_AGAINST ?= smoltcp
FUZZ_DIFF_DIR := target/fuzz-diff
fuzz-diff-build: setup
	SANCOV_CRATES="reference_stack smoltcp" CARGO_TARGET_DIR=$(FUZZ_DIFF_DIR) RUSTC_WRAPPER=$(CURDIR)/fuzzer/sancov-rustc $(CARGO) build --profile fuzz -p fuzzer
fuzz-diff: fuzz-diff-build
	$(CARGO) build --release -p harness
	$(HARNESS) fuzz --against $(FUZZ_AGAINST) --time $(FUZZ_TIME) --cores $(FUZZ_CORES) --corpus corpus --out fuzz-diff-out --fuzzer $(FUZZ_DIFF_DIR)/fuzz/tcp-fuzz

## The corpus (or FUZZ_LINUX_CASES: a campaign's queue/) replayed on the
## Linux kernel beside the reference stack's linux profile (root):
## `harness diff` writes each case as the script of what the reference stack
## sent, runs it on the kernel in a private namespace, clusters where they
## part, and keeps each cluster's shortest case under FUZZ_LINUX_OUT/clusters/;
## fuzzer/divergences/linux.yaml lists the known ones. Each of the -j
## workers keeps its namespace, cleaned between cases. Cases that wait over
## 1 s, or run over 5 s in all, are skipped and counted.
FUZZ_LINUX_CASES ?= corpus
FUZZ_LINUX_OUT ?= diff-out
FUZZ_LINUX_JOBS ?= 128
fuzz-linux: setup
	$(CARGO) build --release -p harness
	rm -rf $(FUZZ_LINUX_OUT)
	$(HARNESS) diff $(FUZZ_LINUX_CASES) --against linux --out $(FUZZ_LINUX_OUT) -j $(FUZZ_LINUX_JOBS)

## Edges of each stack a differential campaign's queue covers
## (FUZZ_DIFF_QUEUE, default fuzz-diff-out/queue): the counters of both
## stacks share one region, so the queue is loaded again by a build with
## only smoltcp instrumented and one with only the reference stack
## (target/fuzz-diff-smoltcp, target/fuzz-diff-reference_stack); each
## prints its edges once the queue is in.
FUZZ_DIFF_QUEUE ?= fuzz-diff-out/queue
fuzz-diff-edges: setup
	@for c in smoltcp reference_stack; do \
	  SANCOV_CRATES=$$c CARGO_TARGET_DIR=target/fuzz-diff-$$c RUSTC_WRAPPER=$(CURDIR)/fuzzer/sancov-rustc $(CARGO) build --quiet --profile fuzz -p fuzzer || exit 1; \
	  rm -rf target/fuzz-diff-$$c/edges; n=$$(ls $(FUZZ_DIFF_QUEUE) | wc -l); \
	  target/fuzz-diff-$$c/fuzz/tcp-fuzz --against $(FUZZ_AGAINST) --cores 0 --time 5 --corpus $(FUZZ_DIFF_QUEUE) --out target/fuzz-diff-$$c/edges 2>&1 | \
	    awk -v c=$$c -v n=$$n '/CLIENT/ { for (i = 1; i <= NF; i++) { if ($$i == "executions:") e = $$(i+1) + 0; if ($$i == "edges:") g = $$(i+1) } if (e >= n && !done) { print c ": " g " edges after the queue'"'"'s " n " cases"; done = 1 } }'; \
	done

## 30 seconds of the self-check (`--against reference`) must find nothing.
FUZZ_DIFF_CLEAN_OUT := target/fuzz-diff-clean
fuzz-diff-clean: fuzz-diff-build
	$(CARGO) build --release -p harness
	rm -rf $(FUZZ_DIFF_CLEAN_OUT)
	$(HARNESS) fuzz --against reference --time 30 --cores 0 --corpus corpus --out $(FUZZ_DIFF_CLEAN_OUT) --fuzzer $(FUZZ_DIFF_DIR)/fuzz/tcp-fuzz || { \
	  for f in $(FUZZ_DIFF_CLEAN_OUT)/findings/*/divergence.txt; do [ -f "$$f" ] && { echo "--- $$f"; cat "$$f"; }; done; exit 1; }

## The readers of user input (the script parser, the packet notation, the
## packetdrill importer) under LibAFL with the harness crate instrumented, in
## target/fuzz-parsers (fuzzer/src/bin/parse-fuzz.rs): FUZZ_PARSERS_TIME
## seconds (10 minutes) from seeds written from the suites; a panic or a hang
## over 5 s is a solution and fails the run. Prints executions, solutions and
## the peak RSS. FUZZ_PARSERS_FEATURES=planted-parser-panic plants a bug it
## must find.
FUZZ_PARSERS_TIME ?= 600
FUZZ_PARSERS_DIR := target/fuzz-parsers
fuzz-parsers: setup
	SANCOV_CRATES=harness CARGO_TARGET_DIR=$(FUZZ_PARSERS_DIR) $(FUZZ_ENV) $(CARGO) build --profile fuzz -p fuzzer --bin parse-fuzz $(if $(FUZZ_PARSERS_FEATURES),--features $(FUZZ_PARSERS_FEATURES))
	fuzzer/parser-seeds.sh $(FUZZ_PARSERS_DIR)/seeds
	rm -rf $(FUZZ_PARSERS_DIR)/out
	$(FUZZ_PARSERS_DIR)/fuzz/parse-fuzz --seeds $(FUZZ_PARSERS_DIR)/seeds --out $(FUZZ_PARSERS_DIR)/out --time $(FUZZ_PARSERS_TIME) || { \
	  for f in $(FUZZ_PARSERS_DIR)/out/crashes/*; do [ -f "$$f" ] && echo "solution: $$f (replay: $(FUZZ_PARSERS_DIR)/fuzz/parse-fuzz --replay $$f)"; done; exit 1; }

## What CI runs.
ci: lint test run fuzz-smoke

## Checks the toolchain; installs the rustfmt and clippy components if missing.
setup:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
	@for c in rustfmt clippy; do \
	  rustup component list --installed 2>/dev/null | grep -q "^$$c" || rustup component add $$c; \
	done

## Mutation check (issues 6 and 25): cargo-mutants over the reference stack
## (.cargo/mutants.toml leaves some functions out, with reasons), one part at
## a time: MUTANTS_PART=tcb (src/tcb.rs, the state machine and timers),
## stack (src/stack.rs: demultiplexing, listen queues, the socket API) or
## wire (src/assembler.rs and src/wire/). A mutant is killed by the
## reference stack's own tests or, failing those, by a suite script failing
## on the reference target (harness/tests/suites.rs, wrap variants included,
## stopping at the first failing run): two passes, the second over what the
## first missed (--iterate). Each part fits a CI-sized slice on 2 cores
## (wire about 15 minutes, stack and tcb longer; the first build in each
## scratch tree compiles every dependency). MUTANTS_ARGS=--iterate retests
## only what the part's last run did not catch. `make mutants-report` totals
## the parts run. On demand, not in .ci/run. Results: target/mutants/PART/.
MUTANTS_PART ?= wire
MUTANTS_FILES_tcb := -f reference-stack/src/tcb.rs
MUTANTS_FILES_stack := -f reference-stack/src/stack.rs
MUTANTS_FILES_wire := -f reference-stack/src/assembler.rs -f 'reference-stack/src/wire/*.rs'
MUTANTS_OUT = target/mutants/$(MUTANTS_PART)
mutants: setup
	@command -v cargo-mutants >/dev/null || $(CARGO) install --locked cargo-mutants --version 27.1.0
	@[ -n "$(MUTANTS_FILES_$(MUTANTS_PART))" ] || { echo "MUTANTS_PART is tcb, stack or wire, not $(MUTANTS_PART)" >&2; exit 2; }
	@# cargo-mutants 27 runs its baseline on the mutated package only, where
	@# there is no `suites` test: check that baseline here, then skip its own.
	$(CARGO) test -p harness --test suites
	@# A build timeout shorter than a first build would count those mutants as
	@# timeouts, that is as killed. Exit 2 from cargo-mutants means some were
	@# missed, 3 that some timed out (killed): the next pass and the report
	@# still run.
	mkdir -p $(MUTANTS_OUT)
	$(CARGO) mutants $(MUTANTS_FILES_$(MUTANTS_PART)) --test-package=reference-stack \
		--timeout 60 --build-timeout 1800 -j 2 --output $(MUTANTS_OUT) $(MUTANTS_ARGS); \
	  rc=$$?; case $$rc in 0|2|3) ;; *) exit $$rc ;; esac
	@# A first run's pass 1 (every mutant) is kept in pass1/, the report's
	@# measure of the part; what it timed out on is killed, and not tried
	@# again (--iterate skips what caught.txt lists).
	case "$(MUTANTS_ARGS)" in *--iterate*) ;; *) rm -rf $(MUTANTS_OUT)/pass1 && cp -r $(MUTANTS_OUT)/mutants.out $(MUTANTS_OUT)/pass1 ;; esac
	cat $(MUTANTS_OUT)/mutants.out/timeout.txt >> $(MUTANTS_OUT)/mutants.out/caught.txt
	@# --test=suites for every cargo call: each mutant builds that test alone.
	SUITES_FAIL_FAST=1 $(CARGO) mutants $(MUTANTS_FILES_$(MUTANTS_PART)) --test-package=harness --baseline=skip \
		--cargo-arg=--test=suites --timeout 120 --build-timeout 1800 -j 2 \
		--iterate --output $(MUTANTS_OUT); \
	  rc=$$?; $(MAKE) --no-print-directory mutants-report; case $$rc in 0|2|3) ;; *) exit $$rc ;; esac

## The score of each part run so far, and over all (scripts/mutants-report.sh).
mutants-report:
	@bash scripts/mutants-report.sh target/mutants
