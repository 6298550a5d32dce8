# Makefile at top of application tree
TOP = .

# The README's two commands (`make demo`, `make test`) and `make deps` must work
# on a machine that has nothing yet, before EPICS Base exists, so they do not
# read the EPICS build configuration; they run the dependency step first and
# then call make again for the EPICS build.
IOCMGR_GOALS = deps demo test test-unit bench sanitize valgrind
ifneq ($(filter $(IOCMGR_GOALS),$(MAKECMDGOALS)),)

.PHONY: $(IOCMGR_GOALS)
deps:
	@$(TOP)/tools/deps.sh
demo: deps
	@$(MAKE) --no-print-directory all
	@$(TOP)/tools/demo.sh
test: deps
	@$(MAKE) --no-print-directory all
	@$(TOP)/tools/run-tests.sh
test-unit: deps
	@$(MAKE) --no-print-directory all
	@IOCMGR_TEST_UNIT_ONLY=1 $(TOP)/tools/run-tests.sh
# figures, not pass/fail: docs/performance.md (BENCH_SIZES="100 1000 5000")
bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C $(TOP)/tests/bench bench
# the test suites on an ASan+UBSan build / under valgrind memcheck: docs/reliability.md
sanitize: deps
	@$(TOP)/tools/sanitize.sh asan
valgrind: deps
	@$(TOP)/tools/sanitize.sh valgrind

else

include $(TOP)/configure/CONFIG

DIRS += configure
DIRS += iocmgrApp
iocmgrApp_DEPEND_DIRS += configure
DIRS += iocBoot
iocBoot_DEPEND_DIRS += iocmgrApp
DIRS += tests
tests_DEPEND_DIRS += iocmgrApp

include $(TOP)/configure/RULES_TOP

endif
