# Image-format tests: interop with qemu-img (the test-only peer) and the
# kill -9 crash test; see docs/testing.md.
$(BUILD)/img-writer: $(BUILD)/obj/tests/img/writer.o $(BUILD)/libvmm.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

imgcheck: $(BUILD)/vmm-img $(BUILD)/img-writer
	VMM_IMG=$(abspath $(BUILD)/vmm-img) IMG_WRITER=$(abspath $(BUILD)/img-writer) \
		/usr/bin/python3 -m pytest -rs -v tests/img

.PHONY: imgcheck
