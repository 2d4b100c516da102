// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * GDB's remote serial protocol (the GDB manual, appendix "Remote Protocol")
 * for an x86-64 machine: packets "$data#cs" acknowledged with + or -, a
 * Ctrl-C byte (0x03) to interrupt, and the commands gdb uses for an
 * all-stop target whose threads are the vCPUs (thread id = vCPU index + 1).
 *
 * The client is not trusted: a packet longer than GDB_PACKET_MAX is
 * dropped whole, lengths and register numbers are checked before use, and
 * memory goes only through the target's read_mem/write_mem, which
 * translate and check every address.
 */
#include "gdbstub.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SIGNAL_INT 2
#define SIGNAL_TRAP 5
#define DR6_BS (1u << 14) /* single step */

enum rx_state { RX_IDLE, RX_DATA, RX_CSUM1, RX_CSUM2 };

enum bp_type { BP_SW, BP_HW, BP_WRITE, BP_READ, BP_ACCESS };

struct sw_bp {
	bool used;
	uint64_t addr;
	uint8_t orig; /* the byte the INT3 replaced */
};

struct hw_bp {
	bool used;
	enum bp_type type;
	uint64_t addr;
	unsigned len;
};

struct gdb_session {
	struct gdb_target t;
	gdb_sink_fn *sink;
	void *sink_opaque;

	enum rx_state rx;
	char pkt[GDB_PACKET_MAX + 1];
	size_t pkt_len;
	bool overflow;   /* this packet outgrew pkt: dropped when its end comes */
	uint8_t sum;     /* of the data so far */
	uint8_t csum_hi;
	bool no_ack;     /* QStartNoAckMode */

	bool running;    /* resumed by the stub, no stop reported since */
	bool detached;   /* D: the machine is the guest's again */
	unsigned g_cpu;  /* Hg: whose registers and memory */
	unsigned stop_cpu, stop_signal;
	char stop_extra[48]; /* "watch:ADDR;" of the last stop */
	int inject_cpu;  /* the guest's own #BP to deliver at resume, or -1 */

	struct sw_bp sw[GDB_MAX_SW_BREAKPOINTS];
	struct hw_bp hw[GDB_HW_SLOTS];

	char reply[2 * GDB_MEM_MAX + 64];
	char frame[2 * (2 * GDB_MEM_MAX + 64) + 8]; /* escaping may double it */
};

/* ---- output ------------------------------------------------------------- */

static bool needs_escape(char c)
{
	return c == '$' || c == '#' || c == '}' || c == '*';
}

size_t gdb_frame(const char *data, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t sum = 0;
	size_t n = 0;

	if (outlen < 4)
		return 0;
	out[n++] = '$';
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		bool esc = needs_escape(c);
		if (n + (esc ? 2 : 1) + 3 > outlen)
			return 0; /* never: callers size out for the worst case */
		if (esc) {
			out[n++] = '}';
			sum += (uint8_t)'}';
			c ^= 0x20;
		}
		out[n++] = c;
		sum += (uint8_t)c;
	}
	out[n++] = '#';
	out[n++] = hex[sum >> 4];
	out[n++] = hex[sum & 15];
	return n;
}

static void send_raw(struct gdb_session *s, const char *data, size_t len)
{
	s->sink(s->sink_opaque, data, len);
}

static void send_packet(struct gdb_session *s, const char *data, size_t len)
{
	size_t n = gdb_frame(data, len, s->frame, sizeof(s->frame));
	if (n)
		send_raw(s, s->frame, n);
}

static void reply_str(struct gdb_session *s, const char *str)
{
	send_packet(s, str, strlen(str));
}

static void reply_fmt(struct gdb_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply_fmt(struct gdb_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->reply, sizeof(s->reply), fmt, ap);
	va_end(ap);
	if (n >= 0)
		send_packet(s, s->reply, MIN((size_t)n, sizeof(s->reply) - 1));
}

/* Error numbers are the stub's own; gdb prints them. */
static void reply_error(struct gdb_session *s, unsigned code)
{
	reply_fmt(s, "E%02x", code & 0xff);
}

#define ERR_ARGS 0x01   /* malformed packet */
#define ERR_MEM 0x0e    /* memory not mapped or not RAM (EFAULT's number) */
#define ERR_RANGE 0x22  /* too long (ERANGE) */
#define ERR_NOSPC 0x1c  /* no breakpoint slot left (ENOSPC) */
#define ERR_RUNNING 0x10 /* the machine runs: only Ctrl-C is taken (EBUSY) */
#define ERR_TARGET 0x05 /* the target refused (EIO) */

/* ---- hex ---------------------------------------------------------------- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A hex number of at most 16 digits at *p; advances *p. */
static bool parse_hex(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0;
	int d;

	while ((d = hex_digit(**p)) >= 0) {
		if (++digits > 16)
			return false;
		v = v << 4 | (uint64_t)d;
		(*p)++;
	}
	*out = v;
	return digits > 0;
}

static void put_hex_bytes(char *out, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
}

