/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The gdb stub: GDB's remote serial protocol (the GDB manual, "Remote
 * Protocol") over a -gdb socket, for an x86-64 machine whose vCPUs are
 * gdb's threads. The protocol code sees the machine only through struct
 * gdb_target, so it runs in unit tests and under the fuzzer against a fake
 * one; the board implements it over KVM (src/board/pc_gdb.c).
 *
 * Everything runs in the main thread: the socket is served by the event
 * loop, and a vCPU that stops for a breakpoint or a step hands its debug
 * exit to the main loop (gdb_server_debug_exit) before the stub sees it.
 */
#ifndef VMM_GDBSTUB_H
#define VMM_GDBSTUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "event.h"

/* What the stub accepts in one packet (its PacketSize), and the most
 * memory one m, M or X packet moves (m's reply is twice that in hex). */
#define GDB_PACKET_MAX 4096
#define GDB_MEM_MAX 2048
#define GDB_MAX_SW_BREAKPOINTS 64
#define GDB_HW_SLOTS 4 /* DR0-DR3 */

/* x86-64 registers in the order of the stub's target description. */
struct gdb_regs {
	uint64_t gpr[16]; /* rax rbx rcx rdx rsi rdi rbp rsp r8-r15 */
	uint64_t rip;
	uint32_t eflags;
	uint32_t seg[6]; /* cs ss ds es fs gs selectors */
	uint8_t st[8][10];
	uint32_t fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	uint64_t fs_base, gs_base, k_gs_base;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
};

/* One vCPU's KVM_SET_GUEST_DEBUG, in the stub's terms. */
struct gdb_debug {
	bool enable;     /* attached: debug exits go to the stub */
	bool single_step;
	bool sw_bp;      /* INT3 exits to the stub */
	bool hw_bp;      /* dr[] and dr7 are in force */
	uint8_t inject;  /* 0, or the guest's own #BP (3) to deliver on resume */
	uint64_t dr[GDB_HW_SLOTS];
	uint64_t dr7;
};

/* Why a vCPU stopped, as KVM said it (kvm_run.debug.arch). */
struct gdb_debug_exit {
	uint32_t exception; /* 1 (#DB) or 3 (#BP) */
	uint64_t dr6;
	uint64_t pc;        /* linear address of the instruction */
};

struct gdb_target {
	unsigned (*ncpus)(void *opaque);
	int (*get_regs)(void *opaque, unsigned cpu, struct gdb_regs *r);
	int (*set_regs)(void *opaque, unsigned cpu, const struct gdb_regs *r);
	/* Guest virtual memory as 'cpu' sees it (its page tables); the
	 * whole range or -1: an unmapped page, or one that is not RAM. */
	int (*read_mem)(void *opaque, unsigned cpu, uint64_t va, void *buf, size_t len);
	int (*write_mem)(void *opaque, unsigned cpu, uint64_t va, const void *buf, size_t len);
	int (*set_debug)(void *opaque, unsigned cpu, const struct gdb_debug *d);
	/* stop is synchronous: when it returns no vCPU runs guest code. */
	void (*stop)(void *opaque);
	void (*resume)(void *opaque);
	void (*kill)(void *opaque); /* k: vmm exits */
	void *opaque;
};

struct gdb_session;
typedef void gdb_sink_fn(void *opaque, const char *data, size_t len);

/* A client connected: the machine stops (as QEMU's stub does). */
struct gdb_session *gdb_session_new(const struct gdb_target *t, gdb_sink_fn *sink, void *opaque);
/* Bytes from the client: packets, acks and Ctrl-C. */
void gdb_session_input(struct gdb_session *s, const char *buf, size_t len);
/* From the main loop, with the machine stopped: vCPU 'cpu' left KVM_RUN
 * with a debug exit. */
void gdb_session_debug_exit(struct gdb_session *s, unsigned cpu, const struct gdb_debug_exit *e);
/* The vCPUs were made again (a reset replaces them): their debug state. */
void gdb_session_reapply(struct gdb_session *s);
/* The client went away (or detached): breakpoints out, debug off, and a
 * machine the stub stopped runs again. */
void gdb_session_free(struct gdb_session *s);

/* The hex reply of one packet to a raw reply: "$data#cs". Exposed for tests. */
size_t gdb_frame(const char *data, size_t len, char *out, size_t outlen);
/* DR7 bits for slot 'slot': type 0 exec, 1 write, 2 read, 3 access; len
 * 1, 2, 4 or 8. Exposed for tests. -1 for a length x86 cannot watch. */
int64_t gdb_dr7_bits(unsigned slot, unsigned type, unsigned len);

/* ---- the server: -gdb's listening socket, one client at a time -------- */

struct gdb_server;

/* "tcp:[HOST]:PORT", "unix:PATH[,server]" (QEMU's -gdb DEV; server and
 * wait=off are implied). One line in err. */
int gdb_parse(const char *spec, struct chan_config *c, char *err, size_t errlen);
/* Binds; NULL with one line in err. */
struct gdb_server *gdb_server_create(const struct chan_config *cfg, char *err, size_t errlen);
void gdb_server_start(struct gdb_server *g, const struct gdb_target *t, struct event_loop *loop);
void gdb_server_debug_exit(struct gdb_server *g, unsigned cpu, const struct gdb_debug_exit *e);
void gdb_server_reapply(struct gdb_server *g);
bool gdb_server_attached(const struct gdb_server *g);
/* Closes the socket; a client still attached is detached (the machine
 * runs on), or, when vmm is exiting, just dropped. */
void gdb_server_destroy(struct gdb_server *g, bool exiting);

#endif
