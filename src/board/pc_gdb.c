// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The gdb stub's view of the PC (struct gdb_target over KVM): registers
 * through KVM_GET/SET_REGS, SREGS, FPU and MSRS; guest-virtual memory
 * through KVM_TRANSLATE, page by page, into guest RAM only; breakpoints
 * and single steps through KVM_SET_GUEST_DEBUG; stop and resume on the
 * same path as QMP stop and cont.
 *
 * A vCPU that leaves KVM_RUN for a debug exit records it and parks
 * (HOLD_DEBUG); the main loop then stops the others and tells the stub.
 * Every call here is from the main thread with the vCPUs parked.
 */
#include "pc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "control.h"
#include "gdbstub.h"
#include "util.h"

#define MSR_KERNEL_GS_BASE 0xC0000102u
#define PAGE_SIZE_4K 4096u
#define CR0_PE 1u

static unsigned gdb_ncpus(void *opaque)
{
	struct machine *m = opaque;
	return m->ncpus;
}

static int vcpu_fd(struct machine *m, unsigned cpu)
{
	return cpu < m->ncpus ? m->vcpus[cpu].fd : -1;
}

/* One MSR through KVM_GET_MSRS/KVM_SET_MSRS (a header and one entry). */
union one_msr {
	struct kvm_msrs hdr;
	uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
};

static int get_kernel_gs_base(int fd, uint64_t *val)
{
	union one_msr m = { 0 };

	m.hdr.nmsrs = 1;
	m.hdr.entries[0].index = MSR_KERNEL_GS_BASE;
	if (ioctl(fd, KVM_GET_MSRS, &m) != 1)
		return -1;
	*val = m.hdr.entries[0].data;
	return 0;
}

static int set_kernel_gs_base(int fd, uint64_t val)
{
	union one_msr m = { 0 };

	m.hdr.nmsrs = 1;
	m.hdr.entries[0].index = MSR_KERNEL_GS_BASE;
	m.hdr.entries[0].data = val;
	return ioctl(fd, KVM_SET_MSRS, &m) == 1 ? 0 : -1;
}

/*
 * The x87 and SSE registers, from the XSAVE area's legacy region (SDM
 * vol. 1, "Legacy Region of an XSAVE Area") rather than KVM_GET_FPU:
 * until a guest touches SSE its state is in the init configuration
 * (XSTATE_BV bit 1 clear) and KVM's own buffer holds no MXCSR, so
 * KVM_GET_FPU reads 0 (and KVM_SET_FPU's value does not stick) where the
 * vCPU has 1F80h. KVM_GET_XSAVE fills in the init values as the CPU
 * would. KVM_GET_FPU stays the fallback for a KVM without XSAVE.
 */
enum {
	XS_FCW = 0, XS_FSW = 2, XS_FTW = 4, XS_FOP = 6, XS_FIP = 8, XS_FDP = 16,
	XS_MXCSR = 24, XS_ST = 32, XS_XMM = 160, XS_XSTATE_BV = 512,
	XS_ST_STRIDE = 16, XS_XMM_STRIDE = 16,
};
#define XFEATURES_X87_SSE 3u

/* gdb wants the full tag word (11 for an empty register, 00 for a valid
 * one; the value's class does not matter to its display); XSAVE and
 * KVM_GET_FPU keep the abridged one, a bit per register. */
static uint32_t full_tag(uint8_t abridged)
{
	uint32_t tag = 0;

	for (int i = 0; i < 8; i++)
		if (!(abridged & (1u << i)))
			tag |= 3u << (2 * i);
	return tag;
}

static uint8_t abridged_tag(uint32_t full)
{
	uint8_t tag = 0;

	for (int i = 0; i < 8; i++)
		if (((full >> (2 * i)) & 3) != 3)
			tag |= (uint8_t)(1u << i);
	return tag;
}

static uint64_t le_field(const uint8_t *area, unsigned off, unsigned len)
{
	uint64_t v = 0;

	memcpy(&v, area + off, len);
	return v;
}