static bool get_hex_bytes(const char *in, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(in[2 * i]), lo = hi < 0 ? -1 : hex_digit(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* ---- registers and the target description ----------------------------- */

struct reg_desc {
	const char *name;
	unsigned bits;
	size_t off;
	const char *type;
	const char *group; /* NULL: gdb's default */
};

#define R(name, field, bits, type) { name, bits, offsetof(struct gdb_regs, field), type, NULL }
#define RG(name, field, bits, type, group) \
	{ name, bits, offsetof(struct gdb_regs, field), type, group }

/* gdb's amd64 ABI finds its registers by these names (i386_validate_tdesc_p
 * wants every one of the core feature). */
static const struct reg_desc core_regs[] = {
	R("rax", gpr[0], 64, "int64"), R("rbx", gpr[1], 64, "int64"),
	R("rcx", gpr[2], 64, "int64"), R("rdx", gpr[3], 64, "int64"),
	R("rsi", gpr[4], 64, "int64"), R("rdi", gpr[5], 64, "int64"),
	R("rbp", gpr[6], 64, "data_ptr"), R("rsp", gpr[7], 64, "data_ptr"),
	R("r8", gpr[8], 64, "int64"), R("r9", gpr[9], 64, "int64"),
	R("r10", gpr[10], 64, "int64"), R("r11", gpr[11], 64, "int64"),
	R("r12", gpr[12], 64, "int64"), R("r13", gpr[13], 64, "int64"),
	R("r14", gpr[14], 64, "int64"), R("r15", gpr[15], 64, "int64"),
	R("rip", rip, 64, "code_ptr"), R("eflags", eflags, 32, "i386_eflags"),
	R("cs", seg[0], 32, "int32"), R("ss", seg[1], 32, "int32"),
	R("ds", seg[2], 32, "int32"), R("es", seg[3], 32, "int32"),
	R("fs", seg[4], 32, "int32"), R("gs", seg[5], 32, "int32"),
	R("st0", st[0], 80, "i387_ext"), R("st1", st[1], 80, "i387_ext"),
	R("st2", st[2], 80, "i387_ext"), R("st3", st[3], 80, "i387_ext"),
	R("st4", st[4], 80, "i387_ext"), R("st5", st[5], 80, "i387_ext"),
	R("st6", st[6], 80, "i387_ext"), R("st7", st[7], 80, "i387_ext"),
	RG("fctrl", fctrl, 32, "int", "float"), RG("fstat", fstat, 32, "int", "float"),
	RG("ftag", ftag, 32, "int", "float"), RG("fiseg", fiseg, 32, "int", "float"),
	RG("fioff", fioff, 32, "int", "float"), RG("foseg", foseg, 32, "int", "float"),
	RG("fooff", fooff, 32, "int", "float"), RG("fop", fop, 32, "int", "float"),
};

static const struct reg_desc sse_regs[] = {
	R("xmm0", xmm[0], 128, "vec128"), R("xmm1", xmm[1], 128, "vec128"),
	R("xmm2", xmm[2], 128, "vec128"), R("xmm3", xmm[3], 128, "vec128"),
	R("xmm4", xmm[4], 128, "vec128"), R("xmm5", xmm[5], 128, "vec128"),
	R("xmm6", xmm[6], 128, "vec128"), R("xmm7", xmm[7], 128, "vec128"),
	R("xmm8", xmm[8], 128, "vec128"), R("xmm9", xmm[9], 128, "vec128"),
	R("xmm10", xmm[10], 128, "vec128"), R("xmm11", xmm[11], 128, "vec128"),
	R("xmm12", xmm[12], 128, "vec128"), R("xmm13", xmm[13], 128, "vec128"),
	R("xmm14", xmm[14], 128, "vec128"), R("xmm15", xmm[15], 128, "vec128"),
	RG("mxcsr", mxcsr, 32, "int", "vector"),
};

static const struct reg_desc segment_regs[] = {
	R("fs_base", fs_base, 64, "int"), R("gs_base", gs_base, 64, "int"),
	R("k_gs_base", k_gs_base, 64, "int"),
};

static const struct reg_desc sys_regs[] = {
	R("cr0", cr0, 64, "int"), R("cr2", cr2, 64, "int"), R("cr3", cr3, 64, "int"),
	R("cr4", cr4, 64, "int"), R("cr8", cr8, 64, "int"), R("efer", efer, 64, "int"),
};

static const struct {
	const char *name;
	const struct reg_desc *regs;
	unsigned n;
} features[] = {
	{ "org.gnu.gdb.i386.core", core_regs, ARRAY_SIZE(core_regs) },
	{ "org.gnu.gdb.i386.sse", sse_regs, ARRAY_SIZE(sse_regs) },
	{ "org.gnu.gdb.i386.segments", segment_regs, ARRAY_SIZE(segment_regs) },
	{ "org.gnu.gdb.i386.sys", sys_regs, ARRAY_SIZE(sys_regs) },
};

#define NUM_REGS (ARRAY_SIZE(core_regs) + ARRAY_SIZE(sse_regs) + ARRAY_SIZE(segment_regs) + \
		  ARRAY_SIZE(sys_regs))

static const struct reg_desc *reg_by_number(uint64_t n)
{
	for (size_t f = 0; f < ARRAY_SIZE(features); f++) {
		if (n < features[f].n)
			return &features[f].regs[n];
		n -= features[f].n;
	}
	return NULL;
}

/* The types the core and sse features use (the GDB manual, "Predefined
 * Target Types" and "i386 Features"). */
static const char core_types[] =
	"<flags id=\"i386_eflags\" size=\"4\">"
	"<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>"
	"<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>"
	"<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>"
	"<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>"
	"<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>"
	"<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>"
	"<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>"
	"<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>"
	"<field name=\"ID\" start=\"21\" end=\"21\"/></flags>";

static const char sse_types[] =
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"
	"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"
	"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"
	"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
	"<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/>"
	"<field name=\"v2_double\" type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/>"
	"<field name=\"v8_int16\" type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/>"
	"<field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/>"
	"</union>";

#define XML_MAX 12288

/* target.xml, built once from the tables above. */
static const char *target_xml(size_t *len)
{
	static char xml[XML_MAX];
	static size_t xml_len;
	size_t n = 0;

	if (xml_len) {
		*len = xml_len;
		return xml;
	}
#define ADD(...) (n += (size_t)snprintf(xml + n, n < sizeof(xml) ? sizeof(xml) - n : 0, __VA_ARGS__))
	ADD("<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
	    "<target version=\"1.0\"><architecture>i386:x86-64</architecture>");
	for (size_t f = 0; f < ARRAY_SIZE(features); f++) {
		ADD("<feature name=\"%s\">", features[f].name);
		if (f == 0)
			ADD("%s", core_types);
		if (f == 1)
			ADD("%s", sse_types);
		for (unsigned i = 0; i < features[f].n; i++) {
			const struct reg_desc *r = &features[f].regs[i];
			ADD("<reg name=\"%s\" bitsize=\"%u\" type=\"%s\"", r->name, r->bits, r->type);
			if (r->group)
				ADD(" group=\"%s\"", r->group);
			ADD("/>");
		}
		ADD("</feature>");
	}
	ADD("</target>");
#undef ADD
	if (n >= sizeof(xml))
		die("gdbstub: target description larger than %zu bytes", sizeof(xml));
	xml_len = n;
	*len = n;
	return xml;
}

/* ---- the machine's state ------------------------------------------------ */

static bool cpu_valid(struct gdb_session *s, uint64_t cpu)
{
	return cpu < s->t.ncpus(s->t.opaque);
}

static bool any_hw(const struct gdb_session *s)
{
	for (unsigned i = 0; i < GDB_HW_SLOTS; i++)
		if (s->hw[i].used)
			return true;
	return false;
}

static bool any_sw(const struct gdb_session *s)
{
	for (unsigned i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++)
		if (s->sw[i].used)
			return true;
	return false;
}

int64_t gdb_dr7_bits(unsigned slot, unsigned type, unsigned len)
{
	/* R/W: 00 execute, 01 write, 11 read or write (x86 has no
	 * read-only watch; gdb's rwatch gets an access watch, as on real
	 * hardware). LEN: 00 1 byte, 01 2, 11 4, 10 8. */
	static const unsigned rw_bits[] = { 0, 1, 3, 3 };
	unsigned len_bits;

	if (slot >= GDB_HW_SLOTS || type > 3)
		return -1;
	switch (type == 0 ? 1 : len) {
	case 1: len_bits = 0; break;
	case 2: len_bits = 1; break;
	case 4: len_bits = 3; break;
	case 8: len_bits = 2; break;
	default: return -1;
	}
	/* G bit: the breakpoint survives the guest's task switches. */
	return (int64_t)((2ull << (slot * 2)) | ((uint64_t)rw_bits[type] << (16 + slot * 4)) |
			 ((uint64_t)len_bits << (18 + slot * 4)));
}

static unsigned hw_kind(enum bp_type t)
{
	return t == BP_HW ? 0 : t == BP_WRITE ? 1 : t == BP_READ ? 2 : 3;
}

static void debug_for(const struct gdb_session *s, unsigned cpu, bool step,
		      struct gdb_debug *d)
{
	memset(d, 0, sizeof(*d));
	d->enable = true;
	d->single_step = step;
	d->sw_bp = any_sw(s);
	d->hw_bp = any_hw(s);
	for (unsigned i = 0; i < GDB_HW_SLOTS; i++) {
		const struct hw_bp *h = &s->hw[i];
		if (!h->used)
			continue;
		d->dr[i] = h->addr;
		d->dr7 |= (uint64_t)gdb_dr7_bits(i, hw_kind(h->type), h->len);
	}
	if (s->inject_cpu >= 0 && (unsigned)s->inject_cpu == cpu)
		d->inject = 3;
}

static void apply_debug(struct gdb_session *s, int step_cpu)
{
	unsigned n = s->t.ncpus(s->t.opaque);
	struct gdb_debug d;

	for (unsigned i = 0; i < n; i++) {
		debug_for(s, i, step_cpu >= 0 && (unsigned)step_cpu == i, &d);
		s->t.set_debug(s->t.opaque, i, &d);
	}
	s->inject_cpu = -1;
}

void gdb_session_reapply(struct gdb_session *s)
{
	if (s && !s->detached)
		apply_debug(s, -1);
}

static void resume(struct gdb_session *s, int step_cpu)
{
	apply_debug(s, step_cpu);
	s->running = true;
	s->stop_extra[0] = 0;
	s->t.resume(s->t.opaque);
}

static void send_stop_reply(struct gdb_session *s)
{
	reply_fmt(s, "T%02x%sthread:%x;", s->stop_signal, s->stop_extra, s->stop_cpu + 1);
}

static void stopped(struct gdb_session *s, unsigned cpu, unsigned signal)
{
	s->running = false;
	s->stop_cpu = cpu;
	s->stop_signal = signal;
	s->g_cpu = cpu; /* gdb follows the thread that stopped */
	send_stop_reply(s);
}

static struct sw_bp *find_sw(struct gdb_session *s, uint64_t addr)
{
	for (unsigned i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++)
		if (s->sw[i].used && s->sw[i].addr == addr)
			return &s->sw[i];
	return NULL;
}

void gdb_session_debug_exit(struct gdb_session *s, unsigned cpu, const struct gdb_debug_exit *e)
{
	if (!s->running || s->detached)
		return; /* stopped already (Ctrl-C crossed it): the stop stands */
	s->stop_extra[0] = 0;
	if (e->exception == 3 && !find_sw(s, e->pc)) {
		/* The guest's own INT3: it gets its #BP, and runs on. */
		s->inject_cpu = (int)cpu;
		resume(s, -1);
		return;
	}
	if (e->exception == 1) {
		for (unsigned i = 0; i < GDB_HW_SLOTS; i++) {
			const struct hw_bp *h = &s->hw[i];
			if (!(e->dr6 & (1u << i)) || !h->used || h->type == BP_HW)
				continue;
			snprintf(s->stop_extra, sizeof(s->stop_extra), "%s:%llx;",
				 h->type == BP_WRITE ? "watch" : h->type == BP_READ ? "rwatch" : "awatch",
				 (unsigned long long)h->addr);
			break;
		}
	}
	stopped(s, cpu, SIGNAL_TRAP);
}

/* ---- memory ------------------------------------------------------------- */

/* What the guest sees at [va, va+len) with the stub's INT3s taken out. */
static int read_mem(struct gdb_session *s, uint64_t va, uint8_t *buf, size_t len)
{
	if (s->t.read_mem(s->t.opaque, s->g_cpu, va, buf, len) < 0)
		return -1;
	for (unsigned i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++)
		if (s->sw[i].used && s->sw[i].addr - va < len)
			buf[s->sw[i].addr - va] = s->sw[i].orig;
	return 0;
}

/* A write over a breakpoint changes the byte it restores; the INT3 stays. */
static int write_mem(struct gdb_session *s, uint64_t va, const uint8_t *buf, size_t len)
{
	static const uint8_t int3 = 0xCC;

	if (s->t.write_mem(s->t.opaque, s->g_cpu, va, buf, len) < 0)
		return -1;
	for (unsigned i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++) {
		struct sw_bp *b = &s->sw[i];
		if (b->used && b->addr - va < len) {
			b->orig = buf[b->addr - va];
			s->t.write_mem(s->t.opaque, s->g_cpu, b->addr, &int3, 1);
		}
	}
	return 0;
}

/* "ADDR,LEN" with LEN at most GDB_MEM_MAX; *p after it. */
static int parse_addr_len(struct gdb_session *s, const char **p, uint64_t *addr, uint64_t *len)
{
	if (!parse_hex(p, addr) || *(*p)++ != ',' || !parse_hex(p, len))
		return ERR_ARGS;
	if (*len > GDB_MEM_MAX)
		return ERR_RANGE;
	(void)s;
	return 0;
}

static void cmd_read_mem(struct gdb_session *s, const char *p)
{
	uint8_t buf[GDB_MEM_MAX];
	uint64_t addr, len;
	int err = parse_addr_len(s, &p, &addr, &len);

	if (!err && *p)
		err = ERR_ARGS;
	if (err) {
		reply_error(s, (unsigned)err);
		return;
	}
	if (len && read_mem(s, addr, buf, len) < 0) {
		reply_error(s, ERR_MEM);
		return;
	}
	put_hex_bytes(s->reply, buf, len);
	send_packet(s, s->reply, 2 * len);
}

static void cmd_write_mem_hex(struct gdb_session *s, const char *p, size_t n)
{
	uint8_t buf[GDB_MEM_MAX];
	const char *start = p;
	uint64_t addr, len;
	int err = parse_addr_len(s, &p, &addr, &len);

	if (!err && *p++ != ':')
		err = ERR_ARGS;
	if (!err && (size_t)(p - start) + 2 * len != n)
		err = ERR_ARGS;
	if (!err && !get_hex_bytes(p, buf, len))
		err = ERR_ARGS;
	if (!err && len && write_mem(s, addr, buf, len) < 0)
		err = ERR_MEM;
	if (err)
		reply_error(s, (unsigned)err);
	else
		reply_str(s, "OK");
}

/* X: binary data, '}' escaping the next byte (xor 0x20). */
static void cmd_write_mem_bin(struct gdb_session *s, const char *p, size_t n)
{
	uint8_t buf[GDB_MEM_MAX];
	const char *start = p, *end = p + n;
	uint64_t addr, len;
	size_t got = 0;
	int err = parse_addr_len(s, &p, &addr, &len);

	if (!err && (p >= end || *p++ != ':'))
		err = ERR_ARGS;
	while (!err && p < end) {
		uint8_t c = (uint8_t)*p++;
		if (c == '}') {
			if (p >= end) {
				err = ERR_ARGS;
				break;
			}
			c = (uint8_t)(*p++ ^ 0x20);
		}
		if (got >= len) {
			err = ERR_ARGS;
			break;
		}
		buf[got++] = c;
	}
	(void)start;
	if (!err && got != len)
		err = ERR_ARGS;
	if (!err && len && write_mem(s, addr, buf, len) < 0)
		err = ERR_MEM;
	if (err)
		reply_error(s, (unsigned)err);
	else
		reply_str(s, "OK");
}

/* ---- registers ---------------------------------------------------------- */

static void cmd_read_regs(struct gdb_session *s)
{
	struct gdb_regs r;
	size_t n = 0;

	if (s->t.get_regs(s->t.opaque, s->g_cpu, &r) < 0) {
		reply_error(s, ERR_TARGET);
		return;
	}
	for (unsigned i = 0; i < NUM_REGS; i++) {
		const struct reg_desc *d = reg_by_number(i);
		put_hex_bytes(s->reply + n, (const uint8_t *)&r + d->off, d->bits / 8);
		n += d->bits / 4;
	}
	send_packet(s, s->reply, n);
}

static size_t regs_hex_len(void)
{
	size_t n = 0;
	for (unsigned i = 0; i < NUM_REGS; i++)
		n += reg_by_number(i)->bits / 4;
	return n;
}

static void cmd_write_regs(struct gdb_session *s, const char *p, size_t n)
{
	struct gdb_regs r;

	if (n != regs_hex_len()) {
		reply_error(s, ERR_ARGS);
		return;
	}
	if (s->t.get_regs(s->t.opaque, s->g_cpu, &r) < 0) {
		reply_error(s, ERR_TARGET);
		return;
	}
	for (unsigned i = 0; i < NUM_REGS; i++) {
		const struct reg_desc *d = reg_by_number(i);
		if (!get_hex_bytes(p, (uint8_t *)&r + d->off, d->bits / 8)) {
			reply_error(s, ERR_ARGS);
			return;
		}
		p += d->bits / 4;
	}
	reply_str(s, s->t.set_regs(s->t.opaque, s->g_cpu, &r) < 0 ? "E05" : "OK");
}

static void cmd_read_reg(struct gdb_session *s, const char *p)
{
	const struct reg_desc *d;
	struct gdb_regs r;
	uint64_t num;

	if (!parse_hex(&p, &num) || *p || !(d = reg_by_number(num))) {
		reply_error(s, ERR_ARGS);
		return;
	}
	if (s->t.get_regs(s->t.opaque, s->g_cpu, &r) < 0) {
		reply_error(s, ERR_TARGET);
		return;
	}
	put_hex_bytes(s->reply, (const uint8_t *)&r + d->off, d->bits / 8);
	send_packet(s, s->reply, d->bits / 4);
}

static void cmd_write_reg(struct gdb_session *s, const char *p, size_t n)
{
	const char *start = p;
	const struct reg_desc *d;
	struct gdb_regs r;
	uint64_t num;

	if (!parse_hex(&p, &num) || *p++ != '=' || !(d = reg_by_number(num)) ||
	    (size_t)(p - start) + d->bits / 4 != n) {
		reply_error(s, ERR_ARGS);
		return;
	}
	if (s->t.get_regs(s->t.opaque, s->g_cpu, &r) < 0) {
		reply_error(s, ERR_TARGET);
		return;
	}
	if (!get_hex_bytes(p, (uint8_t *)&r + d->off, d->bits / 8)) {
		reply_error(s, ERR_ARGS);
		return;
	}
	reply_str(s, s->t.set_regs(s->t.opaque, s->g_cpu, &r) < 0 ? "E05" : "OK");
}

/* ---- threads ------------------------------------------------------------ */

/* A thread id: -1 (all), 0 (any) or N (vCPU N-1). */
static bool parse_thread(struct gdb_session *s, const char **p, int *cpu)
{
	uint64_t id;

	if ((*p)[0] == '-' && (*p)[1] == '1') {
		*p += 2;
		*cpu = -1;
		return true;
	}
	if (!parse_hex(p, &id))
		return false;
	if (id == 0) {
		*cpu = -1;
		return true;
	}
	if (!cpu_valid(s, id - 1))
		return false;
	*cpu = (int)(id - 1);
	return true;
}

static void cmd_set_thread(struct gdb_session *s, const char *p)
{
	char op = *p++;
	int cpu;

	if ((op != 'g' && op != 'c') || !parse_thread(s, &p, &cpu) || *p) {
		reply_error(s, ERR_ARGS);
		return;
	}
	if (op == 'g')
		s->g_cpu = cpu < 0 ? s->g_cpu : (unsigned)cpu;
	reply_str(s, "OK");
}

static void cmd_thread_alive(struct gdb_session *s, const char *p)
{
	int cpu;
	reply_str(s, parse_thread(s, &p, &cpu) && !*p ? "OK" : "E01");
}

static void cmd_thread_list(struct gdb_session *s)
{
	unsigned n = s->t.ncpus(s->t.opaque);
	size_t len = 0;

	s->reply[len++] = 'm';
	for (unsigned i = 0; i < n && len + 12 < sizeof(s->reply); i++)
		len += (size_t)snprintf(s->reply + len, sizeof(s->reply) - len, "%s%x",
					i ? "," : "", i + 1);
	send_packet(s, s->reply, len);
}

static void cmd_thread_extra(struct gdb_session *s, const char *p)
{
	char text[32];
	int cpu;

	if (!parse_thread(s, &p, &cpu) || *p || cpu < 0) {
		reply_error(s, ERR_ARGS);
		return;
	}
	int n = snprintf(text, sizeof(text), "CPU#%d [%s]", cpu, s->running ? "running" : "halted");
	put_hex_bytes(s->reply, (const uint8_t *)text, (size_t)n);
	send_packet(s, s->reply, 2 * (size_t)n);
}

/* ---- run control -------------------------------------------------------- */

/* c [ADDR], s [ADDR]: resume at ADDR if given. */
static void cmd_continue(struct gdb_session *s, const char *p, bool step)
{
	uint64_t addr;

	if (*p) {
		struct gdb_regs r;
		if (!parse_hex(&p, &addr) || *p ||
		    s->t.get_regs(s->t.opaque, s->g_cpu, &r) < 0) {
			reply_error(s, ERR_ARGS);
			return;
		}
		r.rip = addr;
		s->t.set_regs(s->t.opaque, s->g_cpu, &r);
	}
	resume(s, step ? (int)s->g_cpu : -1);
}

/* vCont;ACTION[:TID];...: one step action (s or S) names the vCPU that
 * steps; every other vCPU continues (c, C, or no action). */
static void cmd_vcont(struct gdb_session *s, const char *p)
{
	int step_cpu = -1;

	while (*p == ';') {
		char a = *++p;
		int cpu = -1;
		p++;
		if (a == 'C' || a == 'S') {
			uint64_t sig;
			if (!parse_hex(&p, &sig)) {
				reply_error(s, ERR_ARGS);
				return;
			}
		} else if (a != 'c' && a != 's') {
			reply_error(s, ERR_ARGS);
			return;
		}
		if (*p == ':') {
			p++;
			if (!parse_thread(s, &p, &cpu)) {
				reply_error(s, ERR_ARGS);
				return;
			}
		}
		if ((a == 's' || a == 'S') && step_cpu < 0)
			step_cpu = cpu >= 0 ? cpu : (int)s->g_cpu;
	}
	if (*p) {
		reply_error(s, ERR_ARGS);
		return;
	}
	resume(s, step_cpu);
}

static void remove_all_breakpoints(struct gdb_session *s)
{
	for (unsigned i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++) {
		struct sw_bp *b = &s->sw[i];
		if (b->used)
			s->t.write_mem(s->t.opaque, s->g_cpu, b->addr, &b->orig, 1);
		b->used = false;
	}
	memset(s->hw, 0, sizeof(s->hw));
}

/* Breakpoints out, debugging off, the guest runs (D, or the client left). */
static void detach(struct gdb_session *s)
{
	struct gdb_debug off = { 0 };
	unsigned n = s->t.ncpus(s->t.opaque);

	if (s->detached)
		return;
	/* A vCPU's debug state changes only while it is parked (KVM would
	 * make us wait for a KVM_RUN that may never end). */
	if (s->running) {
		s->t.stop(s->t.opaque);
		s->running = false;
	}
	remove_all_breakpoints(s);
	for (unsigned i = 0; i < n; i++)
		s->t.set_debug(s->t.opaque, i, &off);
	s->detached = true;
	if (!s->running)
		s->t.resume(s->t.opaque);
	s->running = false;
}

/* ---- breakpoints -------------------------------------------------------- */

static int insert_sw(struct gdb_session *s, uint64_t addr)
{
	static const uint8_t int3 = 0xCC;
	struct sw_bp *free_slot = NULL;
	uint8_t orig;

	if (find_sw(s, addr))
		return 0;
	for (unsigned i = 0; i < GDB_MAX_SW_BREAKPOINTS && !free_slot; i++)
		if (!s->sw[i].used)
			free_slot = &s->sw[i];
	if (!free_slot)
		return ERR_NOSPC;
	if (s->t.read_mem(s->t.opaque, s->g_cpu, addr, &orig, 1) < 0 ||
	    s->t.write_mem(s->t.opaque, s->g_cpu, addr, &int3, 1) < 0)
		return ERR_MEM;
	*free_slot = (struct sw_bp){ true, addr, orig };
	return 0;
}

static int remove_sw(struct gdb_session *s, uint64_t addr)
{
	struct sw_bp *b = find_sw(s, addr);

	if (!b)
		return ERR_ARGS;
	b->used = false;
	return s->t.write_mem(s->t.opaque, s->g_cpu, addr, &b->orig, 1) < 0 ? ERR_MEM : 0;
}

static int insert_hw(struct gdb_session *s, enum bp_type type, uint64_t addr, uint64_t len)
{
	if (type == BP_HW)
		len = 1;
	if (gdb_dr7_bits(0, hw_kind(type), (unsigned)MIN(len, 16u)) < 0 ||
	    (type != BP_HW && (addr & (len - 1))))
		return ERR_ARGS; /* x86 watches 1, 2, 4 or 8 aligned bytes */
	for (unsigned i = 0; i < GDB_HW_SLOTS; i++)
		if (s->hw[i].used && s->hw[i].type == type && s->hw[i].addr == addr &&
		    s->hw[i].len == len)
			return 0;
	for (unsigned i = 0; i < GDB_HW_SLOTS; i++)
		if (!s->hw[i].used) {
			s->hw[i] = (struct hw_bp){ true, type, addr, (unsigned)len };
			return 0;
		}
	return ERR_NOSPC;
}

static int remove_hw(struct gdb_session *s, enum bp_type type, uint64_t addr, uint64_t len)
{
	if (type == BP_HW)
		len = 1;
	for (unsigned i = 0; i < GDB_HW_SLOTS; i++)
		if (s->hw[i].used && s->hw[i].type == type && s->hw[i].addr == addr &&
		    s->hw[i].len == len) {
			s->hw[i].used = false;
			return 0;
		}
	return ERR_ARGS;
}

/* Z/z TYPE,ADDR,KIND. */
static void cmd_breakpoint(struct gdb_session *s, const char *p, bool insert)
{
	uint64_t type, addr, kind;
	int err;

	if (!parse_hex(&p, &type) || *p++ != ',' || !parse_hex(&p, &addr) || *p++ != ',' ||
	    !parse_hex(&p, &kind) || (*p && *p != ';')) {
		reply_error(s, ERR_ARGS);
		return;
	}
	if (type > 4) {
		reply_str(s, ""); /* not supported */
		return;
	}
	if (type == 0)
		err = insert ? insert_sw(s, addr) : remove_sw(s, addr);
	else
		err = insert ? insert_hw(s, (enum bp_type)type, addr, kind)
			     : remove_hw(s, (enum bp_type)type, addr, kind);
	if (err)
		reply_error(s, (unsigned)err);
	else
		reply_str(s, "OK");
}

/* ---- queries ------------------------------------------------------------ */

static bool starts(const char *p, const char *prefix)
{
	return !strncmp(p, prefix, strlen(prefix));
}

/* qXfer:features:read:ANNEX:OFFSET,LENGTH */
static void cmd_xfer_features(struct gdb_session *s, const char *p)
{
	const char annex[] = "target.xml:";
	uint64_t off, len;
	size_t xml_len;
	const char *xml = target_xml(&xml_len);

	if (!starts(p, annex)) {
		reply_error(s, 0); /* no such annex */
		return;
	}
	p += strlen(annex);
	if (!parse_hex(&p, &off) || *p++ != ',' || !parse_hex(&p, &len) || *p) {
		reply_error(s, ERR_ARGS);
		return;
	}
	if (off > xml_len) {
		reply_error(s, ERR_ARGS);
		return;
	}
	/* Escaping may double a byte: keep the reply within our buffers. */
	len = MIN(len, (uint64_t)(sizeof(s->reply) - 2));
	size_t n = (size_t)MIN(len, (uint64_t)(xml_len - off));
	s->reply[0] = off + n < xml_len ? 'm' : 'l';
	memcpy(s->reply + 1, xml + off, n);
	send_packet(s, s->reply, n + 1);
}

static void cmd_query(struct gdb_session *s, const char *p)
{
	if (starts(p, "qSupported"))
		reply_fmt(s, "PacketSize=%x;qXfer:features:read+;vContSupported+", GDB_PACKET_MAX);
	else if (starts(p, "qXfer:features:read:"))
		cmd_xfer_features(s, p + strlen("qXfer:features:read:"));
	else if (!strcmp(p, "qfThreadInfo"))
		cmd_thread_list(s);
	else if (!strcmp(p, "qsThreadInfo"))
		reply_str(s, "l");
	else if (!strcmp(p, "qC"))
		reply_fmt(s, "QC%x", s->g_cpu + 1);
	else if (starts(p, "qAttached"))
		reply_str(s, "1"); /* attached to a machine that was there: D, not k */
	else if (starts(p, "qThreadExtraInfo,"))
		cmd_thread_extra(s, p + strlen("qThreadExtraInfo,"));
	else if (!strcmp(p, "QStartNoAckMode")) {
		reply_str(s, "OK"); /* acknowledged: the last ack goes out with it */
		s->no_ack = true;
	} else
		reply_str(s, "");
}

/* ---- packets ------------------------------------------------------------ */

static void handle_packet(struct gdb_session *s, const char *p, size_t n)
{
	char c = p[0];

	if (s->running && n) {
		/* all-stop: while the machine runs only Ctrl-C is taken */
		reply_error(s, ERR_RUNNING);
		return;
	}
	if (s->detached) {
		/* A client that talks on after D gets a stopped machine again. */
		s->detached = false;
		s->t.stop(s->t.opaque);
		s->stop_signal = SIGNAL_TRAP;
		s->stop_extra[0] = 0;
	}
	switch (c) {
	case '?':
		send_stop_reply(s);
		break;
	case 'g':
		cmd_read_regs(s);
		break;
	case 'G':
		cmd_write_regs(s, p + 1, n - 1);
		break;
	case 'p':
		cmd_read_reg(s, p + 1);
		break;
	case 'P':
		cmd_write_reg(s, p + 1, n - 1);
		break;
	case 'm':
		cmd_read_mem(s, p + 1);
		break;
	case 'M':
		cmd_write_mem_hex(s, p + 1, n - 1);
		break;
	case 'X':
		cmd_write_mem_bin(s, p + 1, n - 1);
		break;
	case 'c':
	case 's':
		cmd_continue(s, p + 1, c == 's');
		break;
	case 'C':
	case 'S': {
		/* the signal is dropped: a PC has none to deliver */
		const char *q = p + 1;
		uint64_t sig;
		if (!parse_hex(&q, &sig) || (*q && *q != ';')) {
			reply_error(s, ERR_ARGS);
			break;
		}
		cmd_continue(s, *q == ';' ? q + 1 : q, c == 'S');
		break;
	}
	case 'v':
		if (!strcmp(p, "vCont?"))
			reply_str(s, "vCont;c;C;s;S");
		else if (starts(p, "vCont;"))
			cmd_vcont(s, p + strlen("vCont"));
		else
			reply_str(s, "");
		break;
	case 'H':
		cmd_set_thread(s, p + 1);
		break;
	case 'T':
		cmd_thread_alive(s, p + 1);
		break;
	case 'q':
	case 'Q':
		cmd_query(s, p);
		break;
	case 'Z':
	case 'z':
		cmd_breakpoint(s, p + 1, c == 'Z');
		break;
	case 'D':
		reply_str(s, "OK");
		detach(s);
		break;
	case 'k':
		detach(s);
		s->t.kill(s->t.opaque);
		break;
	default:
		reply_str(s, ""); /* unknown: gdb falls back or says so */
		break;
	}
}

static void interrupt(struct gdb_session *s)
{
	if (!s->running)
		return;
	s->t.stop(s->t.opaque);
	stopped(s, s->g_cpu, SIGNAL_INT);
}

static void packet_end(struct gdb_session *s, uint8_t csum)
{
	if (s->overflow) {
		/* Longer than the PacketSize we told: refused whole. */
		if (!s->no_ack)
			send_raw(s, "+", 1);
		reply_error(s, ERR_RANGE);
		return;
	}
	if (csum != s->sum && !s->no_ack) {
		send_raw(s, "-", 1); /* gdb sends it again */
		return;
	}
	if (!s->no_ack)
		send_raw(s, "+", 1);
	s->pkt[s->pkt_len] = 0;
	/* A NUL inside (X's binary data aside) ends the text commands early;
	 * they check what follows, so a truncated one is an error. */
	handle_packet(s, s->pkt, s->pkt_len);
}

void gdb_session_input(struct gdb_session *s, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		int d;

		switch (s->rx) {
		case RX_IDLE:
			if (c == '$') {
				s->rx = RX_DATA;
				s->pkt_len = 0;
				s->sum = 0;
				s->overflow = false;
			} else if (c == 0x03) {
				interrupt(s);
			}
			/* '+', '-' and noise between packets: nothing to do (a
			 * '-' would ask for the last reply again; gdb over a
			 * socket never needs it) */
			break;
		case RX_DATA:
			if (c == '#') {
				s->rx = RX_CSUM1;
				break;
			}
			s->sum += (uint8_t)c;
			if (s->pkt_len < GDB_PACKET_MAX)
				s->pkt[s->pkt_len++] = c;
			else
				s->overflow = true;
			break;
		case RX_CSUM1:
			d = hex_digit(c);
			s->csum_hi = (uint8_t)(d < 0 ? 0xff : d);
			s->rx = RX_CSUM2;
			if (d < 0)
				s->sum ^= 0xff; /* a bad digit: the sum cannot match */
			break;
		case RX_CSUM2:
			d = hex_digit(c);
			s->rx = RX_IDLE;
			if (d < 0 || s->csum_hi > 15)
				packet_end(s, (uint8_t)~s->sum);
			else
				packet_end(s, (uint8_t)(s->csum_hi << 4 | d));
			break;
		}
	}
}

