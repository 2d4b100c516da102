// SPDX-License-Identifier: MIT
/*
 * kvmprobe: can this host's /dev/kvm run an operating system at useful speed?
 *
 * CPUID flags do not answer that (a software-nested /dev/kvm has no vmx/svm
 * flag but works; some hosts have the flag and a useless /dev/kvm), so we ask
 * /dev/kvm itself: build a VM with 2 MiB of memory, enter 64-bit long mode
 * directly (identity-mapped 2 MiB page, flat GDT), and run a ring-0 loop of a
 * few million instructions that ends with OUT and HLT. With hardware
 * virtualization this takes milliseconds; a /dev/kvm that emulates ring-0 code
 * instruction by instruction needs many seconds, and we stop it at the
 * deadline.
 *
 * Usage: kvmprobe [-q] [-t DEADLINE_MS] [-n LOOP_ITERATIONS]
 * Exit status: 0 = usable ("yes"), 1 = too slow or failed ("no"),
 *              2 = no usable /dev/kvm at all, 3 = usage error.
 * One line on stdout: "kvmprobe: yes|no: <detail>".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE   0x200000ull
#define GDT_ADDR   0x0500ull
#define PML4_ADDR  0x1000ull
#define PDPT_ADDR  0x2000ull
#define PD_ADDR    0x3000ull
#define STACK_TOP  0x8000ull
#define CODE_ADDR  0x10000ull
#define DONE_PORT  0xf4
#define DONE_VALUE 0x4b

#define CR0_PE 0x1ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull

#define PTE_P  0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull

static int quiet;

static int verdict(int code, const char *word, const char *fmt, ...)
{
	va_list ap;

	if (!quiet || code == 0) {
		printf("kvmprobe: %s: ", word);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
	return code;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void on_alarm(int sig)
{
	(void)sig; /* only interrupts KVM_RUN with EINTR */
}

static void put64(uint8_t *mem, uint64_t addr, uint64_t val)
{
	memcpy(mem + addr, &val, sizeof(val));
}

/* The payload: ECX = iterations; loop: dec ecx; jnz loop; out DONE_PORT, al; hlt. */
static size_t write_code(uint8_t *p, uint32_t iterations)
{
	size_t n = 0;

	p[n++] = 0xb9; /* mov ecx, imm32 */
	memcpy(p + n, &iterations, 4);
	n += 4;
	p[n++] = 0xff; /* dec ecx */
	p[n++] = 0xc9;
	p[n++] = 0x75; /* jnz -4 */
	p[n++] = 0xfc;
	p[n++] = 0xb0; /* mov al, DONE_VALUE */
	p[n++] = DONE_VALUE;
	p[n++] = 0xe6; /* out DONE_PORT, al */
	p[n++] = DONE_PORT;
	p[n++] = 0xf4; /* hlt */
	p[n++] = 0xeb; /* jmp $-3 (back to hlt) */
	p[n++] = 0xfd;
	return n;
}

static void setup_memory(uint8_t *mem, uint32_t iterations)
{
	/* Flat GDT: null, 64-bit code (0x08), data (0x10). */
	put64(mem, GDT_ADDR + 0, 0);
	put64(mem, GDT_ADDR + 8, 0x00209a0000000000ull);
	put64(mem, GDT_ADDR + 16, 0x00cf92000000ffffull);
	/* Identity map of the first 2 MiB with one large page. */
	put64(mem, PML4_ADDR, PDPT_ADDR | PTE_P | PTE_RW);
	put64(mem, PDPT_ADDR, PD_ADDR | PTE_P | PTE_RW);
	put64(mem, PD_ADDR, 0 | PTE_P | PTE_RW | PTE_PS);
	write_code(mem + CODE_ADDR, iterations);
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code ? 1 : 0;
	s->db = code ? 0 : 1;
}

static int set_cpuid(int kvm, int vcpu)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int nent = 64;

	for (;;) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
		if (!cpuid)
			return -1;
		cpuid->nent = nent;
		if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		if (errno != E2BIG || nent >= 4096) {
			free(cpuid);
			return -1;
		}
		nent *= 2;
	}
	int r = ioctl(vcpu, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	return r;
}

