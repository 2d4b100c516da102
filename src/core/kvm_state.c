// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KVM's side of the saved state (include/kvm_state.h). Registers and
 * controller state go into the stream field by field, by name, so a
 * stream says what it holds and a kernel structure that grows does not
 * silently shift the meaning of bytes. Opaque hardware layouts (the XSAVE
 * area, the LAPIC register page) are byte fields, checked for size.
 *
 * Time: the guest sees no time pass while it is saved. The TSC is saved as
 * the guest's TSC value and written back through MSR_IA32_TSC, which KVM
 * turns into this vCPU's TSC offset (vCPUs written within a second of each
 * other get the same offset, so an SMP guest's TSCs stay in sync); kvmclock
 * is set back to its saved value. The TSC frequency is restored with
 * KVM_SET_TSC_KHZ when the host's differs (a clear error without TSC
 * scaling). The PIT: KVM ignores a channel's load time on KVM_SET_PIT2 and
 * reloads each counter from its initial count, so a channel restarts its
 * current period; count_load_time (a host clock value) is not saved.
 */
#include "kvm_state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "util.h"

#define VCPU_SECTION "kvm-vcpu"
#define VCPU_VERSION 1
#define VM_SECTION "kvm-vm"
#define VM_VERSION 1

#define MSR_IA32_TSC 0x10
#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_IA32_TSC_DEADLINE 0x6e0

#define XSAVE_LEGACY_SIZE 4096 /* struct kvm_xsave: legacy area, header, AVX */

/* ---- field tables: structure members saved by name ---- */

struct member {
	const char *name;
	size_t off;
	uint8_t size;
};

#define M(type, field) { #field, offsetof(type, field), sizeof(((type *)0)->field) }

static const struct member regs_members[] = {
	M(struct kvm_regs, rax), M(struct kvm_regs, rbx), M(struct kvm_regs, rcx),
	M(struct kvm_regs, rdx), M(struct kvm_regs, rsi), M(struct kvm_regs, rdi),
	M(struct kvm_regs, rsp), M(struct kvm_regs, rbp), M(struct kvm_regs, r8),
	M(struct kvm_regs, r9), M(struct kvm_regs, r10), M(struct kvm_regs, r11),
	M(struct kvm_regs, r12), M(struct kvm_regs, r13), M(struct kvm_regs, r14),
	M(struct kvm_regs, r15), M(struct kvm_regs, rip), M(struct kvm_regs, rflags),
};

static const struct member segment_members[] = {
	M(struct kvm_segment, base), M(struct kvm_segment, limit),
	M(struct kvm_segment, selector), M(struct kvm_segment, type),
	M(struct kvm_segment, present), M(struct kvm_segment, dpl),
	M(struct kvm_segment, db), M(struct kvm_segment, s), M(struct kvm_segment, l),
	M(struct kvm_segment, g), M(struct kvm_segment, avl), M(struct kvm_segment, unusable),
};

static const struct member dtable_members[] = {
	M(struct kvm_dtable, base), M(struct kvm_dtable, limit),
};

static const struct member sregs_members[] = {
	M(struct kvm_sregs, cr0), M(struct kvm_sregs, cr2), M(struct kvm_sregs, cr3),
	M(struct kvm_sregs, cr4), M(struct kvm_sregs, cr8), M(struct kvm_sregs, efer),
	M(struct kvm_sregs, apic_base),
};

static const struct {
	const char *name;
	size_t off;
} sregs_segments[] = {
	{ "cs", offsetof(struct kvm_sregs, cs) }, { "ds", offsetof(struct kvm_sregs, ds) },
	{ "es", offsetof(struct kvm_sregs, es) }, { "fs", offsetof(struct kvm_sregs, fs) },
	{ "gs", offsetof(struct kvm_sregs, gs) }, { "ss", offsetof(struct kvm_sregs, ss) },
	{ "tr", offsetof(struct kvm_sregs, tr) }, { "ldt", offsetof(struct kvm_sregs, ldt) },
}, sregs_dtables[] = {
	{ "gdt", offsetof(struct kvm_sregs, gdt) }, { "idt", offsetof(struct kvm_sregs, idt) },
};