struct gdb_session *gdb_session_new(const struct gdb_target *t, gdb_sink_fn *sink, void *opaque)
{
	struct gdb_session *s = xzalloc(sizeof(*s));

	s->t = *t;
	s->sink = sink;
	s->sink_opaque = opaque;
	s->inject_cpu = -1;
	s->stop_signal = SIGNAL_TRAP;
	/* As QEMU's stub: a client that connects finds the machine stopped. */
	s->t.stop(s->t.opaque);
	apply_debug(s, -1);
	return s;
}

void gdb_session_free(struct gdb_session *s)
{
	if (!s)
		return;
	detach(s);
	free(s);
}

/* ---- the server --------------------------------------------------------- */

struct gdb_server {
	struct chan chan;
	struct gdb_target t;
	struct gdb_session *session;
	struct event_source *source;
	bool started;
};

/* Whether the options after the address name 'key' (key or key=...). */
static bool has_option(const char *spec, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = strchr(spec, ','); p; p = strchr(p + 1, ','))
		if (!strncmp(p + 1, key, n) && (p[1 + n] == ',' || p[1 + n] == '=' || !p[1 + n]))
			return true;
	return false;
}

int gdb_parse(const char *spec, struct chan_config *c, char *err, size_t errlen)
{
	char full[512];
	const char *server, *wait;

	/* QEMU's -gdb takes a chardev; its server role is implied. */
	if (strncmp(spec, "tcp:", 4) && strncmp(spec, "unix:", 5))
		return set_err(err, errlen, "'%s': expected tcp:[HOST]:PORT, unix:PATH or none", spec);
	server = has_option(spec, "server") ? "" : ",server=on";
	wait = has_option(spec, "wait") || has_option(spec, "nowait") ? "" : ",wait=off";
	if ((size_t)snprintf(full, sizeof(full), "%s%s%s", spec, server, wait) >= sizeof(full))
		return set_err(err, errlen, "'%s': too long", spec);
	if (chan_parse(full, c, err, errlen) < 0)
		return -1;
	c->spec = spec;
	if (c->wait)
		return set_err(err, errlen, "'%s': wait=on is not supported for -gdb", spec);
	return 0;
}

