// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-loop: the floor for the port-I/O benchmark. It runs a 64 KiB -bios
 * style image with the least userspace work KVM allows: one VM, the image
 * mapped read-only at 0xF0000 and 0xFFFF0000 (where the CPU's reset vector
 * finds it), one vCPU left in its reset state, and a KVM_RUN loop that
 * ignores every port-I/O exit. A one-byte write of V to the exit port ends
 * the process with status (V << 1) | 1, like isa-debug-exit. Bytes written
 * to port 0xE9 (the debug console, -debugcon in vmm and QEMU) go to stdout.
 *
 * usage: kvm-loop [-n] [-p PORT] IMAGE
 *   -n       no in-kernel irqchip/PIT (by default they are created, as vmm
 *            and QEMU do, so that only userspace work differs)
 *   -p PORT  exit port (default 0xf4)
 *   -c       give the vCPU every CPUID leaf KVM supports (KVM_GET_SUPPORTED_CPUID,
 *            what `-cpu host` starts from in vmm and QEMU); without it the vCPU
 *            has KVM's empty CPUID. The CPU model changes what KVM does on
 *            every entry and exit, so the floor must have the VMM's model.
 * Prints the number of port-I/O exits on stderr when -v is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMAGE_SIZE 0x10000UL
#define LOW_ALIAS 0xF0000ULL
#define HIGH_ALIAS 0xFFFF0000ULL
#define TSS_ADDR 0xFEFFD000UL
#define DEBUGCON_PORT 0xE9

static void die(const char *what)
{
	fprintf(stderr, "kvm-loop: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void *load_image(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	if (st.st_size != (off_t)IMAGE_SIZE) {
		fprintf(stderr, "kvm-loop: %s: must be exactly 64 KiB\n", path);
		exit(2);
	}
	void *p = mmap(NULL, IMAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		die("mmap image");
	close(fd);
	return p;
}

static void set_host_cpuid(int kvm, int cpu)
{
	unsigned nent = 256;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

	if (!c)
		die("calloc");
	c->nent = nent;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) < 0)
		die("KVM_GET_SUPPORTED_CPUID");
	if (ioctl(cpu, KVM_SET_CPUID2, c) < 0)
		die("KVM_SET_CPUID2");
	free(c);
}

static void map_rom(int vm, uint32_t slot, uint64_t gpa, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = gpa,
		.memory_size = IMAGE_SIZE,
		.userspace_addr = (uintptr_t)hva,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
}

int main(int argc, char **argv)
{
	int opt, irqchip = 1, verbose = 0, host_cpuid = 0;
	unsigned long exit_port = 0xf4, exits = 0;

	while ((opt = getopt(argc, argv, "cnp:v")) != -1) {
		switch (opt) {
		case 'c': host_cpuid = 1; break;
		case 'n': irqchip = 0; break;
		case 'p': exit_port = strtoul(optarg, NULL, 0); break;
		case 'v': verbose = 1; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;

	void *image = load_image(argv[optind]);
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	/* Needed for real mode on VMX without unrestricted guest; harmless
	 * elsewhere, so a failure is ignored. */
	(void)ioctl(vm, KVM_SET_TSS_ADDR, TSS_ADDR);
	if (irqchip) {
		struct kvm_pit_config pit = { .flags = 0 };
		if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
			die("KVM_CREATE_IRQCHIP");
		if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
			die("KVM_CREATE_PIT2");
	}
	map_rom(vm, 0, LOW_ALIAS, image);
	map_rom(vm, 1, HIGH_ALIAS, image);

	int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (cpu < 0)
		die("KVM_CREATE_VCPU");
	if (host_cpuid)
		set_host_cpuid(kvm, cpu);
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   cpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	for (;;) {
		if (ioctl(cpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN");
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			exits++;
			if (run->io.direction != KVM_EXIT_IO_OUT)
				break;
			uint8_t v = *((uint8_t *)run + run->io.data_offset);
			if (run->io.port == DEBUGCON_PORT) {
				putchar(v);
			} else if (run->io.port == exit_port) {
				if (verbose)
					fprintf(stderr, "kvm-loop: %lu port-I/O exits\n", exits);
				fflush(stdout);
				exit((v << 1) | 1);
			}
			break;
		case KVM_EXIT_MMIO:
		case KVM_EXIT_INTR:
			break;
		default:
			fprintf(stderr, "kvm-loop: unexpected exit reason %u\n", run->exit_reason);
			return 2;
		}
	}

usage:
	fprintf(stderr, "usage: kvm-loop [-c] [-n] [-v] [-p PORT] IMAGE\n");
	return 2;
}
