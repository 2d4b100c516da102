// SPDX-License-Identifier: GPL-2.0-or-later
#include "vcpu.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm.h"
#include "kvm_state.h"
#include "bus.h"
#include "cpu_model.h"
#include "cpuid.h"
#include "topology.h"
#include "util.h"
#include "sandbox.h"

#define SIG_VCPU_KICK SIGUSR1

static void kick_handler(int sig)
{
	(void)sig;
}

void vcpu_signals_init(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(SIG_VCPU_KICK, &sa, NULL); /* no SA_RESTART: KVM_RUN returns EINTR */
}

/* CPUID leaf 1's EAX: family, model and stepping. */
static uint32_t cpuid_signature(const struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1)
			return c->entries[i].eax;
	return 0;
}

/* After power-on EDX holds the processor's signature, CPUID leaf 1's EAX
 * (SDM vol. 3, "Processor Built-In Self-Test" and the reset-state table).
 * KVM fills it in from the CPUID it has when the vCPU is created, before
 * userspace has given it any, so it reads 600h there. */
static int set_reset_edx(struct vcpu *v, uint32_t signature, char *err, size_t errlen)
{
	struct kvm_regs regs;

	if (!signature)
		return 0;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0) {
		regs.rdx = signature;
		if (ioctl(v->fd, KVM_SET_REGS, &regs) == 0)
			return 0;
	}
	snprintf(err, errlen, "KVM_GET/SET_REGS on vCPU %u failed: %s", v->index, strerror(errno));
	return -1;
}

int vcpu_create(struct vcpu *v, const struct vcpu_host *host, unsigned index, char *err,
		size_t errlen)
{
	struct kvm_vm *kvm = host->kvm;
	const struct kvm_cpuid2 *sup = kvm->supported_cpuid;
	size_t cpuid_size = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);

	memset(v, 0, sizeof(*v));
	v->host = host;
	v->index = index;
	v->apic_id = topology_apic_id(host->smp, index);
	/* KVM gives the vCPU its id as initial APIC ID. */
	v->fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->apic_id);
	if (v->fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU %u (APIC ID %u) failed: %s", index,
			 v->apic_id, strerror(errno));
		return -1;
	}
	v->run = mmap(NULL, (size_t)kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		snprintf(err, errlen, "mmap of vCPU %u failed: %s", index, strerror(errno));
		close(v->fd);
		return -1;
	}
	/* The coalesced MMIO ring is the VM's; any vCPU's area maps it. */
	if (index == 0)
		coalesced_mmio_set_ring(&kvm->coalesced, kvm_coalesced_ring(kvm, v->run));
	unsigned capacity = sup->nent + CPUID_EXTRA_ENTRIES;
	struct kvm_cpuid2 *c = xzalloc(cpuid_size + CPUID_EXTRA_ENTRIES * sizeof(sup->entries[0]));
	memcpy(c, sup, cpuid_size);
	if (cpu_model_apply(host->cpu, c, err, errlen) < 0) {
		free(c);
		vcpu_destroy(v);
		return -1;
	}
	cpuid_patch(c, capacity, host->smp, index);
	int ret = ioctl(v->fd, KVM_SET_CPUID2, c);
	uint32_t signature = cpuid_signature(c);
	free(c);
	if (ret < 0) {
		snprintf(err, errlen, "KVM_SET_CPUID2 on vCPU %u failed: %s", index,
			 strerror(errno));
		vcpu_destroy(v);
		return -1;
	}
	if (set_reset_edx(v, signature, err, errlen) < 0) {
		vcpu_destroy(v);
		return -1;
	}
	/* A fresh vCPU is in the architectural reset state: CS:IP F000:FFF0
	 * with CS base FFFF0000. The BSP runs, APs wait for INIT/SIPI. */
	return 0;
}

/* LINT0 as ExtINT (the PIC's output, for Linux's "virtual wire" timer
 * check and the PIC-mode fallback) and LINT1 as NMI: what the BIOS
 * programs on a PC (MP spec, "virtual wire mode"). */
#define LAPIC_LVT0 0x350
#define LAPIC_LVT1 0x360
#define LVT_DELIVERY_EXTINT 0x700u
#define LVT_DELIVERY_NMI 0x400u

