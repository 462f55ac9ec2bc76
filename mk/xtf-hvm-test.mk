# Read after one XTF test's Makefile (make -C tests/NAME -f Makefile -f THIS
# hvm-images): the test's images for its HVM environments (hvm64, hvm32pae,
# hvm32pse, hvm32), their xl configs (`hvsim create`/`hvsim test FILE.cfg`)
# and its info.json; no PV images.

.PHONY: hvm-images
hvm-images: $(foreach env,$(filter hvm%,$(TEST-ENVS)),test-$(env)-$(NAME)) info.json \
            $(filter test-hvm%,$(TEST-CFGS))
