// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KVM's saved state (src/core/kvm_state.c) on the host's /dev/kvm: a small VM
 * (irqchip, PIT, one vCPU) gets distinctive registers, MSRs, LAPIC, events,
 * debug registers, PIC/IOAPIC/PIT state; it is saved, loaded into a new VM,
 * saved again, and the two streams must agree field by field (the TSC and
 * kvmclock may only have moved forward a little), and the new VM must
 * read back the values that were set.
 *
 * Without /dev/kvm (or an ioctl this KVM lacks) the tests skip with the
 * reason; with VMM_REQUIRE_REAL=1 (make check) they fail instead, like the
 * firmware layer's tests/fw/fwskip.py.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm.h"
#include "kvm_state.h"
#include "memory.h"
#include "savestate.h"
#include "util.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_IA32_TSC 0x10

struct small_vm {
	struct kvm_vm kvm;
	int vcpu;
};

static void unavailable(const char *why)
{
	const char *strict = getenv("VMM_REQUIRE_REAL");
	if (strict && !strcmp(strict, "1"))
		fail_msg("KVM state test cannot run, and VMM_REQUIRE_REAL=1: %s", why);
	print_message("skipped: %s\n", why);
	skip();
}

static bool vm_new(struct small_vm *v, char *err, size_t errlen)
{
	if (kvm_open(&v->kvm, "/dev/kvm", err, errlen) < 0)
		return false;
	if (kvm_create_vm(&v->kvm, err, errlen) < 0) {
		kvm_close(&v->kvm);
		return false;
	}
	v->vcpu = ioctl(v->kvm.vm_fd, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0 || ioctl(v->vcpu, KVM_SET_CPUID2, v->kvm.supported_cpuid) < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU/KVM_SET_CPUID2: %s", strerror(errno));
		kvm_destroy_vm(&v->kvm);
		kvm_close(&v->kvm);
		return false;
	}
	return true;
}

static void vm_free(struct small_vm *v)
{
	close(v->vcpu);
	kvm_destroy_vm(&v->kvm);
	kvm_close(&v->kvm);
}

static void set_msr(int fd, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = { .index = index, .data = value } };
	assert_int_equal(ioctl(fd, KVM_SET_MSRS, &m), 1);
}

static uint64_t get_msr(int fd, uint32_t index)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = { .index = index } };
	assert_int_equal(ioctl(fd, KVM_GET_MSRS, &m), 1);
	return m.e.data;
}