static const struct member events_members[] = {
	M(struct kvm_vcpu_events, exception.injected), M(struct kvm_vcpu_events, exception.nr),
	M(struct kvm_vcpu_events, exception.has_error_code),
	M(struct kvm_vcpu_events, exception.pending),
	M(struct kvm_vcpu_events, exception.error_code),
	M(struct kvm_vcpu_events, interrupt.injected), M(struct kvm_vcpu_events, interrupt.nr),
	M(struct kvm_vcpu_events, interrupt.soft), M(struct kvm_vcpu_events, interrupt.shadow),
	M(struct kvm_vcpu_events, nmi.injected), M(struct kvm_vcpu_events, nmi.pending),
	M(struct kvm_vcpu_events, nmi.masked), M(struct kvm_vcpu_events, sipi_vector),
	M(struct kvm_vcpu_events, flags), M(struct kvm_vcpu_events, smi.smm),
	M(struct kvm_vcpu_events, smi.pending), M(struct kvm_vcpu_events, smi.smm_inside_nmi),
	M(struct kvm_vcpu_events, smi.latched_init),
	M(struct kvm_vcpu_events, triple_fault.pending),
	M(struct kvm_vcpu_events, exception_has_payload),
	M(struct kvm_vcpu_events, exception_payload),
};

static const struct member debugregs_members[] = {
	M(struct kvm_debugregs, db[0]), M(struct kvm_debugregs, db[1]),
	M(struct kvm_debugregs, db[2]), M(struct kvm_debugregs, db[3]),
	M(struct kvm_debugregs, dr6), M(struct kvm_debugregs, dr7),
};

static const struct member pic_members[] = {
	M(struct kvm_pic_state, last_irr), M(struct kvm_pic_state, irr),
	M(struct kvm_pic_state, imr), M(struct kvm_pic_state, isr),
	M(struct kvm_pic_state, priority_add), M(struct kvm_pic_state, irq_base),
	M(struct kvm_pic_state, read_reg_select), M(struct kvm_pic_state, poll),
	M(struct kvm_pic_state, special_mask), M(struct kvm_pic_state, init_state),
	M(struct kvm_pic_state, auto_eoi), M(struct kvm_pic_state, rotate_on_auto_eoi),
	M(struct kvm_pic_state, special_fully_nested_mode), M(struct kvm_pic_state, init4),
	M(struct kvm_pic_state, elcr), M(struct kvm_pic_state, elcr_mask),
};

static const struct member ioapic_members[] = {
	M(struct kvm_ioapic_state, base_address), M(struct kvm_ioapic_state, ioregsel),
	M(struct kvm_ioapic_state, id), M(struct kvm_ioapic_state, irr),
};

static const struct member pit_channel_members[] = {
	M(struct kvm_pit_channel_state, count), M(struct kvm_pit_channel_state, latched_count),
	M(struct kvm_pit_channel_state, count_latched),
	M(struct kvm_pit_channel_state, status_latched), M(struct kvm_pit_channel_state, status),
	M(struct kvm_pit_channel_state, read_state), M(struct kvm_pit_channel_state, write_state),
	M(struct kvm_pit_channel_state, write_latch), M(struct kvm_pit_channel_state, rw_mode),
	M(struct kvm_pit_channel_state, mode), M(struct kvm_pit_channel_state, bcd),
	M(struct kvm_pit_channel_state, gate),
};

static void put_members(struct ss_writer *w, const char *prefix, const void *base,
			const struct member *m, size_t n)
{
	char name[SS_NAME_MAX + 1];
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = (const uint8_t *)base + m[i].off;
		uint64_t v = 0;
		memcpy(&v, p, m[i].size); /* x86: little-endian host */
		snprintf(name, sizeof(name), "%s%s", prefix, m[i].name);
		switch (m[i].size) {
		case 1: ss_put_u8(w, name, (uint8_t)v); break;
		case 2: ss_put_u16(w, name, (uint16_t)v); break;
		case 4: ss_put_u32(w, name, (uint32_t)v); break;
		default: ss_put_u64(w, name, v); break;
		}
	}
}