static int get_x87_sse(int fd, struct gdb_regs *r)
{
	struct kvm_xsave xs;
	struct kvm_fpu fpu;

	if (ioctl(fd, KVM_GET_XSAVE, &xs) == 0) {
		const uint8_t *a = (const uint8_t *)xs.region;
		for (int i = 0; i < 8; i++)
			memcpy(r->st[i], a + XS_ST + i * XS_ST_STRIDE, 10);
		for (int i = 0; i < 16; i++)
			memcpy(r->xmm[i], a + XS_XMM + i * XS_XMM_STRIDE, sizeof(r->xmm[i]));
		r->fctrl = (uint32_t)le_field(a, XS_FCW, 2);
		r->fstat = (uint32_t)le_field(a, XS_FSW, 2);
		r->ftag = full_tag(a[XS_FTW]);
		r->fop = (uint32_t)le_field(a, XS_FOP, 2);
		r->fioff = (uint32_t)le_field(a, XS_FIP, 4);
		r->fooff = (uint32_t)le_field(a, XS_FDP, 4);
		r->mxcsr = (uint32_t)le_field(a, XS_MXCSR, 4);
		return 0;
	}
	if (ioctl(fd, KVM_GET_FPU, &fpu) < 0)
		return -1;
	for (int i = 0; i < 8; i++)
		memcpy(r->st[i], fpu.fpr[i], 10);
	memcpy(r->xmm, fpu.xmm, sizeof(r->xmm));
	r->fctrl = fpu.fcw;
	r->fstat = fpu.fsw;
	r->ftag = full_tag(fpu.ftwx);
	r->fop = fpu.last_opcode;
	r->fioff = (uint32_t)fpu.last_ip;
	r->fooff = (uint32_t)fpu.last_dp;
	r->mxcsr = fpu.mxcsr;
	return 0;
}

static void put_field(uint8_t *area, unsigned off, uint64_t v, unsigned len)
{
	memcpy(area + off, &v, len);
}

/* Written back whole, with x87 and SSE marked in use (XSTATE_BV), so
 * the values take effect even from the init configuration. */
static int set_x87_sse(int fd, const struct gdb_regs *r)
{
	struct kvm_xsave xs;
	struct kvm_fpu fpu;

	if (ioctl(fd, KVM_GET_XSAVE, &xs) == 0) {
		uint8_t *a = (uint8_t *)xs.region;
		for (int i = 0; i < 8; i++)
			memcpy(a + XS_ST + i * XS_ST_STRIDE, r->st[i], 10);
		for (int i = 0; i < 16; i++)
			memcpy(a + XS_XMM + i * XS_XMM_STRIDE, r->xmm[i], sizeof(r->xmm[i]));
		put_field(a, XS_FCW, r->fctrl, 2);
		put_field(a, XS_FSW, r->fstat, 2);
		a[XS_FTW] = abridged_tag(r->ftag);
		put_field(a, XS_FOP, r->fop, 2);
		put_field(a, XS_FIP, r->fioff, 4);
		put_field(a, XS_FDP, r->fooff, 4);
		put_field(a, XS_MXCSR, r->mxcsr, 4);
		a[XS_XSTATE_BV] |= XFEATURES_X87_SSE;
		return ioctl(fd, KVM_SET_XSAVE, &xs) < 0 ? -1 : 0;
	}
	if (ioctl(fd, KVM_GET_FPU, &fpu) < 0)
		return -1;
	for (int i = 0; i < 8; i++)
		memcpy(fpu.fpr[i], r->st[i], 10);
	memcpy(fpu.xmm, r->xmm, sizeof(fpu.xmm));
	fpu.fcw = (uint16_t)r->fctrl;
	fpu.fsw = (uint16_t)r->fstat;
	fpu.ftwx = abridged_tag(r->ftag);
	fpu.last_opcode = (uint16_t)r->fop;
	fpu.last_ip = r->fioff;
	fpu.last_dp = r->fooff;
	fpu.mxcsr = r->mxcsr;
	return ioctl(fd, KVM_SET_FPU, &fpu) < 0 ? -1 : 0;
}