/* Gives the VM state no fresh VM has. */
static void make_distinctive(struct small_vm *v)
{
	int fd = v->vcpu;
	struct kvm_regs regs;
	assert_int_equal(ioctl(fd, KVM_GET_REGS, &regs), 0);
	regs.rax = 0x1111222233334444ULL;
	regs.r15 = 0xfeedface;
	regs.rip = 0x7c00;
	regs.rsp = 0x6000;
	regs.rflags = 0x202;
	assert_int_equal(ioctl(fd, KVM_SET_REGS, &regs), 0);

	struct kvm_sregs sregs;
	assert_int_equal(ioctl(fd, KVM_GET_SREGS, &sregs), 0);
	sregs.ds.selector = 0x1234;
	sregs.ds.base = 0x12340;
	sregs.gdt.base = 0x5000;
	sregs.gdt.limit = 0x27;
	sregs.cr2 = 0xdead000;
	assert_int_equal(ioctl(fd, KVM_SET_SREGS, &sregs), 0);

	set_msr(fd, MSR_IA32_SYSENTER_CS, 0x10);
	set_msr(fd, MSR_IA32_SYSENTER_EIP, 0xc0de);
	set_msr(fd, MSR_STAR, 0x0023001000000000ULL);
	set_msr(fd, MSR_LSTAR, 0xffffffff81000000ULL);

	struct kvm_lapic_state lapic;
	assert_int_equal(ioctl(fd, KVM_GET_LAPIC, &lapic), 0);
	lapic.regs[0x80] = 0x20; /* TPR */
	lapic.regs[0x320] = 0x31; /* LVT timer vector, masked below */
	lapic.regs[0x322] = 0x01;
	assert_int_equal(ioctl(fd, KVM_SET_LAPIC, &lapic), 0);

	struct kvm_debugregs dr;
	assert_int_equal(ioctl(fd, KVM_GET_DEBUGREGS, &dr), 0);
	dr.db[0] = 0x1000;
	dr.db[3] = 0x4000;
	dr.dr7 = 0x401;
	assert_int_equal(ioctl(fd, KVM_SET_DEBUGREGS, &dr), 0);

	struct kvm_vcpu_events ev;
	assert_int_equal(ioctl(fd, KVM_GET_VCPU_EVENTS, &ev), 0);
	ev.nmi.pending = 1;
	ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	assert_int_equal(ioctl(fd, KVM_SET_VCPU_EVENTS, &ev), 0);

	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_HALTED };
	assert_int_equal(ioctl(fd, KVM_SET_MP_STATE, &mp), 0);

	struct kvm_irqchip pic = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	assert_int_equal(ioctl(v->kvm.vm_fd, KVM_GET_IRQCHIP, &pic), 0);
	pic.chip.pic.imr = 0xb8;
	pic.chip.pic.irq_base = 0x08;
	assert_int_equal(ioctl(v->kvm.vm_fd, KVM_SET_IRQCHIP, &pic), 0);
	struct kvm_irqchip io = { .chip_id = KVM_IRQCHIP_IOAPIC };
	assert_int_equal(ioctl(v->kvm.vm_fd, KVM_GET_IRQCHIP, &io), 0);
	io.chip.ioapic.redirtbl[5].bits = 0x0000000000010035ULL;
	io.chip.ioapic.ioregsel = 0x12;
	assert_int_equal(ioctl(v->kvm.vm_fd, KVM_SET_IRQCHIP, &io), 0);

	struct kvm_pit_state2 pit;
	assert_int_equal(ioctl(v->kvm.vm_fd, KVM_GET_PIT2, &pit), 0);
	/* Channels 1 and 2 only: a programmed channel 0 would tick IRQ 0 into
	 * the PIC's IRR on the host's clock, differently in each VM. */
	pit.channels[1].count = 0x1234;
	pit.channels[1].mode = 2;
	pit.channels[1].rw_mode = 3;
	pit.channels[2].count = 0x533;
	assert_int_equal(ioctl(v->kvm.vm_fd, KVM_SET_PIT2, &pit), 0);
}

/* Saves the VM and its vCPU; skips when this KVM lacks an ioctl. */
static void save_vm(struct small_vm *v, struct ss_writer *w)
{
	char err[256];
	ss_writer_init(w);
	if (kvm_vm_state_save(&v->kvm, w, err, sizeof(err)) < 0 ||
	    kvm_vcpu_state_save(&v->kvm, v->vcpu, 0, w, err, sizeof(err)) < 0) {
		ss_writer_free(w);
		if (strstr(err, "Inappropriate ioctl") || strstr(err, "Invalid argument"))
			unavailable(err);
		fail_msg("save: %s", err);
	}
	assert_int_equal(ss_writer_finish(w), 0);
}

/* Fields that follow the host's clock: equal or a little later (60 s). */
static bool time_field(const char *name, const struct ss_field *a, const struct ss_field *b,
		       uint64_t tsc_khz)
{
	uint64_t slack;
	if (!strcmp(name, "tsc"))
		slack = tsc_khz * 1000 * 60;
	else if (!strcmp(name, "kvmclock"))
		slack = 60ULL * 1000000000;
	else
		return false;
	uint64_t va = get_le64(a->data), vb = get_le64(b->data);
	if (vb < va || vb - va > slack)
		fail_msg("%s went from %llu to %llu", name, (unsigned long long)va,
			 (unsigned long long)vb);
	return true;
}

/* The two streams hold the same sections and fields, byte for byte except
 * the clocks. Returns the number of fields compared. */