static void get_members(struct ss_reader *r, const char *prefix, void *base,
			const struct member *m, size_t n)
{
	char name[SS_NAME_MAX + 1];
	for (size_t i = 0; i < n && ss_ok(r); i++) {
		uint8_t *p = (uint8_t *)base + m[i].off;
		snprintf(name, sizeof(name), "%s%s", prefix, m[i].name);
		switch (m[i].size) {
		case 1: ss_get_u8(r, name, p); break;
		case 2: { uint16_t v = 0; ss_get_u16(r, name, &v); memcpy(p, &v, 2); break; }
		case 4: { uint32_t v = 0; ss_get_u32(r, name, &v); memcpy(p, &v, 4); break; }
		default: { uint64_t v = 0; ss_get_u64(r, name, &v); memcpy(p, &v, 8); break; }
		}
	}
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

#define IOCTL(fd, req, arg, what)                                                            \
	do {                                                                                 \
		if (ioctl(fd, req, arg) < 0)                                                 \
			return fail(err, errlen, "%s failed: %s", what, strerror(errno));    \
	} while (0)

/* ---- MSRs ---- */

/* MSRs KVM reports (KVM_GET_MSR_INDEX_LIST) that are kept elsewhere or
 * must not be written back: the TSC (saved on its own), and the kvmclock
 * wall-clock MSRs, whose write is a one-shot request to copy the wall
 * clock into guest memory, not state. */
static bool msr_skipped(uint32_t index)
{
	return index == MSR_IA32_TSC || index == MSR_KVM_WALL_CLOCK ||
	       index == MSR_KVM_WALL_CLOCK_NEW;
}

static struct kvm_msr_list *msr_index_list(int sys_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	if (ioctl(sys_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	if (probe.nmsrs > 4 * KVM_STATE_MAX_MSRS)
		return NULL;
	struct kvm_msr_list *l = xzalloc(sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	l->nmsrs = probe.nmsrs;
	if (ioctl(sys_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

/* One MSR through KVM_GET_MSRS; false if KVM does not read it for this vCPU. */
static bool msr_read(int vcpu_fd, uint32_t index, uint64_t *value)
{
	uint64_t buf[(sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)) / 8 + 1] = { 0 };
	struct kvm_msrs *m = (struct kvm_msrs *)buf;
	m->nmsrs = 1;
	m->entries[0].index = index;
	if (ioctl(vcpu_fd, KVM_GET_MSRS, m) != 1)
		return false;
	*value = m->entries[0].data;
	return true;
}

/* Writes n MSRs; on refusal, names the first one KVM did not take. */
int kvm_vcpu_msrs_write(int vcpu_fd, const uint32_t *idx, const uint64_t *val, uint32_t n,
		      char *err, size_t errlen)
{
	if (!n)
		return 0;
	struct kvm_msrs *m = xzalloc(sizeof(*m) + n * sizeof(m->entries[0]));
	m->nmsrs = n;
	for (uint32_t i = 0; i < n; i++) {
		m->entries[i].index = idx[i];
		m->entries[i].data = val[i];
	}
	int done = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	free(m);
	if (done < 0)
		return fail(err, errlen, "KVM_SET_MSRS failed: %s", strerror(errno));
	if ((uint32_t)done < n)
		return fail(err, errlen, "KVM refused MSR 0x%x = 0x%llx", idx[done],
			    (unsigned long long)val[done]);
	return 0;
}

/* ---- vCPU ---- */

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool pdptrs_valid;    /* PAE paging: the PDPTRs the CPU has loaded */
	uint64_t pdptrs[4];
	bool xsave_format;
	struct kvm_fpu fpu;
	uint8_t *xsave; /* xsave_size bytes */
	size_t xsave_size;
	struct kvm_xcrs xcrs;
	uint32_t nmsrs;
	uint32_t msr_index[KVM_STATE_MAX_MSRS];
	uint64_t msr_value[KVM_STATE_MAX_MSRS];
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	struct kvm_debugregs debugregs;
	uint64_t tsc;
	uint32_t tsc_khz;
};

/* The XSAVE area size this KVM uses (KVM_CAP_XSAVE2), 0 without XSAVE. */
static size_t xsave_size(struct kvm_vm *kvm)
{
	int n = ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (n >= XSAVE_LEGACY_SIZE)
		return (size_t)n;
	return kvm_has_cap(kvm, KVM_CAP_XSAVE) ? XSAVE_LEGACY_SIZE : 0;
}

static bool has_xcrs(struct kvm_vm *kvm) { return kvm_has_cap(kvm, KVM_CAP_XCRS); }

static int vcpu_read(struct kvm_vm *kvm, int fd, struct vcpu_state *s, char *err, size_t errlen)
{
	IOCTL(fd, KVM_GET_REGS, &s->regs, "KVM_GET_REGS");
	IOCTL(fd, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS");
	if (kvm_has_cap(kvm, KVM_CAP_SREGS2)) {
		struct kvm_sregs2 s2;
		IOCTL(fd, KVM_GET_SREGS2, &s2, "KVM_GET_SREGS2");
		s->pdptrs_valid = s2.flags & KVM_SREGS2_FLAGS_PDPTRS_VALID;
		if (s->pdptrs_valid)
			memcpy(s->pdptrs, s2.pdptrs, sizeof(s->pdptrs));
	}
	s->xsave_size = xsave_size(kvm);
	s->xsave_format = s->xsave_size != 0;
	if (s->xsave_format) {
		s->xsave = xzalloc(s->xsave_size);
		unsigned long req = s->xsave_size > XSAVE_LEGACY_SIZE ? KVM_GET_XSAVE2
								       : KVM_GET_XSAVE;
		IOCTL(fd, req, s->xsave, "KVM_GET_XSAVE");
	} else {
		IOCTL(fd, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU");
	}
	if (has_xcrs(kvm))
		IOCTL(fd, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS");
	if (s->xcrs.nr_xcrs > KVM_MAX_XCRS)
		return fail(err, errlen, "KVM_GET_XCRS: %u XCRs", s->xcrs.nr_xcrs);

	struct kvm_msr_list *list = msr_index_list(kvm->sys_fd);
	if (!list)
		return fail(err, errlen, "KVM_GET_MSR_INDEX_LIST failed: %s", strerror(errno));
	for (uint32_t i = 0; i < list->nmsrs; i++) {
		uint64_t v;
		if (msr_skipped(list->indices[i]) || !msr_read(fd, list->indices[i], &v))
			continue; /* listed, but not for this vCPU's CPUID */
		if (s->nmsrs == KVM_STATE_MAX_MSRS) {
			free(list);
			return fail(err, errlen, "more than %d saveable MSRs", KVM_STATE_MAX_MSRS);
		}
		s->msr_index[s->nmsrs] = list->indices[i];
		s->msr_value[s->nmsrs++] = v;
	}
	free(list);
	if (!msr_read(fd, MSR_IA32_TSC, &s->tsc))
		return fail(err, errlen, "cannot read the TSC (KVM_GET_MSRS)");
	int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		return fail(err, errlen, "KVM_GET_TSC_KHZ failed: %s", strerror(errno));
	s->tsc_khz = (uint32_t)khz;

	IOCTL(fd, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC");
	IOCTL(fd, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS");
	IOCTL(fd, KVM_GET_MP_STATE, &s->mp, "KVM_GET_MP_STATE");
	IOCTL(fd, KVM_GET_DEBUGREGS, &s->debugregs, "KVM_GET_DEBUGREGS");
	return 0;
}

static void vcpu_put(struct ss_writer *w, const struct vcpu_state *s)
{
	char prefix[16];

	put_members(w, "", &s->regs, regs_members, ARRAY_SIZE(regs_members));
	for (size_t i = 0; i < ARRAY_SIZE(sregs_segments); i++) {
		snprintf(prefix, sizeof(prefix), "%s.", sregs_segments[i].name);
		put_members(w, prefix, (const uint8_t *)&s->sregs + sregs_segments[i].off,
			    segment_members, ARRAY_SIZE(segment_members));
	}
	for (size_t i = 0; i < ARRAY_SIZE(sregs_dtables); i++) {
		snprintf(prefix, sizeof(prefix), "%s.", sregs_dtables[i].name);
		put_members(w, prefix, (const uint8_t *)&s->sregs + sregs_dtables[i].off,
			    dtable_members, ARRAY_SIZE(dtable_members));
	}
	put_members(w, "", &s->sregs, sregs_members, ARRAY_SIZE(sregs_members));
	ss_put_bytes(w, "interrupt_bitmap", s->sregs.interrupt_bitmap,
		     sizeof(s->sregs.interrupt_bitmap));
	ss_put_bool(w, "pdptrs_valid", s->pdptrs_valid);
	ss_put_array(w, "pdptr", 4);
	for (uint32_t i = 0; i < 4; i++) {
		ss_put_elem_begin(w, "pdptr", i);
		ss_put_u64(w, "value", s->pdptrs[i]);
		ss_put_elem_end(w);
	}

	ss_put_bool(w, "xsave_format", s->xsave_format);
	if (s->xsave_format)
		ss_put_bytes(w, "xsave", s->xsave, s->xsave_size);
	else
		ss_put_bytes(w, "fpu", &s->fpu, sizeof(s->fpu));
	ss_put_u32(w, "xcrs.flags", s->xcrs.flags);
	ss_put_array(w, "xcr", s->xcrs.nr_xcrs);
	for (uint32_t i = 0; i < s->xcrs.nr_xcrs; i++) {
		ss_put_elem_begin(w, "xcr", i);
		ss_put_u32(w, "index", s->xcrs.xcrs[i].xcr);
		ss_put_u64(w, "value", s->xcrs.xcrs[i].value);
		ss_put_elem_end(w);
	}
	ss_put_array(w, "msr", s->nmsrs);
	for (uint32_t i = 0; i < s->nmsrs; i++) {
		ss_put_elem_begin(w, "msr", i);
		ss_put_u32(w, "index", s->msr_index[i]);
		ss_put_u64(w, "value", s->msr_value[i]);
		ss_put_elem_end(w);
	}
	ss_put_u64(w, "tsc", s->tsc);
	ss_put_u32(w, "tsc_khz", s->tsc_khz);
	ss_put_bytes(w, "lapic", s->lapic.regs, sizeof(s->lapic.regs));
	put_members(w, "events.", &s->events, events_members, ARRAY_SIZE(events_members));
	ss_put_u32(w, "mp_state", s->mp.mp_state);
	put_members(w, "debugregs.", &s->debugregs, debugregs_members,
		    ARRAY_SIZE(debugregs_members));
}

int kvm_vcpu_state_save(struct kvm_vm *kvm, int vcpu_fd, uint32_t index, struct ss_writer *w,
			char *err, size_t errlen)
{
	struct vcpu_state *s = xzalloc(sizeof(*s));
	int ret = vcpu_read(kvm, vcpu_fd, s, err, errlen);
	if (ret == 0) {
		ss_section_begin(w, VCPU_SECTION, index, VCPU_VERSION);
		vcpu_put(w, s);
		ss_section_end(w);
	}
	free(s->xsave);
	free(s);
	return ret;
}

/* Reads the section into *s: every field present, of its size, no extra. */
static bool vcpu_get(struct kvm_vm *kvm, struct ss_reader *r, struct vcpu_state *s)
{
	char prefix[16];

	get_members(r, "", &s->regs, regs_members, ARRAY_SIZE(regs_members));
	for (size_t i = 0; i < ARRAY_SIZE(sregs_segments); i++) {
		snprintf(prefix, sizeof(prefix), "%s.", sregs_segments[i].name);
		get_members(r, prefix, (uint8_t *)&s->sregs + sregs_segments[i].off,
			    segment_members, ARRAY_SIZE(segment_members));
	}
	for (size_t i = 0; i < ARRAY_SIZE(sregs_dtables); i++) {
		snprintf(prefix, sizeof(prefix), "%s.", sregs_dtables[i].name);
		get_members(r, prefix, (uint8_t *)&s->sregs + sregs_dtables[i].off,
			    dtable_members, ARRAY_SIZE(dtable_members));
	}
	get_members(r, "", &s->sregs, sregs_members, ARRAY_SIZE(sregs_members));
	ss_get_bytes(r, "interrupt_bitmap", s->sregs.interrupt_bitmap,
		     sizeof(s->sregs.interrupt_bitmap));
	ss_get_bool(r, "pdptrs_valid", &s->pdptrs_valid);
	uint32_t npdptr = 0;
	ss_get_array(r, "pdptr", 4, &npdptr);
	if (ss_ok(r) && npdptr != 4)
		return ss_fail(r, "saved state: kvm-vcpu: %u PDPTRs", npdptr);
	for (uint32_t i = 0; i < 4 && ss_ok(r); i++) {
		ss_get_elem_begin(r, "pdptr", i);
		ss_get_u64(r, "value", &s->pdptrs[i]);
		ss_get_elem_end(r);
	}

	ss_get_bool(r, "xsave_format", &s->xsave_format);
	if (!ss_ok(r))
		return false;
	if (s->xsave_format) {
		s->xsave_size = xsave_size(kvm);
		if (!s->xsave_size)
			return ss_fail(r, "saved state: kvm-vcpu has an XSAVE area, this KVM "
				       "has no XSAVE");
		s->xsave = xzalloc(s->xsave_size); /* components past the saved ones: init */
		size_t got = 0;
		ss_get_bytes_max(r, "xsave", s->xsave, s->xsave_size, &got);
		if (ss_ok(r) && got < XSAVE_LEGACY_SIZE)
			return ss_fail(r, "saved state: kvm-vcpu: XSAVE area of %zu bytes, at "
				       "least %d expected", got, XSAVE_LEGACY_SIZE);
	} else {
		ss_get_bytes(r, "fpu", &s->fpu, sizeof(s->fpu));
	}
	ss_get_u32(r, "xcrs.flags", &s->xcrs.flags);
	ss_get_array(r, "xcr", KVM_MAX_XCRS, &s->xcrs.nr_xcrs);
	for (uint32_t i = 0; i < s->xcrs.nr_xcrs && ss_ok(r); i++) {
		ss_get_elem_begin(r, "xcr", i);
		ss_get_u32(r, "index", &s->xcrs.xcrs[i].xcr);
		uint64_t v = 0;
		ss_get_u64(r, "value", &v);
		s->xcrs.xcrs[i].value = v;
		ss_get_elem_end(r);
	}
	ss_get_array(r, "msr", KVM_STATE_MAX_MSRS, &s->nmsrs);
	for (uint32_t i = 0; i < s->nmsrs && ss_ok(r); i++) {
		ss_get_elem_begin(r, "msr", i);
		ss_get_u32(r, "index", &s->msr_index[i]);
		ss_get_u64(r, "value", &s->msr_value[i]);
		ss_get_elem_end(r);
	}
	ss_get_u64(r, "tsc", &s->tsc);
	ss_get_u32(r, "tsc_khz", &s->tsc_khz);
	ss_get_bytes(r, "lapic", s->lapic.regs, sizeof(s->lapic.regs));
	get_members(r, "events.", &s->events, events_members, ARRAY_SIZE(events_members));
	ss_get_u32(r, "mp_state", &s->mp.mp_state);
	get_members(r, "debugregs.", &s->debugregs, debugregs_members,
		    ARRAY_SIZE(debugregs_members));
	if (ss_ok(r) && s->tsc_khz == 0)
		return ss_fail(r, "saved state: kvm-vcpu: TSC frequency 0");
	return ss_ok(r);
}

/* The TSC deadline is armed only once the LAPIC is in TSC-deadline mode:
 * it goes after KVM_SET_LAPIC, every other MSR before it. */
static int vcpu_write_msrs(int fd, const struct vcpu_state *s, bool deadline, char *err,
			   size_t errlen)
{
	uint32_t idx[KVM_STATE_MAX_MSRS];
	uint64_t val[KVM_STATE_MAX_MSRS];
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->nmsrs; i++) {
		if ((s->msr_index[i] == MSR_IA32_TSC_DEADLINE) != deadline)
			continue;
		if (msr_skipped(s->msr_index[i]))
			continue; /* not written back, whatever the stream says */
		idx[n] = s->msr_index[i];
		val[n++] = s->msr_value[i];
	}
	return kvm_vcpu_msrs_write(fd, idx, val, n, err, errlen);
}

/* kvm_sregs2 repeats kvm_sregs's layout from cs to apic_base. */
_Static_assert(offsetof(struct kvm_sregs2, flags) - offsetof(struct kvm_sregs2, cs) ==
		       offsetof(struct kvm_sregs, interrupt_bitmap) - offsetof(struct kvm_sregs, cs),
	       "kvm_sregs2 layout");

static int vcpu_write(struct kvm_vm *kvm, int fd, struct vcpu_state *s, char *err, size_t errlen)
{
	/* A host without TSC scaling still takes the machine, as QEMU's
	 * incoming side does (only an explicit tsc-frequency is a hard
	 * error there): the guest's TSC then ticks at this host's rate,
	 * which its kernel's clocksource watchdog may notice. Refusing
	 * would strand every machine saved on another CPU model. */
	int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	if (khz > 0 && (uint32_t)khz != s->tsc_khz && ioctl(fd, KVM_SET_TSC_KHZ, s->tsc_khz) < 0)
		warn("TSC frequency mismatch between the saved machine (%u kHz) and this host "
		     "(%d kHz), and KVM cannot scale it: %s", s->tsc_khz, khz, strerror(errno));
	IOCTL(fd, KVM_SET_SREGS, &s->sregs, "KVM_SET_SREGS");
	if (s->pdptrs_valid && kvm_has_cap(kvm, KVM_CAP_SREGS2)) {
		/* The same registers again, with the PDPTRs the CPU had loaded
		 * (which may differ from the table in memory now). Without
		 * SREGS2, KVM reloads them from memory. */
		struct kvm_sregs2 s2 = { 0 };
		memcpy(&s2.cs, &s->sregs.cs, offsetof(struct kvm_sregs, interrupt_bitmap) -
					     offsetof(struct kvm_sregs, cs));
		memcpy(s2.pdptrs, s->pdptrs, sizeof(s2.pdptrs));
		s2.flags = KVM_SREGS2_FLAGS_PDPTRS_VALID;
		IOCTL(fd, KVM_SET_SREGS2, &s2, "KVM_SET_SREGS2");
	}
	IOCTL(fd, KVM_SET_REGS, &s->regs, "KVM_SET_REGS");
	if (s->xcrs.nr_xcrs && !has_xcrs(kvm))
		return fail(err, errlen, "the saved vCPU has XCRs, this KVM has no KVM_CAP_XCRS");
	if (s->xcrs.nr_xcrs)
		IOCTL(fd, KVM_SET_XCRS, &s->xcrs, "KVM_SET_XCRS");
	if (s->xsave_format)
		IOCTL(fd, KVM_SET_XSAVE, s->xsave, "KVM_SET_XSAVE");
	else
		IOCTL(fd, KVM_SET_FPU, &s->fpu, "KVM_SET_FPU");
	if (vcpu_write_msrs(fd, s, false, err, errlen) < 0)
		return -1;
	uint32_t tsc_index = MSR_IA32_TSC;
	if (kvm_vcpu_msrs_write(fd, &tsc_index, &s->tsc, 1, err, errlen) < 0)
		return -1;
	IOCTL(fd, KVM_SET_LAPIC, &s->lapic, "KVM_SET_LAPIC");
	if (vcpu_write_msrs(fd, s, true, err, errlen) < 0)
		return -1;
	/* NMI pending and the SIPI vector are state too: say they are valid. */
	s->events.flags &= KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
			   KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	s->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	IOCTL(fd, KVM_SET_VCPU_EVENTS, &s->events, "KVM_SET_VCPU_EVENTS");
	IOCTL(fd, KVM_SET_MP_STATE, &s->mp, "KVM_SET_MP_STATE");
	s->debugregs.flags = 0;
	IOCTL(fd, KVM_SET_DEBUGREGS, &s->debugregs, "KVM_SET_DEBUGREGS");
	return 0;
}

int kvm_vcpu_state_load(struct kvm_vm *kvm, int vcpu_fd, uint32_t index, struct ss_reader *r,
			char *err, size_t errlen)
{
	struct vcpu_state *s = xzalloc(sizeof(*s));
	int ret = -1;

	if (ss_section_open(r, VCPU_SECTION, index, VCPU_VERSION, VCPU_VERSION, NULL)) {
		vcpu_get(kvm, r, s);
		ss_section_close(r);
	}
	if (!ss_ok(r))
		snprintf(err, errlen, "%s", r->err);
	else
		ret = vcpu_write(kvm, vcpu_fd, s, err, errlen);
	free(s->xsave);
	free(s);
	return ret;
}

/* ---- VM: PICs, IOAPIC, PIT, kvmclock ---- */

struct vm_state {
	struct kvm_irqchip chip[3]; /* PIC master, PIC slave, IOAPIC */
	struct kvm_pit_state2 pit;
	uint64_t clock;
};

int kvm_clock_hold(struct kvm_vm *kvm)
{
	struct kvm_clock_data clock = { 0 };

	if (kvm->clock_held)
		return 0;
	if (ioctl(kvm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return -1;
	kvm->held_clock = clock.clock;
	kvm->clock_held = true;
	return 0;
}

int kvm_clock_release(struct kvm_vm *kvm)
{
	struct kvm_clock_data clock = { .clock = kvm->held_clock };

	if (!kvm->clock_held)
		return 0;
	kvm->clock_held = false;
	return ioctl(kvm->vm_fd, KVM_SET_CLOCK, &clock) < 0 ? -1 : 0;
}

int kvm_vm_state_save(struct kvm_vm *kvm, struct ss_writer *w, char *err, size_t errlen)
{
	struct vm_state s;
	memset(&s, 0, sizeof(s));
	for (uint32_t i = 0; i < 3; i++) {
		s.chip[i].chip_id = i;
		IOCTL(kvm->vm_fd, KVM_GET_IRQCHIP, &s.chip[i], "KVM_GET_IRQCHIP");
	}
	IOCTL(kvm->vm_fd, KVM_GET_PIT2, &s.pit, "KVM_GET_PIT2");
	struct kvm_clock_data clock = { 0 };
	IOCTL(kvm->vm_fd, KVM_GET_CLOCK, &clock, "KVM_GET_CLOCK");
	/* the clock of the moment the vCPUs stopped, not of this moment:
	 * saving guest RAM before this may have taken seconds */
	s.clock = kvm->clock_held ? kvm->held_clock : clock.clock;

	ss_section_begin(w, VM_SECTION, 0, VM_VERSION);
	ss_put_array(w, "pic", 2);
	for (uint32_t i = 0; i < 2; i++) {
		ss_put_elem_begin(w, "pic", i);
		put_members(w, "", &s.chip[i].chip.pic, pic_members, ARRAY_SIZE(pic_members));
		ss_put_elem_end(w);
	}
	const struct kvm_ioapic_state *io = &s.chip[KVM_IRQCHIP_IOAPIC].chip.ioapic;
	put_members(w, "ioapic.", io, ioapic_members, ARRAY_SIZE(ioapic_members));
	ss_put_array(w, "ioapic.redir", KVM_IOAPIC_NUM_PINS);
	for (uint32_t i = 0; i < KVM_IOAPIC_NUM_PINS; i++) {
		ss_put_elem_begin(w, "ioapic.redir", i);
		ss_put_u64(w, "bits", io->redirtbl[i].bits);
		ss_put_elem_end(w);
	}
	ss_put_array(w, "pit", 3);
	for (uint32_t i = 0; i < 3; i++) {
		ss_put_elem_begin(w, "pit", i);
		put_members(w, "", &s.pit.channels[i], pit_channel_members,
			    ARRAY_SIZE(pit_channel_members));
		ss_put_elem_end(w);
	}
	ss_put_u32(w, "pit.flags", s.pit.flags);
	ss_put_u64(w, "kvmclock", s.clock);
	ss_section_end(w);
	return 0;
}

static bool vm_get(struct ss_reader *r, struct vm_state *s)
{
	uint32_t n = 0;
	ss_get_array(r, "pic", 2, &n);
	if (ss_ok(r) && n != 2)
		return ss_fail(r, "saved state: kvm-vm: %u PICs, expected 2", n);
	for (uint32_t i = 0; i < 2 && ss_ok(r); i++) {
		ss_get_elem_begin(r, "pic", i);
		get_members(r, "", &s->chip[i].chip.pic, pic_members, ARRAY_SIZE(pic_members));
		ss_get_elem_end(r);
	}
	struct kvm_ioapic_state *io = &s->chip[KVM_IRQCHIP_IOAPIC].chip.ioapic;
	get_members(r, "ioapic.", io, ioapic_members, ARRAY_SIZE(ioapic_members));
	ss_get_array(r, "ioapic.redir", KVM_IOAPIC_NUM_PINS, &n);
	if (ss_ok(r) && n != KVM_IOAPIC_NUM_PINS)
		return ss_fail(r, "saved state: kvm-vm: %u IOAPIC pins, expected %d", n,
			       KVM_IOAPIC_NUM_PINS);
	for (uint32_t i = 0; i < KVM_IOAPIC_NUM_PINS && ss_ok(r); i++) {
		ss_get_elem_begin(r, "ioapic.redir", i);
		uint64_t bits = 0;
		ss_get_u64(r, "bits", &bits);
		io->redirtbl[i].bits = bits;
		ss_get_elem_end(r);
	}
	ss_get_array(r, "pit", 3, &n);
	if (ss_ok(r) && n != 3)
		return ss_fail(r, "saved state: kvm-vm: %u PIT channels, expected 3", n);
	for (uint32_t i = 0; i < 3 && ss_ok(r); i++) {
		ss_get_elem_begin(r, "pit", i);
		get_members(r, "", &s->pit.channels[i], pit_channel_members,
			    ARRAY_SIZE(pit_channel_members));
		ss_get_elem_end(r);
	}
	ss_get_u32(r, "pit.flags", &s->pit.flags);
	ss_get_u64(r, "kvmclock", &s->clock);
	return ss_ok(r);
}

int kvm_vm_state_load(struct kvm_vm *kvm, struct ss_reader *r, char *err, size_t errlen)
{
	struct vm_state s;
	memset(&s, 0, sizeof(s));
	if (ss_section_open(r, VM_SECTION, 0, VM_VERSION, VM_VERSION, NULL)) {
		vm_get(r, &s);
		ss_section_close(r);
	}
	if (!ss_ok(r))
		return fail(err, errlen, "%s", r->err);
	for (uint32_t i = 0; i < 3; i++) {
		s.chip[i].chip_id = i;
		IOCTL(kvm->vm_fd, KVM_SET_IRQCHIP, &s.chip[i], "KVM_SET_IRQCHIP");
	}
	IOCTL(kvm->vm_fd, KVM_SET_PIT2, &s.pit, "KVM_SET_PIT2");
	struct kvm_clock_data clock = { .clock = s.clock };
	IOCTL(kvm->vm_fd, KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
	/* set again when the vCPUs run: what is still to load (RAM after
	 * this, on a migration's destination) takes no guest time */
	if (kvm->clock_held)
		kvm->held_clock = s.clock;
	return 0;
}
