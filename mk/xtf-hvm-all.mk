# Read after XTF's own top-level Makefile (make -f Makefile -f THIS hvm-images):
# builds only the HVM images (and info.json) of every test, each test's build
# limited to its HVM environments by xtf-hvm-test.mk.  `example` goes first: it
# builds every shared object (common/, arch/x86/) for all four HVM environments,
# so the other tests can then be built in parallel without racing on them.

HVSIM_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
XTF_TEST_DIRS := $(patsubst $(ROOT)/tests/%/Makefile,%,$(wildcard $(ROOT)/tests/*/Makefile))

.PHONY: hvm-images
hvm-images: $(addprefix hvm-images-,$(XTF_TEST_DIRS))

$(addprefix hvm-images-,$(filter-out example,$(XTF_TEST_DIRS))): $(filter hvm-images-example,$(addprefix hvm-images-,$(XTF_TEST_DIRS)))

hvm-images-%:
	@$(MAKE) --no-print-directory -C tests/$* -f Makefile -f $(HVSIM_MK_DIR)xtf-hvm-test.mk hvm-images