static unsigned compare_streams(const struct ss_writer *wa, const struct ss_writer *wb)
{
	struct ss_reader a, b;
	unsigned compared = 0;
	assert_int_equal(ss_reader_open(&a, wa->buf, wa->len), 0);
	assert_int_equal(ss_reader_open(&b, wb->buf, wb->len), 0);
	assert_int_equal(a.nsections, b.nsections);
	for (unsigned s = 0; s < a.nsections; s++) {
		const char *sec = a.sections[s].name;
		uint32_t inst = a.sections[s].instance;
		assert_true(ss_section_open(&a, sec, inst, 1, 1, NULL));
		assert_true(ss_section_open(&b, sec, inst, 1, 1, NULL));
		assert_int_equal(a.nfields, b.nfields);
		uint64_t khz = 0;
		for (unsigned i = 0; i < a.nfields; i++)
			if (!strcmp(a.fields[i].name, "tsc_khz"))
				khz = get_le32(a.fields[i].data);
		for (unsigned i = 0; i < a.nfields; i++) {
			const struct ss_field *fa = &a.fields[i], *fb = &b.fields[i];
			assert_string_equal(fa->name, fb->name);
			assert_int_equal(fa->size, fb->size);
			if (!time_field(fa->name, fa, fb, khz) &&
			    memcmp(fa->data, fb->data, fa->size))
				fail_msg("%s.%s differs after load", sec, fa->name);
			a.fields[i].used = b.fields[i].used = true;
			compared++;
		}
		assert_true(ss_section_close(&a));
		assert_true(ss_section_close(&b));
	}
	ss_reader_close(&a);
	ss_reader_close(&b);
	return compared;
}