static int set_virtual_wire(struct vcpu *v, char *err, size_t errlen)
{
	struct kvm_lapic_state lapic;

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		goto fail;
	put_le32((uint8_t *)lapic.regs + LAPIC_LVT0, LVT_DELIVERY_EXTINT);
	put_le32((uint8_t *)lapic.regs + LAPIC_LVT1, LVT_DELIVERY_NMI);
	if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) == 0)
		return 0;
fail:
	snprintf(err, errlen, "KVM_GET/SET_LAPIC on vCPU %u failed: %s", v->index, strerror(errno));
	return -1;
}

static struct kvm_segment flat_segment(uint16_t selector, bool code, bool long_mode)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xFFFFFFFF, .selector = selector,
		.type = code ? 0xB : 0x3, /* execute/read accessed; read/write accessed */
		.present = 1, .s = 1, .g = 1, .l = code && long_mode, .db = !(code && long_mode),
	};
}

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

static int enter_kernel(struct vcpu *v, const struct vcpu_setup *s, char *err, size_t errlen)
{
	bool long_mode = s->entry == VCPU_ENTRY_64;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 2, .rip = s->rip, .rbx = s->rbx, .rsi = s->rsi,
				 .rsp = s->rsp, .rbp = s->rsp };

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	sregs.cs = flat_segment(s->code_sel, true, long_mode);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
		flat_segment((uint16_t)(s->code_sel + 8), false, long_mode);
	sregs.gdt.base = s->gdt_base;
	sregs.gdt.limit = s->gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	/* The reset CR0 has CD and NW set: caching on, as firmware leaves it. */
	sregs.cr0 = CR0_PE | CR0_ET | (long_mode ? CR0_PG : 0);
	sregs.cr3 = long_mode ? s->cr3 : 0;
	sregs.cr4 = long_mode ? CR4_PAE : 0;
	sregs.efer = long_mode ? EFER_LME | EFER_LMA : 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "setting vCPU %u's registers for the kernel's entry failed: %s",
		 v->index, strerror(errno));
	return -1;
}

int vcpu_apply_setup(struct vcpu *v, const struct vcpu_setup *s, char *err, size_t errlen)
{
	/* MTRRs are advice to the guest (KVM caches by its own rules): a KVM
	 * or CPU model without them leaves the guest KVM's defaults. */
	if (kvm_vcpu_msrs_write(v->fd, s->msr_index, s->msr_value, s->nmsrs, err, errlen) < 0)
		warn("vCPU %u: %s; the guest keeps KVM's MTRR defaults", v->index, err);
	/* Linux's INIT/SIPI resets an AP's LVTs: only the BSP's matter. */
	if (set_virtual_wire(v, err, errlen) < 0)
		return -1;
	return s->entry != VCPU_ENTRY_NONE ? enter_kernel(v, s, err, errlen) : 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->index == 0 && v->run && v->run != MAP_FAILED)
		coalesced_mmio_set_ring(&v->host->kvm->coalesced, NULL);
	if (v->run && v->run != MAP_FAILED)
		munmap(v->run, (size_t)v->host->kvm->vcpu_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct io_bus *pio = v->host->pio;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	/* count > 1 for rep ins/outs: consecutive elements, one port. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(pio, run->io.port, data, run->io.size);
		else
			bus_read(pio, run->io.port, data, run->io.size);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct io_bus *mmio = v->host->mmio;

	if (run->mmio.len > 8)
		return;
	if (run->mmio.is_write)
		bus_write(mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len);
	else
		bus_read(mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len);
}

/* The pending and injected events (an exception being delivered when the
 * fault hit, an interrupt, NMI state). On AMD, KVM has already put the vCPU
 * through INIT when it reports a shutdown (the VMCB is undefined after a
 * SHUTDOWN intercept), so there all of this is the INIT state; on Intel it
 * is the state at the fault. */
static void report_events(struct vcpu *v)
{
	struct kvm_vcpu_events ev;

	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return;
	fprintf(stderr,
		"vmm: vCPU %u: events: exception %s%u (injected %u, error %s%#x) interrupt %s%u "
		"nmi pending %u injected %u masked %u, shadow %#x\n",
		v->index, ev.exception.pending ? "pending " : "", ev.exception.nr,
		ev.exception.injected, ev.exception.has_error_code ? "" : "none ",
		ev.exception.error_code, ev.interrupt.injected ? "injected " : "",
		ev.interrupt.nr, ev.nmi.pending, ev.nmi.injected, ev.nmi.masked,
		ev.interrupt.shadow);
}

static void report_fatal(struct vcpu *v, const char *what)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0)
		fprintf(stderr,
			"vmm: vCPU %u: %s at %04x:%llx (rsp=%llx cr0=%llx cr2=%llx cr3=%llx "
			"cr4=%llx efer=%llx idt=%llx/%x)\n",
			v->index, what, sregs.cs.selector, (unsigned long long)regs.rip,
			(unsigned long long)regs.rsp, (unsigned long long)sregs.cr0,
			(unsigned long long)sregs.cr2, (unsigned long long)sregs.cr3,
			(unsigned long long)sregs.cr4, (unsigned long long)sregs.efer,
			(unsigned long long)sregs.idt.base, sregs.idt.limit);
	else
		fprintf(stderr, "vmm: vCPU %u: %s\n", v->index, what);
	report_events(v);
}

