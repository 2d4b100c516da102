// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the gdb stub's packet layer (src/control/gdbstub.c)
 * against a fake two-vCPU target whose memory accesses must stay within
 * what the stub promises (at most GDB_MEM_MAX bytes at once) and whose
 * debug state may change only while it is stopped.
 *
 * Input: byte 0 is the mode: bit 0 starts in no-ack mode (checksums are
 * then not checked, so the fuzzer reaches every command without computing
 * them), bits 1-3 the feed size - 1 (bytes are fed in pieces of that size).
 * In the rest, 0xFF followed by one byte is a debug exit from the target
 * (that byte: bit 0 the vCPU, bit 1 #BP instead of #DB, bits 2-5 DR6's
 * low bits, bit 6 single step), delivered as the board does: only while
 * the machine runs, after stopping it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub.h"

#define CPUS 2
#define MEM_BASE 0x1000u
#define MEM_SIZE 0x4000u

static struct gdb_regs regs[CPUS];
static uint8_t mem[MEM_SIZE];
static bool running;
static size_t out_bytes;

static unsigned f_ncpus(void *o) { (void)o; return CPUS; }

static int f_get_regs(void *o, unsigned cpu, struct gdb_regs *r)
{
	if (cpu >= CPUS)
		abort();
	*r = regs[cpu];
	return 0;
}

static int f_set_regs(void *o, unsigned cpu, const struct gdb_regs *r)
{
	if (cpu >= CPUS || running)
		abort();
	regs[cpu] = *r;
	return 0;
}

static int access_ok(uint64_t va, size_t len)
{
	if (len > GDB_MEM_MAX || running)
		abort(); /* the stub let a huge length or a running machine through */
	return va >= MEM_BASE && va - MEM_BASE <= MEM_SIZE - len;
}

static int f_read(void *o, unsigned cpu, uint64_t va, void *buf, size_t len)
{
	if (cpu >= CPUS || !access_ok(va, len))
		return -1;
	memcpy(buf, mem + (va - MEM_BASE), len);
	return 0;
}

static int f_write(void *o, unsigned cpu, uint64_t va, const void *buf, size_t len)
{
	if (cpu >= CPUS || !access_ok(va, len))
		return -1;
	memcpy(mem + (va - MEM_BASE), buf, len);
	return 0;
}

static int f_set_debug(void *o, unsigned cpu, const struct gdb_debug *d)
{
	if (cpu >= CPUS || running)
		abort();
	return 0;
}

static void f_stop(void *o) { running = false; }
static void f_resume(void *o) { running = true; }
static void f_kill(void *o) { }

static void f_sink(void *o, const char *data, size_t len)
{
	out_bytes += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gdb_target t = { f_ncpus, f_get_regs, f_set_regs, f_read, f_write, f_set_debug,
				f_stop, f_resume, f_kill, NULL };
	static const char no_ack[] = "$QStartNoAckMode#b0";

	if (!size)
		return 0;
	memset(regs, 0x5a, sizeof(regs));
	for (size_t i = 0; i < MEM_SIZE; i++)
		mem[i] = (uint8_t)i;
	running = false;
	out_bytes = 0;
	struct gdb_session *s = gdb_session_new(&t, f_sink, NULL);
	uint8_t mode = data[0];
	size_t piece = ((mode >> 1) & 7) + 1;
	if (mode & 1)
		gdb_session_input(s, no_ack, strlen(no_ack));
	size_t i = 1;
	while (i < size) {
		if (data[i] == 0xFF && i + 1 < size) {
			uint8_t b = data[i + 1];
			struct gdb_debug_exit e = { .exception = (b & 2) ? 3 : 1,
						    .dr6 = ((b >> 2) & 15) | ((b & 64) ? 1u << 14 : 0),
						    .pc = MEM_BASE + b };
			if (running) {
				running = false; /* the board stops the machine first */
				gdb_session_debug_exit(s, b & 1, &e);
			}
			i += 2;
			continue;
		}
		size_t n = 1;
		while (n < piece && i + n < size && data[i + n] != 0xFF)
			n++;
		gdb_session_input(s, (const char *)data + i, n);
		i += n;
	}
	gdb_session_free(s);
	/* replies are bounded by what came in (one per packet or byte) */
	if (out_bytes > 64 * 1024 + 16 * size)
		abort();
	return 0;
}