static void server_sink(void *opaque, const char *data, size_t len)
{
	struct gdb_server *g = opaque;
	chan_write(&g->chan, data, len);
}

static void server_opened(void *opaque)
{
	struct gdb_server *g = opaque;
	g->session = gdb_session_new(&g->t, server_sink, g);
}

static void server_input(void *opaque, const char *buf, size_t len)
{
	struct gdb_server *g = opaque;
	if (g->session)
		gdb_session_input(g->session, buf, len);
}

static void server_closed(void *opaque)
{
	struct gdb_server *g = opaque;
	gdb_session_free(g->session);
	g->session = NULL;
}

static const struct chan_handler server_handler = { server_opened, server_input,
						    server_closed };

struct gdb_server *gdb_server_create(const struct chan_config *cfg, char *err, size_t errlen)
{
	struct gdb_server *g = xzalloc(sizeof(*g));

	if (chan_init(&g->chan, cfg, err, errlen) < 0) {
		free(g);
		return NULL;
	}
	chan_set_handler(&g->chan, &server_handler, g);
	return g;
}

static int source_fill(void *opaque, struct pollfd *fds, int max)
{
	struct gdb_server *g = opaque;
	(void)max;
	return chan_poll_fill(&g->chan, fds);
}

static void source_handle(void *opaque, const struct pollfd *fds, int n)
{
	struct gdb_server *g = opaque;
	(void)n;
	chan_poll_handle(&g->chan, fds);
}

void gdb_server_start(struct gdb_server *g, const struct gdb_target *t, struct event_loop *loop)
{
	g->t = *t;
	g->started = true;
	chan_start(&g->chan);
	g->source = event_source_add(loop, 2, source_fill, source_handle, g);
}

void gdb_server_debug_exit(struct gdb_server *g, unsigned cpu, const struct gdb_debug_exit *e)
{
	if (g && g->session)
		gdb_session_debug_exit(g->session, cpu, e);
}

void gdb_server_reapply(struct gdb_server *g)
{
	if (g && g->session)
		gdb_session_reapply(g->session);
}

bool gdb_server_attached(const struct gdb_server *g)
{
	return g && g->session;
}

void gdb_server_destroy(struct gdb_server *g, bool exiting)
{
	if (!g)
		return;
	if (g->source)
		event_source_remove(g->source);
	/* At exit the machine is gone: the client is just dropped. */
	if (g->session && exiting)
		g->session->detached = true;
	chan_flush(&g->chan, 200);
	chan_close(&g->chan);
	free(g);
}