/* "KVM internal error, suberror N"; for an instruction KVM could not
 * emulate, with its bytes when KVM gives them (Linux 5.17 on), so the
 * guest code at fault can be found (e.g. kvm_pvm, which runs ring-0 code
 * through KVM's emulator, stops at a protected-mode IRET). */
static void internal_error_text(const struct kvm_run *run, char *out, size_t len)
{
	int n = snprintf(out, len, "KVM internal error, suberror %u", run->internal.suberror);
	const __typeof__(run->emulation_failure) *ef = &run->emulation_failure;

	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION || ef->ndata < 3 ||
	    !(ef->flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
		return;
	unsigned size = MIN(ef->insn_size, (unsigned)sizeof(ef->insn_bytes));
	n += snprintf(out + n, len - (size_t)n, " (emulation failure; instruction");
	for (unsigned i = 0; i < size && (size_t)n + 4 < len; i++)
		n += snprintf(out + n, len - (size_t)n, " %02x", ef->insn_bytes[i]);
	if ((size_t)n + 2 < len)
		snprintf(out + n, len - (size_t)n, ")");
}

static bool debug_exit(struct vcpu *v)
{
	const struct vcpu_host *h = v->host;
	struct vcpu_debug_exit e = {
		.exception = v->run->debug.arch.exception,
		.dr6 = v->run->debug.arch.dr6,
		.pc = v->run->debug.arch.pc,
	};
	return h->debug_exit && h->debug_exit(h->ctx, v, &e);
}

/* An emulation failure on an INT3 while a debugger may have put it there
 * (see struct vcpu_debug_exit): handed over as the #BP it would be. The
 * vCPU's state is the one before the INT3, so it can run on once the
 * debugger has taken its breakpoint out. */
static bool emulated_int3(struct vcpu *v)
{
	const __typeof__(v->run->emulation_failure) *ef = &v->run->emulation_failure;
	const struct vcpu_host *h = v->host;
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (!h->debug_exit || v->run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION ||
	    ef->ndata < 3 || !(ef->flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) ||
	    ef->insn_size < 1 || ef->insn_bytes[0] != 0xCC)
		return false;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return false;
	struct vcpu_debug_exit e = { .exception = 3, .pc = sregs.cs.base + regs.rip,
				     .emulated_int3 = true };
	return h->debug_exit(h->ctx, v, &e);
}

/* Only this vCPU's thread writes its counters: a relaxed load and store
 * is a plain increment, and a reader on another thread sees whole values. */
static void count_exit(struct vcpu *v, enum vcpu_exit_kind kind)
{
	_Atomic uint64_t *c = &v->exit_count[kind];
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

uint64_t vcpu_exit_count(const struct vcpu *v, enum vcpu_exit_kind kind)
{
	return atomic_load_explicit(&v->exit_count[kind], memory_order_relaxed);
}

/* Returns false when the loop must end. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[128];

	/* Writes KVM queued (coalesced MMIO) happened before this exit: a
	 * port write that remaps the VGA, an MMIO read of its window, a full
	 * ring's write that exits instead must all come after them. */
	coalesced_mmio_drain(&v->host->kvm->coalesced);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		count_exit(v, VCPU_EXIT_IO);
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		count_exit(v, VCPU_EXIT_MMIO);
		handle_mmio(v);
		return true;
	case KVM_EXIT_HLT:
		count_exit(v, VCPU_EXIT_HLT);
		return true;
	case KVM_EXIT_INTR:
		count_exit(v, VCPU_EXIT_INTR);
		return true;
	case KVM_EXIT_SHUTDOWN:
		/* A triple fault resets a PC. */
		if (debug_enabled || dump_cpus_enabled)
			report_fatal(v, "triple fault");
		v->host->request(v->host->ctx, VCPU_REQ_RESET);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			v->host->request(v->host->ctx, VCPU_REQ_RESET);
		else
			v->host->request(v->host->ctx, VCPU_REQ_POWEROFF);
		return false;
	case KVM_EXIT_DEBUG:
		if (debug_exit(v))
			return true;
		snprintf(what, sizeof(what), "debug exit (exception %u) without a debugger",
			 run->debug.arch.exception);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		if (emulated_int3(v))
			return true;
		internal_error_text(run, what, sizeof(what));
		break;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed, reason %#llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	default:
		snprintf(what, sizeof(what), "unexpected exit reason %u", run->exit_reason);
		break;
	}
	report_fatal(v, what);
	v->host->request(v->host->ctx, VCPU_REQ_ERROR);
	return false;
}