static int setup_vcpu(int vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	set_seg(&sregs.cs, 0x08, 0xb, 1);
	set_seg(&sregs.ds, 0x10, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = GDT_ADDR;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.cr3 = PML4_ADDR;
	sregs.cr4 = CR4_PAE;
	sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -1;

	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_ADDR;
	regs.rsp = STACK_TOP;
	regs.rflags = 0x2;
	return ioctl(vcpu, KVM_SET_REGS, &regs);
}

static void usage(void)
{
	fprintf(stderr, "usage: kvmprobe [-q] [-t DEADLINE_MS] [-n LOOP_ITERATIONS]\n");
}

int main(int argc, char **argv)
{
	long deadline_ms = 1000;
	unsigned long iterations = 20000000; /* 40 M instructions: ~10-20 ms on hardware */
	int opt;

	while ((opt = getopt(argc, argv, "qt:n:h")) != -1) {
		switch (opt) {
		case 'q':
			quiet = 1;
			break;
		case 't':
			deadline_ms = strtol(optarg, NULL, 0);
			break;
		case 'n':
			iterations = strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
			return 3;
		}
	}
	if (deadline_ms <= 0 || iterations == 0 || iterations > 0xffffffffull) {
		usage();
		return 3;
	}

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return verdict(2, "no", "cannot open /dev/kvm: %s", strerror(errno));
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION)
		return verdict(2, "no", "KVM API version %d, want %d", api, KVM_API_VERSION);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return verdict(2, "no", "KVM_CREATE_VM: %s", strerror(errno));

	uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return verdict(1, "no", "mmap: %s", strerror(errno));
	setup_memory(mem, (uint32_t)iterations);

	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return verdict(1, "no", "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return verdict(1, "no", "KVM_CREATE_VCPU: %s", strerror(errno));
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		return verdict(1, "no", "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return verdict(1, "no", "mmap kvm_run: %s", strerror(errno));
	if (set_cpuid(kvm, vcpu) < 0)
		return verdict(1, "no", "KVM_SET_CPUID2: %s", strerror(errno));
	if (setup_vcpu(vcpu) < 0)
		return verdict(1, "no", "cannot enter long mode: %s", strerror(errno));

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {
		.it_value = { deadline_ms / 1000, (deadline_ms % 1000) * 1000 },
		.it_interval = { 0, 10000 }, /* re-fire in case one is missed */
	};
	setitimer(ITIMER_REAL, &it, NULL);

	double t0 = now_ms();
	int done = 0;
	while (!done) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				if (now_ms() - t0 >= deadline_ms)
					break;
				continue;
			}
			return verdict(1, "no", "KVM_RUN: %s", strerror(errno));
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == DONE_PORT &&
			    ((uint8_t *)run)[run->io.data_offset] == DONE_VALUE)
				done = 1;
			break;
		case KVM_EXIT_HLT:
			done = 1;
			break;
		case KVM_EXIT_INTR:
			if (now_ms() - t0 >= deadline_ms)
				goto out;
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			return verdict(1, "no", "KVM_EXIT_INTERNAL_ERROR (suberror %u)",
				       run->internal.suberror);
		case KVM_EXIT_FAIL_ENTRY:
			return verdict(1, "no", "KVM_EXIT_FAIL_ENTRY (reason 0x%llx)",
				       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_SHUTDOWN:
			return verdict(1, "no", "guest triple fault (KVM_EXIT_SHUTDOWN)");
		default:
			return verdict(1, "no", "unexpected exit reason %u", run->exit_reason);
		}
	}
out:;
	double ms = now_ms() - t0;
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);

	if (!done) {
		struct kvm_regs regs;
		double frac = 0;
		if (ioctl(vcpu, KVM_GET_REGS, &regs) == 0 && (regs.rcx & 0xffffffffull) <= iterations)
			frac = 1.0 - (double)(regs.rcx & 0xffffffffull) / (double)iterations;
		return verdict(1, "no",
			       "ring-0 loop of %lu iterations not finished within %ld ms (%.1f%% done, "
			       "about %.1f M instructions/s); /dev/kvm cannot boot an OS at useful speed",
			       iterations, deadline_ms, frac * 100, 2.0 * iterations * frac / ms / 1e3);
	}
	return verdict(0, "yes", "%lu-iteration ring-0 loop in 64-bit mode took %.1f ms "
		       "(about %.0f M instructions/s; deadline %ld ms)",
		       iterations, ms, 2.0 * iterations / (ms > 0.001 ? ms : 0.001) / 1e3, deadline_ms);
}