static void load_vm(struct small_vm *v, const struct ss_writer *w)
{
	struct ss_reader r;
	char err[256];
	assert_int_equal(ss_reader_open(&r, w->buf, w->len), 0);
	if (kvm_vm_state_load(&v->kvm, &r, err, sizeof(err)) < 0 ||
	    kvm_vcpu_state_load(&v->kvm, v->vcpu, 0, &r, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	assert_null(ss_unclaimed_section(&r));
	ss_reader_close(&r);
}

static void test_round_trip(void **state)
{
	struct small_vm a, b;
	struct ss_writer w1, w2;
	char err[256];

	if (!vm_new(&a, err, sizeof(err)))
		unavailable(err);
	make_distinctive(&a);
	save_vm(&a, &w1);
	vm_free(&a);

	assert_true(vm_new(&b, err, sizeof(err)));
	load_vm(&b, &w1);
	save_vm(&b, &w2);
	unsigned n = compare_streams(&w1, &w2);
	print_message("kvm state: %u fields compared, stream %zu bytes\n", n, w1.len);
	assert_true(n > 150);

	/* the new VM reads back what the first one was given */
	struct kvm_regs regs;
	assert_int_equal(ioctl(b.vcpu, KVM_GET_REGS, &regs), 0);
	assert_int_equal(regs.rax, 0x1111222233334444ULL);
	assert_int_equal(regs.rip, 0x7c00);
	struct kvm_sregs sregs;
	assert_int_equal(ioctl(b.vcpu, KVM_GET_SREGS, &sregs), 0);
	assert_int_equal(sregs.ds.selector, 0x1234);
	assert_int_equal(sregs.gdt.base, 0x5000);
	assert_int_equal(get_msr(b.vcpu, MSR_LSTAR), 0xffffffff81000000ULL);
	assert_int_equal(get_msr(b.vcpu, MSR_IA32_SYSENTER_EIP), 0xc0de);
	struct kvm_vcpu_events ev;
	assert_int_equal(ioctl(b.vcpu, KVM_GET_VCPU_EVENTS, &ev), 0);
	assert_int_equal(ev.nmi.pending, 1);
	struct kvm_mp_state mp;
	assert_int_equal(ioctl(b.vcpu, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_HALTED);
	struct kvm_lapic_state lapic;
	assert_int_equal(ioctl(b.vcpu, KVM_GET_LAPIC, &lapic), 0);
	assert_int_equal(lapic.regs[0x80], 0x20);
	struct kvm_debugregs dr;
	assert_int_equal(ioctl(b.vcpu, KVM_GET_DEBUGREGS, &dr), 0);
	assert_int_equal(dr.db[3], 0x4000);
	assert_int_equal(dr.dr7, 0x401);
	struct kvm_irqchip pic = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	assert_int_equal(ioctl(b.kvm.vm_fd, KVM_GET_IRQCHIP, &pic), 0);
	assert_int_equal(pic.chip.pic.imr, 0xb8);
	struct kvm_irqchip io = { .chip_id = KVM_IRQCHIP_IOAPIC };
	assert_int_equal(ioctl(b.kvm.vm_fd, KVM_GET_IRQCHIP, &io), 0);
	assert_int_equal(io.chip.ioapic.redirtbl[5].bits, 0x10035);
	struct kvm_pit_state2 pit;
	assert_int_equal(ioctl(b.kvm.vm_fd, KVM_GET_PIT2, &pit), 0);
	assert_int_equal(pit.channels[1].count, 0x1234);
	assert_int_equal(pit.channels[2].count, 0x533);

	vm_free(&b);
	ss_writer_free(&w1);
	ss_writer_free(&w2);
}

/* The TSC is restored, not restarted: a vCPU whose TSC was far ahead is
 * far ahead again in the new VM. */
static void test_tsc_restored(void **state)
{
	struct small_vm a, b;
	struct ss_writer w;
	char err[256];
	const uint64_t ahead = 1ULL << 50;

	if (!vm_new(&a, err, sizeof(err)))
		unavailable(err);
	set_msr(a.vcpu, MSR_IA32_TSC, ahead);
	if (get_msr(a.vcpu, MSR_IA32_TSC) < ahead) {
		/* Not a missing /dev/kvm: this KVM cannot move a guest's TSC at
		 * all (the software-nested kvm_pvm here ignores TSC writes and
		 * the TSC offset attribute), so there is nothing to restore. */
		vm_free(&a);
		print_message("skipped: this KVM ignores host writes of the guest TSC\n");
		skip();
	}
	save_vm(&a, &w);
	vm_free(&a);
	assert_true(vm_new(&b, err, sizeof(err)));
	assert_true(get_msr(b.vcpu, MSR_IA32_TSC) < ahead / 2); /* a fresh vCPU */
	load_vm(&b, &w);
	uint64_t tsc = get_msr(b.vcpu, MSR_IA32_TSC);
	assert_true(tsc >= ahead && tsc - ahead < (1ULL << 40));
	vm_free(&b);
	ss_writer_free(&w);
}

/* 64 KiB of RAM at 0 with a PAE page-directory-pointer table at 0x1000
 * whose entries are 'base' + i pages (present). */
static uint8_t *give_pae_ram(struct small_vm *v, uint64_t base)
{
	uint8_t *ram = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	assert_true(ram != MAP_FAILED);
	for (unsigned i = 0; i < 4; i++)
		put_le64(ram + 0x1000 + 8 * i, (base + 0x1000ULL * i) | 1);
	assert_int_equal(kvm_mem_slot_ops.set(&v->kvm, 0, 0, 0x10000, ram, 0), 0);
	return ram;
}

static void get_pdptrs(struct small_vm *v, uint64_t out[4])
{
	struct kvm_sregs2 s2;
	assert_int_equal(ioctl(v->vcpu, KVM_GET_SREGS2, &s2), 0);
	assert_true(s2.flags & KVM_SREGS2_FLAGS_PDPTRS_VALID);
	memcpy(out, s2.pdptrs, 4 * sizeof(out[0]));
}

/* PAE paging: the PDPTRs the vCPU loaded when CR3 was written are state
 * of their own (the table in memory may have changed since). They are
 * saved, and restored over what the new VM's memory says. */
static void test_pae_pdptrs(void **state)
{
	struct small_vm a, b;
	struct ss_writer w;
	char err[256];
	uint64_t before[4], after[4];

	if (!vm_new(&a, err, sizeof(err)))
		unavailable(err);
	if (!kvm_has_cap(&a.kvm, KVM_CAP_SREGS2)) {
		vm_free(&a);
		unavailable("KVM_CAP_SREGS2 missing: PDPTRs are reloaded from memory");
	}
	uint8_t *ram_a = give_pae_ram(&a, 0x2000);
	struct kvm_sregs sregs;
	assert_int_equal(ioctl(a.vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.cr3 = 0x1000;
	sregs.cr4 |= 1u << 5;                   /* PAE */
	sregs.cr0 |= 1u | 1u << 31;             /* PE, PG */
	sregs.efer = 0;
	assert_int_equal(ioctl(a.vcpu, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(ioctl(a.vcpu, KVM_GET_SREGS, &sregs), 0);
	if (!(sregs.cr0 & 1u << 31)) {
		/* Not a missing /dev/kvm: the kvm_pvm here keeps CR0.PG clear
		 * when user space sets 32-bit PAE paging (CR0 reads back
		 * without it), so there are no PDPTRs to save. */
		vm_free(&a);
		munmap(ram_a, 0x10000);
		print_message("skipped: this KVM does not enter PAE paging from KVM_SET_SREGS\n");
		skip();
	}
	get_pdptrs(&a, before);
	assert_int_equal(before[2], 0x4001);
	memset(ram_a + 0x1000, 0, 32);          /* the table changes; the CPU's copy not */
	save_vm(&a, &w);
	vm_free(&a);

	assert_true(vm_new(&b, err, sizeof(err)));
	uint8_t *ram_b = give_pae_ram(&b, 0x8000); /* other entries in this memory */
	load_vm(&b, &w);
	get_pdptrs(&b, after);
	assert_memory_equal(before, after, sizeof(before));
	vm_free(&b);
	munmap(ram_a, 0x10000);
	munmap(ram_b, 0x10000);
	ss_writer_free(&w);
}

/* An MSR this KVM does not know: a clear error naming it. A stream with
 * a field missing: refused before any ioctl (the vCPU keeps its state). */
static void test_load_errors(void **state)
{
	struct small_vm a;
	struct ss_writer w;
	struct ss_reader r;
	char err[256];

	if (!vm_new(&a, err, sizeof(err)))
		unavailable(err);
	ss_writer_init(&w);
	ss_section_begin(&w, "kvm-vcpu", 0, 1);
	ss_put_u64(&w, "rax", 5);
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_int_equal(kvm_vcpu_state_load(&a.kvm, a.vcpu, 0, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing field rbx"));
	ss_reader_close(&r);
	struct kvm_regs regs;
	assert_int_equal(ioctl(a.vcpu, KVM_GET_REGS, &regs), 0);
	assert_int_not_equal(regs.rax, 5);
	ss_writer_free(&w);

	/* a real stream with one MSR index changed to one nobody has */
	save_vm(&a, &w);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	ss_reader_close(&r);
	static const uint8_t key[13] = "\014msr[0].index";
	uint8_t *at = memmem(w.buf, w.len, key, sizeof(key));
	assert_non_null(at);
	put_le32(at + 13 + 4, 0x4fff0000); /* past name and size: the value */
	/* fix the section's checksum: it is the stream's last section */
	size_t sec = 0;
	for (size_t i = 12; i + 10 < w.len; i++)
		if (w.buf[i] == 'S' && w.buf[i + 1] == 8 && !memcmp(w.buf + i + 2, "kvm-vcpu", 8))
			sec = i;
	assert_true(sec != 0);
	put_le32(w.buf + w.len - 5, ss_crc32(w.buf + sec, w.len - 5 - sec));
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_int_equal(kvm_vm_state_load(&a.kvm, &r, err, sizeof(err)), 0);
	assert_int_equal(kvm_vcpu_state_load(&a.kvm, a.vcpu, 0, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "refused MSR 0x4fff0000"));
	ss_reader_close(&r);
	ss_writer_free(&w);
	vm_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tsc_restored),
		cmocka_unit_test(test_pae_pdptrs),
		cmocka_unit_test(test_load_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