/* KVM finishes an I/O or MMIO instruction (the value of an IN, the
 * instruction pointer past it) only when KVM_RUN is entered again, and
 * that pending half is in no state userspace can read or write: a vCPU
 * parked straight after such an exit would have its registers saved
 * mid-instruction. KVM_RUN with immediate_exit set completes the
 * instruction and returns at once without running the guest (KVM's API
 * documentation, "immediate_exit"), so a parked vCPU's state is whole. */
static void finish_pending_exit(struct vcpu *v)
{
	uint32_t reason = v->run->exit_reason;

	if (reason != KVM_EXIT_IO && reason != KVM_EXIT_MMIO)
		return;
	v->run->immediate_exit = 1;
	if (ioctl(v->fd, KVM_RUN, 0) == 0)
		handle_exit(v); /* not expected: immediate_exit always returns EINTR */
	v->run->immediate_exit = 0;
	/* Done: a second park (pause while paused, or a reset) needs nothing. */
	v->run->exit_reason = KVM_EXIT_INTR;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	const struct vcpu_host *h = v->host;
	sigset_t set;

	atomic_store(&v->tid, gettid());
	sandbox_thread_start(SANDBOX_VCPU);

	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (;;) {
		/* One load per exit for reset, exit and pause: the hot path
		 * costs what the old stop check did. */
		if (atomic_load_explicit(h->hold, memory_order_acquire)) {
			finish_pending_exit(v);
			if (!h->hold_fn(h->ctx))
				break;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			/* EAGAIN: an AP leaving its wait for SIPI. EINTR: a kick. */
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			fprintf(stderr, "vmm: vCPU %u: KVM_RUN failed: %s\n", v->index,
				strerror(errno));
			h->request(h->ctx, VCPU_REQ_ERROR);
			break;
		}
		if (!handle_exit(v))
			break;
	}
	/* Stopped for good (vmm exits next): end the thread without glibc's
	 * per-thread clean-up, whose resolver and malloc code nothing else
	 * runs; mapping it in at the very end was ~0.15 MiB of vmm's peak RSS
	 * (docs/bench.md). Threads stopped for a reset return normally, so
	 * their malloc caches go back before the next ones start. */
	if (h->stopping_for_good(h->ctx))
		thread_exit_raw();
	return NULL;
}

int vcpu_start_thread(struct vcpu *v)
{
	sigset_t set, old;
	int ret;

	/* The thread starts with the kick signal blocked and unblocks it
	 * itself, so a kick can never reach a thread without the handler. */
	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	atomic_store(&v->tid, 0);
	ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0)
		return -ret;
	v->thread_started = true;
	/* query-cpus-fast names the thread from here on (a QMP client may ask
	 * before the thread has run a single instruction); its first act is
	 * to publish its id. */
	while (!atomic_load(&v->tid))
		sched_yield();
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->thread_started)
		return;
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	v->run->immediate_exit = 1;
	pthread_kill(v->thread, SIG_VCPU_KICK);
}

void vcpu_join(struct vcpu *v)
{
	if (v->thread_started)
		pthread_join(v->thread, NULL);
	v->thread_started = false;
}
