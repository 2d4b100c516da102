// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The machine as the monitor's inspection commands see it: guest memory
 * (x, xp), a vCPU's registers (info registers, p $reg), the PCI functions
 * (info pci, query-pci), the character devices (info chardev,
 * query-chardev) and the address spaces (info mtree).
 *
 * A vCPU's registers and its page tables can only be read while it is out
 * of KVM_RUN (a vCPU ioctl from another thread waits for the running one),
 * so the machine is held for the read and let go at once: the guest sees
 * a pause of a few microseconds, no STOP/RESUME.
 */
#include "pc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "chardev.h"
#include "util.h"

/* ---- memory ---------------------------------------------------------------- */

int machine_read_memory(void *opaque, int cpu, uint64_t addr, void *buf, size_t len)
{
	struct machine *m = opaque;
	int ret;

	if (cpu >= 0 && (unsigned)cpu >= m->ncpus)
		return -EINVAL;
	bool held = machine_pause(m);
	ret = machine_guest_read(m, cpu, addr, buf, len);
	if (held)
		machine_resume(m);
	return ret;
}

/* ---- registers -------------------------------------------------------------- */

struct cpu_snapshot {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_debugregs dregs;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	uint32_t mxcsr;
};

static int snapshot_cpu(struct machine *m, unsigned cpu, struct cpu_snapshot *s)
{
	int fd, ret = 0;

	if (cpu >= m->ncpus)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	bool held = machine_pause(m);
	fd = m->vcpus[cpu].fd;
	if (fd < 0 || ioctl(fd, KVM_GET_REGS, &s->regs) < 0 ||
	    ioctl(fd, KVM_GET_SREGS, &s->sregs) < 0 || ioctl(fd, KVM_GET_FPU, &s->fpu) < 0)
		ret = -EIO;
	/* optional: zero when KVM lacks them */
	if (fd >= 0) {
		if (ioctl(fd, KVM_GET_DEBUGREGS, &s->dregs) < 0)
			memset(&s->dregs, 0, sizeof(s->dregs));
		if (ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
			memset(&s->events, 0, sizeof(s->events));
		if (ioctl(fd, KVM_GET_MP_STATE, &s->mp) < 0)
			memset(&s->mp, 0, sizeof(s->mp));
		/* KVM_GET_FPU's MXCSR reads 0 until the guest touches SSE (the
		 * vCPU holds 1F80h from reset): the XSAVE area has the real one,
		 * at byte 24 of its legacy region */
		struct kvm_xsave xs;
		s->mxcsr = s->fpu.mxcsr;
		if (ioctl(fd, KVM_GET_XSAVE, &xs) == 0)
			memcpy(&s->mxcsr, (const uint8_t *)xs.region + 24, 4);
	}
	if (held)
		machine_resume(m);
	return ret;
}

/* The descriptor attribute bits as they sit in its high dword (QEMU's
 * "flags" column). */
static uint32_t seg_flags(const struct kvm_segment *s)
{
	return (uint32_t)s->type << 8 | (uint32_t)s->s << 12 | (uint32_t)s->dpl << 13 |
	       (uint32_t)s->present << 15 | (uint32_t)s->avl << 20 | (uint32_t)s->l << 21 |
	       (uint32_t)s->db << 22 | (uint32_t)s->g << 23;
}

#define CR0_PE 1u
#define EFER_LMA (1u << 10)

static bool long_mode(const struct cpu_snapshot *s)
{
	return (s->sregs.efer & EFER_LMA) && s->sregs.cs.l;
}

static void print_seg(vmctl_print_fn *print, void *ctx, const char *name,
		      const struct kvm_segment *g, bool lm)
{
	char line[96];

	if (lm)
		snprintf(line, sizeof(line), "%s=%04x %016" PRIx64 " %08x %08x\n", name, g->selector,
			 (uint64_t)g->base, g->limit, seg_flags(g));
	else
		snprintf(line, sizeof(line), "%s=%04x %08x %08x %08x\n", name, g->selector,
			 (uint32_t)g->base, g->limit, seg_flags(g));
	print(ctx, line);
}

/* QEMU's layout of info registers (x86), from KVM's state. */
int machine_cpu_registers(void *opaque, unsigned cpu, vmctl_print_fn *print, void *ctx)
{
	struct cpu_snapshot s;
	char line[256];
	int ret = snapshot_cpu(opaque, cpu, &s);

	if (ret)
		return ret;
	const struct kvm_regs *r = &s.regs;
	const struct kvm_sregs *sr = &s.sregs;
	bool lm = long_mode(&s);
	uint64_t fl = r->rflags;
	char flags[8] = {
		fl & 0x400 ? 'D' : '-', fl & 0x800 ? 'O' : '-', fl & 0x80 ? 'S' : '-',
		fl & 0x40 ? 'Z' : '-', fl & 0x10 ? 'A' : '-', fl & 0x04 ? 'P' : '-',
		fl & 0x01 ? 'C' : '-', 0,
	};
	unsigned cpl = (sr->cr0 & CR0_PE) ? sr->ss.dpl : 0;
	unsigned ii = s.events.interrupt.shadow ? 1 : 0;
	unsigned hlt = s.mp.mp_state == KVM_MP_STATE_HALTED;

	if (lm) {
		snprintf(line, sizeof(line),
			 "RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
			 "RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n"
			 "R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n",
			 r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rbp, r->rsp, r->r8, r->r9,
			 r->r10, r->r11);
		print(ctx, line);
		snprintf(line, sizeof(line),
			 "R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n"
			 "RIP=%016llx RFL=%08x [%s] CPL=%u II=%u A20=1 SMM=0 HLT=%u\n",
			 r->r12, r->r13, r->r14, r->r15, r->rip, (unsigned)fl, flags, cpl, ii, hlt);
	} else {
		snprintf(line, sizeof(line),
			 "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n"
			 "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n"
			 "EIP=%08x EFL=%08x [%s] CPL=%u II=%u A20=1 SMM=0 HLT=%u\n",
			 (unsigned)r->rax, (unsigned)r->rbx, (unsigned)r->rcx, (unsigned)r->rdx,
			 (unsigned)r->rsi, (unsigned)r->rdi, (unsigned)r->rbp, (unsigned)r->rsp,
			 (unsigned)r->rip, (unsigned)fl, flags, cpl, ii, hlt);
	}
	print(ctx, line);
	print_seg(print, ctx, "ES ", &sr->es, lm);
	print_seg(print, ctx, "CS ", &sr->cs, lm);
	print_seg(print, ctx, "SS ", &sr->ss, lm);
	print_seg(print, ctx, "DS ", &sr->ds, lm);
	print_seg(print, ctx, "FS ", &sr->fs, lm);
	print_seg(print, ctx, "GS ", &sr->gs, lm);
	print_seg(print, ctx, "LDT", &sr->ldt, lm);
	print_seg(print, ctx, "TR ", &sr->tr, lm);
	if (lm)
		snprintf(line, sizeof(line), "GDT=     %016llx %08x\nIDT=     %016llx %08x\n"
			 "CR0=%08x CR2=%016llx CR3=%016llx CR4=%08x\n",
			 sr->gdt.base, sr->gdt.limit, sr->idt.base, sr->idt.limit, (unsigned)sr->cr0,
			 sr->cr2, sr->cr3, (unsigned)sr->cr4);
	else
		snprintf(line, sizeof(line), "GDT=     %08x %08x\nIDT=     %08x %08x\n"
			 "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n",
			 (unsigned)sr->gdt.base, sr->gdt.limit, (unsigned)sr->idt.base, sr->idt.limit,
			 (unsigned)sr->cr0, (unsigned)sr->cr2, (unsigned)sr->cr3, (unsigned)sr->cr4);
	print(ctx, line);
	snprintf(line, sizeof(line),
		 "DR0=%016llx DR1=%016llx DR2=%016llx DR3=%016llx \nDR6=%016llx DR7=%016llx\n"
		 "EFER=%016llx\n",
		 s.dregs.db[0], s.dregs.db[1], s.dregs.db[2], s.dregs.db[3], s.dregs.dr6,
		 s.dregs.dr7, sr->efer);
	print(ctx, line);
	snprintf(line, sizeof(line), "FCW=%04x FSW=%04x [ST=%u] FTW=%02x MXCSR=%08x\n",
		 s.fpu.fcw, s.fpu.fsw, (s.fpu.fsw >> 11) & 7u, s.fpu.ftwx, s.mxcsr);
	print(ctx, line);
	for (unsigned i = 0; i < 8; i++) {
		uint64_t mant;
		uint16_t exp;
		memcpy(&mant, s.fpu.fpr[i], 8);
		memcpy(&exp, s.fpu.fpr[i] + 8, 2);
		snprintf(line, sizeof(line), "FPR%u=%016" PRIx64 " %04x%s", i, mant, exp,
			 i & 1 ? "\n" : " ");
		print(ctx, line);
	}
	for (unsigned i = 0; i < (lm ? 16u : 8u); i++) {
		uint64_t lo, hi;
		memcpy(&lo, s.fpu.xmm[i], 8);
		memcpy(&hi, s.fpu.xmm[i] + 8, 8);
		snprintf(line, sizeof(line), "XMM%02u=%016" PRIx64 " %016" PRIx64 "%s", i, hi, lo,
			 i & 1 ? "\n" : " ");
		print(ctx, line);
	}
	return 0;
}

/* Where each vCPU is, in two lines a test harness keeps in its tail: a
 * guest that hangs with a silent console (a lost interrupt, a spin in
 * early boot) shows its mode, its halt state, what KVM holds pending and
 * the code it runs. Asked for by VMM_DUMP_CPUS=1 when a signal ends vmm. */
void machine_dump_cpus(struct machine *m, FILE *out)
{
	/* One pause for all of it: each vCPU's registers and code bytes are
	 * of the same moment (snapshot_cpu's own pause is then a no-op) */
	bool held = machine_pause(m);

	for (unsigned i = 0; i < m->ncpus; i++) {
		struct cpu_snapshot s;
		if (snapshot_cpu(m, i, &s)) {
			fprintf(out, "vmm: vCPU %u: registers unreadable\n", i);
			continue;
		}
		const struct kvm_sregs *sr = &s.sregs;
		const struct kvm_vcpu_events *ev = &s.events;
		uint64_t linear = sr->cs.base + s.regs.rip;
		fprintf(out, "vmm: vCPU %u: cs:rip=%04x:%016llx rsp=%016llx rflags=%08llx "
			"cr0=%08llx cr3=%016llx efer=%llx mp_state=%u\n", i, sr->cs.selector,
			s.regs.rip, s.regs.rsp, s.regs.rflags, sr->cr0, sr->cr3, sr->efer,
			s.mp.mp_state);
		fprintf(out, "vmm: vCPU %u: exception=%u/%u irq=%u/%u nmi=%u/%u shadow=%u code=", i,
			ev->exception.injected, ev->exception.nr, ev->interrupt.injected,
			ev->interrupt.nr, ev->nmi.injected, ev->nmi.pending, ev->interrupt.shadow);
		uint8_t code[16];
		if (machine_guest_read(m, (int)i, linear, code, sizeof(code)) == 0)
			for (size_t b = 0; b < sizeof(code); b++)
				fprintf(out, "%02x", code[b]);
		else
			fprintf(out, "unmapped");
		fprintf(out, "\n");
	}
	if (held)
		machine_resume(m);
	fflush(out);
}

/* One register for the monitor's p: gdb's names, 64-bit and 32-bit. */
int machine_cpu_register(void *opaque, unsigned cpu, const char *name, uint64_t *val)
{
	struct cpu_snapshot s;
	int ret = snapshot_cpu(opaque, cpu, &s);

	if (ret)
		return ret;
	const struct kvm_regs *r = &s.regs;
	const struct kvm_sregs *sr = &s.sregs;
	const struct { const char *name; uint64_t v; } regs[] = {
		{ "rax", r->rax }, { "rbx", r->rbx }, { "rcx", r->rcx }, { "rdx", r->rdx },
		{ "rsi", r->rsi }, { "rdi", r->rdi }, { "rbp", r->rbp }, { "rsp", r->rsp },
		{ "r8", r->r8 }, { "r9", r->r9 }, { "r10", r->r10 }, { "r11", r->r11 },
		{ "r12", r->r12 }, { "r13", r->r13 }, { "r14", r->r14 }, { "r15", r->r15 },
		{ "rip", r->rip }, { "eflags", r->rflags },
		{ "eax", (uint32_t)r->rax }, { "ebx", (uint32_t)r->rbx }, { "ecx", (uint32_t)r->rcx },
		{ "edx", (uint32_t)r->rdx }, { "esi", (uint32_t)r->rsi }, { "edi", (uint32_t)r->rdi },
		{ "ebp", (uint32_t)r->rbp }, { "esp", (uint32_t)r->rsp }, { "eip", (uint32_t)r->rip },
		/* QEMU's $pc: the linear address of the next instruction */
		{ "pc", sr->cs.base + r->rip },
		{ "cs", sr->cs.selector }, { "ds", sr->ds.selector }, { "es", sr->es.selector },
		{ "ss", sr->ss.selector }, { "fs", sr->fs.selector }, { "gs", sr->gs.selector },
		{ "fs_base", sr->fs.base }, { "gs_base", sr->gs.base },
		{ "cr0", sr->cr0 }, { "cr2", sr->cr2 }, { "cr3", sr->cr3 }, { "cr4", sr->cr4 },
		{ "efer", sr->efer },
	};

	for (size_t i = 0; i < ARRAY_SIZE(regs); i++)
		if (!strcmp(regs[i].name, name)) {
			*val = regs[i].v;
			return 0;
		}
	return -ENOENT;
}

/* ---- PCI ------------------------------------------------------------------- */

static const char *qdev_id_at(struct machine *m, unsigned devfn)
{
	for (unsigned i = 0; i < m->cfg.ndevs; i++)
		if (m->cfg.devs[i].devfn == (int)devfn && m->cfg.devs[i].id)
			return m->cfg.devs[i].id;
	return "";
}

/* The class names QEMU gives the PC's functions (QEMU 10 names neither
 * 0x0780, virtio-serial's, nor 0x0880, the i6300ESB's: "Class 0780"). */
static const char *pci_class_desc(uint16_t cls)
{
	static const struct { uint16_t cls; const char *desc; } names[] = {
		{ 0x0100, "SCSI controller" }, { 0x0101, "IDE controller" },
		{ 0x0180, "Storage controller" }, { 0x0200, "Ethernet controller" },
		{ 0x0300, "VGA controller" }, { 0x0380, "Display controller" },
		{ 0x0401, "Audio controller" }, { 0x0403, "Audio controller" },
		{ 0x0600, "Host bridge" }, { 0x0601, "ISA bridge" }, { 0x0604, "PCI bridge" },
		{ 0x0680, "Bridge" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].cls == cls)
			return names[i].desc;
	return NULL;
}

unsigned machine_pci_devices(void *opaque, struct vmctl_pci *out, unsigned max)
{
	struct machine *m = opaque;
	unsigned n = 0;

	for (unsigned devfn = 0; devfn < 256 && n < max; devfn++) {
		struct pci_device *d = m->pci.dev[devfn];
		if (!d)
			continue;
		struct vmctl_pci *o = &out[n++];
		uint8_t cfg[64];
		for (unsigned i = 0; i < sizeof(cfg); i += 4)
			put_le32(cfg + i, pci_config_read(&m->pci, (uint8_t)devfn, i, 4));
		*o = (struct vmctl_pci){
			.bus = 0, .slot = devfn >> 3, .function = devfn & 7,
			.vendor = get_le16(cfg + PCI_VENDOR_ID), .device = get_le16(cfg + PCI_DEVICE_ID),
			.subsystem_vendor = get_le16(cfg + PCI_SUBSYSTEM_VENDOR_ID),
			.subsystem = get_le16(cfg + PCI_SUBSYSTEM_ID),
			.class_code = get_le16(cfg + PCI_CLASS_DEVICE), .prog_if = cfg[PCI_CLASS_PROG],
			.revision = cfg[PCI_REVISION_ID],
			.irq_pin = (uint8_t)pci_config_read(&m->pci, (uint8_t)devfn, PCI_INTERRUPT_PIN, 1),
			.irq = (uint8_t)pci_config_read(&m->pci, (uint8_t)devfn, PCI_INTERRUPT_LINE, 1),
			.qdev_id = qdev_id_at(m, devfn),
		};
		o->desc = pci_class_desc(o->class_code);
		pthread_mutex_lock(&m->pci.lock);
		for (int b = 0; b < PCI_NUM_BARS; b++) {
			const struct pci_bar *bar = &d->bar[b];
			if (bar->type == PCI_BAR_NONE)
				continue;
			o->bars[o->nbars++] = (struct vmctl_pci_bar){
				.bar = b, .io = bar->type == PCI_BAR_IO,
				.mem64 = bar->type == PCI_BAR_MEM64, .prefetch = bar->prefetchable,
				.address = bar->addr, .size = bar->size,
			};
			if (bar->type == PCI_BAR_MEM64)
				b++;
		}
		if (d->rom_size)
			o->bars[o->nbars++] = (struct vmctl_pci_bar){
				.bar = 6, .address = d->rom_addr, .size = d->rom_size,
			};
		pthread_mutex_unlock(&m->pci.lock);
	}
	return n;
}

/* ---- character devices ----------------------------------------------------- */

static void chardev_filename(const struct chardev_config *c, char *out, size_t len)
{
	switch (c->kind) {
	case CHARDEV_NULL:
		snprintf(out, len, "null");
		break;
	case CHARDEV_STDIO:
		snprintf(out, len, "stdio");
		break;
	case CHARDEV_FILE:
		snprintf(out, len, "file:%s", c->path ? c->path : "");
		break;
	case CHARDEV_PTY:
		snprintf(out, len, "pty");
		break;
	case CHARDEV_SOCKET:
		if (c->tcp)
			snprintf(out, len, "tcp:%.64s:%s%s", c->host, c->port, c->server ? ",server=on" : "");
		else
			snprintf(out, len, "unix:%s%s", c->sock_path, c->server ? ",server=on" : "");
		break;
	default:
		snprintf(out, len, "%s", "");
		break;
	}
}

static void chan_filename(const struct chan_config *c, char *out, size_t len)
{
	if (c->kind == CHAN_STDIO)
		snprintf(out, len, "stdio");
	else if (c->kind == CHAN_UNIX)
		snprintf(out, len, "unix:%s,server=on", c->path);
	else
		snprintf(out, len, "tcp:%.64s:%s,server=on", c->host, c->port);
}

/* -chardev's, then -serial's own, then the monitor's and QMP's channels
 * by QEMU's names (compat_monitor0...). */
unsigned machine_chardevs(void *opaque, struct vmctl_chardev *out, unsigned max)
{
	struct machine *m = opaque;
	unsigned n = 0, mon = 0;

	for (unsigned i = 0; i < m->cfg.nchardevs && n < max; i++, n++) {
		snprintf(out[n].label, sizeof(out[n].label), "%s", m->cfg.chardevs[i].id);
		chardev_filename(&m->cfg.chardevs[i], out[n].filename, sizeof(out[n].filename));
		out[n].frontend_open = true;
	}
	for (unsigned i = 0; i < MAX_ISA_SERIAL && n < max; i++) {
		const struct chardev_config *c = &m->cfg.serial[i];
		if (!(m->cfg.serial_ports & (1u << i)) || c->kind == CHARDEV_NONE ||
		    c->kind == CHARDEV_REF)
			continue;
		snprintf(out[n].label, sizeof(out[n].label), "serial%u", i);
		chardev_filename(c, out[n].filename, sizeof(out[n].filename));
		out[n].frontend_open = true;
		n++;
	}
	if (m->cfg.monitor.kind != CHAN_NONE && n < max) {
		snprintf(out[n].label, sizeof(out[n].label), "compat_monitor%u", mon++);
		chan_filename(&m->cfg.monitor, out[n].filename, sizeof(out[n].filename));
		out[n++].frontend_open = true;
	}
	for (unsigned i = 0; i < m->cfg.nqmp && n < max; i++) {
		snprintf(out[n].label, sizeof(out[n].label), "compat_monitor%u", mon++);
		chan_filename(&m->cfg.qmp[i], out[n].filename, sizeof(out[n].filename));
		out[n++].frontend_open = true;
	}
	return n;
}

/* ---- address spaces ---------------------------------------------------------- */

static void print_region(vmctl_print_fn *print, void *ctx, const char *indent, uint64_t start,
			 uint64_t len, int prio, const char *kind, const char *name)
{
	char line[192];

	/* len 0: to the end of the 64-bit space */
	snprintf(line, sizeof(line), "%s%016" PRIx64 "-%016" PRIx64 " (prio %d, %s): %s\n", indent,
		 start, len ? start + len - 1 : UINT64_MAX, prio, kind, name);
	print(ctx, line);
}

/* QEMU's info mtree layout for what vmm has: the port space as the I/O
 * bus maps it, guest memory as the memory map has it. */
void machine_mtree(void *opaque, vmctl_print_fn *print, void *ctx)
{
	struct machine *m = opaque;
	const struct io_region *prev = NULL;

	print(ctx, "address-space: I/O\n");
	print_region(print, ctx, "  ", 0, 0x10000, 0, "i/o", "io");
	for (uint64_t port = 0; port < 0x10000; port++) {
		const struct io_region *r = bus_find(&m->pio, port);
		if (!r || r == prev)
			continue;
		prev = r;
		print_region(print, ctx, "    ", r->base, r->len, 0, "i/o", r->name ? r->name : "?");
		port = r->base + r->len - 1;
	}
	print(ctx, "\naddress-space: memory\n");
	print_region(print, ctx, "  ", 0, 0, 0, "i/o", "system");
	struct mem_region *regions[4 + PAM_SEGMENTS];
	unsigned n = 0;
	regions[n++] = &m->memmap.ram_low;
	regions[n++] = &m->memmap.ram_high;
	regions[n++] = &m->memmap.vga_window;
	for (unsigned i = 0; i < PAM_SEGMENTS; i++)
		regions[n++] = &m->memmap.pam_region[i];
	regions[n++] = &m->memmap.bios_rom;
	for (unsigned i = 0; i < n; i++) {
		const struct mem_region *r = regions[i];
		if (!r->size || !r->enabled)
			continue;
		print_region(print, ctx, "    ", r->gpa, r->size, r->priority,
			     r->ram ? (r->read_only ? "rom" : "ram") : "i/o", r->name ? r->name : "?");
	}
	for (unsigned devfn = 0; devfn < 256; devfn++) {
		struct pci_device *d = m->pci.dev[devfn];
		for (int b = 0; d && b < PCI_NUM_BARS; b++) {
			const struct pci_bar *bar = &d->bar[b];
			if (bar->type == PCI_BAR_NONE || bar->type == PCI_BAR_IO ||
			    bar->addr == PCI_BAR_UNMAPPED)
				continue;
			char name[96];
			snprintf(name, sizeof(name), "%s BAR%d", d->name ? d->name : "pci", b);
			print_region(print, ctx, "    ", bar->addr, bar->size, 1, "i/o", name);
		}
	}
}