static int gdb_get_regs(void *opaque, unsigned cpu, struct gdb_regs *r)
{
	int fd = vcpu_fd(opaque, cpu);
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (fd < 0 || ioctl(fd, KVM_GET_REGS, &regs) < 0 || ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	memset(r, 0, sizeof(*r));
	if (get_x87_sse(fd, r) < 0)
		return -1;
	const uint64_t gpr[16] = { regs.rax, regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi,
				   regs.rbp, regs.rsp, regs.r8,  regs.r9,  regs.r10, regs.r11,
				   regs.r12, regs.r13, regs.r14, regs.r15 };
	memcpy(r->gpr, gpr, sizeof(gpr));
	r->rip = regs.rip;
	r->eflags = (uint32_t)regs.rflags;
	const struct kvm_segment *seg[6] = { &sregs.cs, &sregs.ss, &sregs.ds,
					     &sregs.es, &sregs.fs, &sregs.gs };
	for (int i = 0; i < 6; i++)
		r->seg[i] = seg[i]->selector;
	r->fs_base = sregs.fs.base;
	r->gs_base = sregs.gs.base;
	if (get_kernel_gs_base(fd, &r->k_gs_base) < 0)
		r->k_gs_base = 0;
	r->cr0 = sregs.cr0;
	r->cr2 = sregs.cr2;
	r->cr3 = sregs.cr3;
	r->cr4 = sregs.cr4;
	r->cr8 = sregs.cr8;
	r->efer = sregs.efer;
	return 0;
}

static int gdb_set_regs(void *opaque, unsigned cpu, const struct gdb_regs *r)
{
	int fd = vcpu_fd(opaque, cpu);
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (fd < 0 || ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	regs = (struct kvm_regs){
		.rax = r->gpr[0], .rbx = r->gpr[1], .rcx = r->gpr[2], .rdx = r->gpr[3],
		.rsi = r->gpr[4], .rdi = r->gpr[5], .rbp = r->gpr[6], .rsp = r->gpr[7],
		.r8 = r->gpr[8], .r9 = r->gpr[9], .r10 = r->gpr[10], .r11 = r->gpr[11],
		.r12 = r->gpr[12], .r13 = r->gpr[13], .r14 = r->gpr[14], .r15 = r->gpr[15],
		.rip = r->rip, .rflags = r->eflags | 2u, /* bit 1 always reads 1 */
	};
	struct kvm_segment *seg[6] = { &sregs.cs, &sregs.ss, &sregs.ds,
				       &sregs.es, &sregs.fs, &sregs.gs };
	for (int i = 0; i < 6; i++) {
		if (seg[i]->selector == (uint16_t)r->seg[i])
			continue;
		/* A new selector: in real mode it is the base too; in
		 * protected mode only the selector changes (the descriptor
		 * the guest loaded stays), as writing it in gdb cannot mean
		 * a descriptor-table walk. */
		seg[i]->selector = (uint16_t)r->seg[i];
		if (!(sregs.cr0 & CR0_PE))
			seg[i]->base = (uint64_t)(uint16_t)r->seg[i] << 4;
	}
	sregs.fs.base = r->fs_base;
	sregs.gs.base = r->gs_base;
	sregs.cr0 = r->cr0;
	sregs.cr2 = r->cr2;
	sregs.cr3 = r->cr3;
	sregs.cr4 = r->cr4;
	sregs.cr8 = r->cr8;
	sregs.efer = r->efer;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0 ||
	    set_x87_sse(fd, r) < 0)
		return -1;
	set_kernel_gs_base(fd, r->k_gs_base);
	return 0;
}

/* The guest-physical address of 'va' as vCPU 'fd' sees it now. */
static int translate(int fd, uint64_t va, uint64_t *gpa)
{
	struct kvm_translation t = { .linear_address = va };

	if (ioctl(fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
		return -1;
	*gpa = t.physical_address;
	return 0;
}

#define VGA_WINDOW 0xA0000u
#define PAM_START 0xC0000u
#define PAM_END 0x100000u
#define FOUR_GIB 0x100000000ull

/* One piece of guest-physical memory within a page, as the guest sees it:
 * the legacy VGA window is MMIO (refused); 0xC0000-0xFFFFF is what the PAM
 * registers show there (the BIOS's low alias is read-only); the BIOS ROM
 * below 4 GiB is read-only; everything else must be guest RAM
 * (guest_read/guest_write check it), never MMIO or a hole. */
static bool phys_access(struct machine *m, uint64_t gpa, uint8_t *buf, size_t len, bool write)
{
	uint64_t bios_base = FOUR_GIB - m->memmap.bios_size;

	if (gpa >= VGA_WINDOW && gpa < PAM_START)
		return false;
	if (gpa >= PAM_START && gpa < PAM_END) {
		struct memmap_view v = memmap_segment_view(&m->memmap, (unsigned)MIN(
			(gpa - PAM_START) / 0x4000, (uint64_t)PAM_SEGMENTS - 1));
		if (!v.hva || gpa - v.gpa + len > v.size)
			return false;
		if (!write) {
			memcpy(buf, v.hva + (gpa - v.gpa), len);
			return true;
		}
		return !v.read_only && guest_write(&m->mem, gpa, buf, len);
	}
	if (m->memmap.bios && gpa >= bios_base && gpa < FOUR_GIB) {
		if (write || gpa + len > FOUR_GIB)
			return false;
		memcpy(buf, m->memmap.bios + (gpa - bios_base), len);
		return true;
	}
	return write ? guest_write(&m->mem, gpa, buf, len) : guest_read(&m->mem, gpa, buf, len);
}

/* Page by page: each page has its own translation. */
static int access_mem(struct machine *m, unsigned cpu, uint64_t va, uint8_t *buf, size_t len,
		      bool write)
{
	int fd = vcpu_fd(m, cpu);

	if (fd < 0)
		return -1;
	while (len) {
		size_t chunk = MIN(len, (size_t)(PAGE_SIZE_4K - (va & (PAGE_SIZE_4K - 1))));
		uint64_t gpa;
		if (translate(fd, va, &gpa) < 0)
			return -1;
		if (!phys_access(m, gpa, buf, chunk, write))
			return -1;
		va += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

static int gdb_read_mem(void *opaque, unsigned cpu, uint64_t va, void *buf, size_t len)
{
	return access_mem(opaque, cpu, va, buf, len, false);
}

static int gdb_write_mem(void *opaque, unsigned cpu, uint64_t va, const void *buf, size_t len)
{
	/* access_mem only reads from buf when writing */
	return access_mem(opaque, cpu, va, (uint8_t *)(uintptr_t)buf, len, true);
}

static int gdb_set_debug(void *opaque, unsigned cpu, const struct gdb_debug *d)
{
	struct machine *m = opaque;
	int fd = vcpu_fd(m, cpu);
	struct kvm_guest_debug dbg = { 0 };

	if (fd < 0)
		return -1;
	if (d->enable) {
		dbg.control = KVM_GUESTDBG_ENABLE;
		if (d->single_step)
			dbg.control |= KVM_GUESTDBG_SINGLESTEP;
		if (d->sw_bp)
			dbg.control |= KVM_GUESTDBG_USE_SW_BP;
		if (d->hw_bp) {
			dbg.control |= KVM_GUESTDBG_USE_HW_BP;
			for (int i = 0; i < GDB_HW_SLOTS; i++)
				dbg.arch.debugreg[i] = d->dr[i];
			dbg.arch.debugreg[7] = d->dr7;
		}
		if (d->inject == 3)
			dbg.control |= KVM_GUESTDBG_INJECT_BP;
	}
	if (cpu == 0)
		atomic_store(&m->gdb_sw_bp, d->enable && d->sw_bp);
	if (ioctl(fd, KVM_SET_GUEST_DEBUG, &dbg) < 0) {
		warn("gdbstub: KVM_SET_GUEST_DEBUG on vCPU %u: %s", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

static void gdb_stop(void *opaque)
{
	struct machine *m = opaque;

	machine_vmctl_ops.stop(m);
	if (!m->mig.incoming)
		m->run_state = "debug"; /* QEMU's RunState while its stub holds the guest */
}

static void gdb_resume(void *opaque)
{
	char err[256];

	if (machine_vmctl_ops.cont(opaque, err, sizeof(err)) < 0)
		warn("gdbstub: cannot continue: %s", err);
}

static void gdb_kill(void *opaque)
{
	machine_vmctl_ops.quit(opaque);
}

static const struct gdb_target *target(struct machine *m)
{
	static struct gdb_target t = {
		gdb_ncpus, gdb_get_regs, gdb_set_regs, gdb_read_mem, gdb_write_mem,
		gdb_set_debug, gdb_stop, gdb_resume, gdb_kill, NULL,
	};
	t.opaque = m;
	return &t;
}

/* ---- debug exits --------------------------------------------------------- */

/* Main loop: a vCPU parked with a debug exit. The others stop first, so
 * the stub finds the whole machine still. */
void machine_gdb_poll(void *opaque)
{
	struct machine *m = opaque;
	unsigned cpu;
	struct vcpu_debug_exit e;

	pthread_mutex_lock(&m->pause_lock);
	bool valid = m->gdb_pending.valid;
	cpu = m->gdb_pending.cpu;
	e = m->gdb_pending.e;
	m->gdb_pending.valid = false;
	pthread_mutex_unlock(&m->pause_lock);
	if (!valid)
		return;
	bool attached = gdb_server_attached(m->gdb);
	if (attached)
		gdb_stop(m);
	pthread_mutex_lock(&m->pause_lock);
	atomic_fetch_and(&m->hold, ~HOLD_DEBUG);
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
	if (!attached)
		return; /* the client left meanwhile: the guest runs on */
	struct gdb_debug_exit ge = { e.exception, e.dr6, e.pc };
	gdb_server_debug_exit(m->gdb, cpu, &ge);
}

/* vCPU thread. */
bool machine_gdb_debug_exit(struct machine *m, struct vcpu *v, const struct vcpu_debug_exit *e)
{
	uint64_t one = 1;
	bool post = false;

	if (e->emulated_int3 && !atomic_load(&m->gdb_sw_bp))
		return false; /* the guest's own INT3, which this KVM cannot run */
	if (e->emulated_int3)
		debug("gdbstub: vCPU %u: INT3 at %#llx failed in KVM's emulator: taken as #BP",
		      v->index, (unsigned long long)e->pc);
	pthread_mutex_lock(&m->pause_lock);
	if (!m->gdb_pending.valid) {
		m->gdb_pending.valid = true;
		m->gdb_pending.cpu = v->index;
		m->gdb_pending.e = *e;
		post = true;
	}
	atomic_fetch_or(&m->hold, HOLD_DEBUG);
	pthread_mutex_unlock(&m->pause_lock);
	/* A full post queue: the wake-up eventfd's handler polls too. */
	if (post && event_post(m->loop, machine_gdb_poll, m) != 0 &&
	    write(m->event_fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the loop */
	}
	return true;
}

/* ---- the server ------------------------------------------------------------ */

void machine_gdb_start(struct machine *m)
{
	if (m->gdb)
		gdb_server_start(m->gdb, target(m), m->loop);
}

void machine_gdb_reapply(struct machine *m)
{
	gdb_server_reapply(m->gdb);
}

/* Monitor gdbserver [DEV]: QEMU's default device is tcp::1234; "none"
 * stops the stub (a client is detached first). */
int machine_gdbserver(void *opaque, const char *spec, char *err, size_t errlen)
{
	struct machine *m = opaque;
	struct chan_config cfg;
	struct gdb_server *g;

	if (!spec || !*spec)
		spec = "tcp::1234";
	if (!strcmp(spec, "none")) {
		gdb_server_destroy(m->gdb, false);
		m->gdb = NULL;
		return 0;
	}
	/* The monitor's line buffer is reused: the socket keeps a copy. */
	static char spec_copy[256];
	if (strlen(spec) >= sizeof(spec_copy))
		return set_err(err, errlen, "'%.64s...': too long", spec);
	if (gdb_parse(spec, &cfg, err, errlen) < 0)
		return -1;
	/* The old one goes first: the new one may want its port. */
	gdb_server_destroy(m->gdb, false);
	m->gdb = NULL;
	snprintf(spec_copy, sizeof(spec_copy), "%s", spec);
	cfg.spec = spec_copy;
	g = gdb_server_create(&cfg, err, errlen);
	if (!g)
		return -1;
	m->gdb = g;
	machine_gdb_start(m);
	return 0;
}

/* For the monitor's x and xp (src/board/pc_inspect.c): the same checked
 * accesses as the stub's, physical (cpu < 0) a page at a time, or through
 * vCPU 'cpu''s translation. The vCPUs must be parked. */
int machine_guest_read(struct machine *m, int cpu, uint64_t addr, void *buf, size_t len)
{
	uint8_t *p = buf;

	if (cpu >= 0)
		return access_mem(m, (unsigned)cpu, addr, p, len, false) < 0 ? -EFAULT : 0;
	while (len) {
		size_t chunk = MIN(len, (size_t)(PAGE_SIZE_4K - (addr & (PAGE_SIZE_4K - 1))));
		if (addr + chunk < addr || !phys_access(m, addr, p, chunk, false))
			return -EFAULT;
		addr += chunk;
		p += chunk;
		len -= chunk;
	}
	return 0;
}
