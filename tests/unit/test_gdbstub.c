// SPDX-License-Identifier: GPL-2.0-or-later
/* The gdb stub's protocol layer (src/control/gdbstub.c) against a fake
 * two-vCPU target: framing, acks and checksums, hostile packets, registers,
 * memory, breakpoints (the INT3 bytes and the debug registers it programs),
 * run control, threads and detach. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub.h"

#define FAKE_CPUS 2
#define MEM_BASE 0x1000u
#define MEM_SIZE 0x10000u

struct fake {
	struct gdb_regs regs[FAKE_CPUS];
	uint8_t mem[MEM_SIZE];
	struct gdb_debug debug[FAKE_CPUS];
	int set_debug_calls;
	int stops, resumes, kills;
	bool running;
	size_t largest_access;
	char out[65536];
	size_t out_len;
};

static unsigned f_ncpus(void *o) { (void)o; return FAKE_CPUS; }

static int f_get_regs(void *o, unsigned cpu, struct gdb_regs *r)
{
	struct fake *f = o;
	assert_true(cpu < FAKE_CPUS);
	*r = f->regs[cpu];
	return 0;
}

static int f_set_regs(void *o, unsigned cpu, const struct gdb_regs *r)
{
	struct fake *f = o;
	assert_true(cpu < FAKE_CPUS);
	f->regs[cpu] = *r;
	return 0;
}

static bool in_mem(uint64_t va, size_t len)
{
	return va >= MEM_BASE && len <= MEM_SIZE && va - MEM_BASE <= MEM_SIZE - len;
}

static int f_read(void *o, unsigned cpu, uint64_t va, void *buf, size_t len)
{
	struct fake *f = o;
	f->largest_access = len > f->largest_access ? len : f->largest_access;
	if (!in_mem(va, len))
		return -1;
	memcpy(buf, f->mem + (va - MEM_BASE), len);
	return 0;
}

static int f_write(void *o, unsigned cpu, uint64_t va, const void *buf, size_t len)
{
	struct fake *f = o;
	f->largest_access = len > f->largest_access ? len : f->largest_access;
	if (!in_mem(va, len))
		return -1;
	memcpy(f->mem + (va - MEM_BASE), buf, len);
	return 0;
}

static int f_set_debug(void *o, unsigned cpu, const struct gdb_debug *d)
{
	struct fake *f = o;
	assert_true(cpu < FAKE_CPUS);
	assert_false(f->running); /* only ever on a stopped machine */
	f->debug[cpu] = *d;
	f->set_debug_calls++;
	return 0;
}

static void f_stop(void *o) { struct fake *f = o; f->stops++; f->running = false; }
static void f_resume(void *o) { struct fake *f = o; f->resumes++; f->running = true; }
static void f_kill(void *o) { ((struct fake *)o)->kills++; }

static void f_sink(void *o, const char *data, size_t len)
{
	struct fake *f = o;
	assert_true(f->out_len + len <= sizeof(f->out));
	memcpy(f->out + f->out_len, data, len);
	f->out_len += len;
}

static struct fake *fake;
static struct gdb_session *sess;

static int setup(void **state)
{
	fake = calloc(1, sizeof(*fake));
	for (unsigned c = 0; c < FAKE_CPUS; c++) {
		for (int i = 0; i < 16; i++)
			fake->regs[c].gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1) + c;
		fake->regs[c].rip = 0xFFFFFFFF81000000ull + c;
		fake->regs[c].eflags = 0x246;
	}
	for (unsigned i = 0; i < MEM_SIZE; i++)
		fake->mem[i] = (uint8_t)(i * 7);
	struct gdb_target t = { f_ncpus, f_get_regs, f_set_regs, f_read, f_write, f_set_debug,
				f_stop, f_resume, f_kill, fake };
	sess = gdb_session_new(&t, f_sink, fake);
	(void)state;
	return 0;
}

static int teardown(void **state)
{
	gdb_session_free(sess);
	free(fake);
	(void)state;
	return 0;
}

static void feed(const char *bytes, size_t len)
{
	gdb_session_input(sess, bytes, len);
}

/* Sends one packet with a correct checksum; clears the output first. */
static void send_pkt(const char *data)
{
	char buf[12000];
	uint8_t sum = 0;
	size_t n = strlen(data);

	assert_true(n + 4 < sizeof(buf));
	for (size_t i = 0; i < n; i++)
		sum += (uint8_t)data[i];
	int len = snprintf(buf, sizeof(buf), "$%s#%02x", data, sum);
	fake->out_len = 0;
	feed(buf, (size_t)len);
}

/* The output must be one well-formed packet, after a "+" when it answers
 * one; its data (unescaped). */
static const char *packet_out(size_t start)
{
	static char data[65536];
	size_t n = 0;
	uint8_t sum = 0;

	assert_true(fake->out_len >= start + 4);
	assert_int_equal(fake->out[start], '$');
	size_t i = start + 1;
	for (; i < fake->out_len && fake->out[i] != '#'; i++) {
		char c = fake->out[i];
		sum += (uint8_t)c;
		if (c == '}') {
			i++;
			sum += (uint8_t)fake->out[i];
			c = (char)(fake->out[i] ^ 0x20);
		}
		data[n++] = c;
	}
	assert_true(i + 3 == fake->out_len);
	char hex[3] = { fake->out[i + 1], fake->out[i + 2], 0 };
	assert_int_equal(strtoul(hex, NULL, 16), sum);
	data[n] = 0;
	return data;
}

static const char *reply(void)
{
	assert_true(fake->out_len >= 1);
	assert_int_equal(fake->out[0], '+');
	return packet_out(1);
}

static void expect(const char *pkt, const char *want)
{
	send_pkt(pkt);
	assert_string_equal(reply(), want);
}

/* ---- framing ------------------------------------------------------------- */

static void test_connect_stops_machine(void **state)
{
	assert_int_equal(fake->stops, 1);
	expect("?", "T05thread:1;");
}

static void test_bad_checksum_is_nacked(void **state)
{
	fake->out_len = 0;
	feed("$g#00", 5);
	assert_int_equal(fake->out_len, 1);
	assert_int_equal(fake->out[0], '-');
	fake->out_len = 0;
	feed("$g#zz", 5); /* not even hex */
	assert_int_equal(fake->out_len, 1);
	assert_int_equal(fake->out[0], '-');
	/* the next good packet is served */
	expect("qC", "QC1");
}

static void test_oversize_packet_is_refused_whole(void **state)
{
	size_t n = GDB_PACKET_MAX + 1000;
	char *big = malloc(n + 5);

	big[0] = '$';
	big[1] = 'M';
	memset(big + 2, '0', n - 1);
	memcpy(big + n + 1, "#00", 3);
	fake->out_len = 0;
	feed(big, n + 4);
	assert_string_equal(reply(), "E22");
	free(big);
	assert_int_equal(fake->largest_access, 0); /* nothing reached memory */
	expect("qC", "QC1");
}

static void test_bytes_split_anywhere(void **state)
{
	const char *pkt = "$qC#b4";
	fake->out_len = 0;
	for (size_t i = 0; i < strlen(pkt); i++)
		feed(pkt + i, 1);
	assert_string_equal(reply(), "QC1");
}

static void test_no_ack_mode(void **state)
{
	expect("QStartNoAckMode", "OK");
	fake->out_len = 0;
	feed("$qC#b4", 6);
	assert_true(fake->out_len > 0);
	assert_int_equal(fake->out[0], '$'); /* no '+' any more */
}

/* ---- queries and the target description ---------------------------------- */

static void test_qsupported_and_target_xml(void **state)
{
	char xml[20000] = "";
	size_t off = 0;

	send_pkt("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+");
	const char *r = reply();
	assert_non_null(strstr(r, "PacketSize=1000"));
	assert_non_null(strstr(r, "qXfer:features:read+"));
	/* read it in small pieces, as gdb does with a small PacketSize */
	for (int guard = 0; guard < 1000; guard++) {
		char q[96];
		snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,100", off);
		send_pkt(q);
		r = reply();
		assert_true(r[0] == 'm' || r[0] == 'l');
		assert_true(strlen(r + 1) <= 0x100);
		assert_true(off + strlen(r + 1) < sizeof(xml));
		strcat(xml, r + 1);
		off += strlen(r + 1);
		if (r[0] == 'l')
			break;
	}
	assert_non_null(strstr(xml, "<architecture>i386:x86-64</architecture>"));
	const char *names[] = { "rax", "r15", "rip", "eflags", "gs", "st7", "fop", "xmm15",
				"mxcsr", "fs_base", "gs_base", "cr0", "cr3", "cr4", "efer" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char pat[40];
		snprintf(pat, sizeof(pat), "name=\"%s\"", names[i]);
		assert_non_null(strstr(xml, pat));
	}
	assert_non_null(strstr(xml, "org.gnu.gdb.i386.core"));
	assert_non_null(strstr(xml, "org.gnu.gdb.i386.sse"));
	expect("qXfer:features:read:other.xml:0,100", "E00");
	expect("qXfer:features:read:target.xml:ffffff,100", "E01");
	expect("qXfer:features:read:target.xml:0", "E01");
}

static void test_unknown_packets_get_empty_reply(void **state)
{
	expect("vMustReplyEmpty", "");
	expect("qTStatus", "");
	expect("!", "");
	expect("Z9,1000,1", "");
}

/* ---- registers ------------------------------------------------------------ */

static void test_registers(void **state)
{
	send_pkt("g");
	const char *r = reply();
	/* rax little-endian first, then rbx */
	assert_memory_equal(r, "1111111111111111" "2222222222222222", 32);
	/* 16 GPRs + rip + eflags + 6 segments + 8 x 80-bit + 8 x 32 + 16 x 128
	 * + mxcsr + 3 bases + 6 control registers */
	size_t want = 2 * (16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4 + 3 * 8 + 6 * 8);
	assert_int_equal(strlen(r), want);
	expect("p10", "00000081ffffffff"); /* rip */
	expect("p11", "46020000");         /* eflags */
	expect("p42", "E01");              /* past the last register */
	expect("pfffffffffffffffff", "E01"); /* 17 digits */
	expect("P10=0010000000000000", "OK");
	assert_int_equal(fake->regs[0].rip, 0x1000);
	expect("P10=00", "E01"); /* too short */
	/* G writes back what g read */
	char g[2000];
	send_pkt("g");
	snprintf(g, sizeof(g), "G%s", reply());
	fake->regs[0].gpr[3] = 0;
	expect(g, "OK");
	assert_int_equal(fake->regs[0].gpr[3], 0x4444444444444444ull);
	expect("G00", "E01");
}

/* ---- memory ---------------------------------------------------------------- */

static void test_memory_read_write(void **state)
{
	expect("m1000,4", "00070e15");
	expect("M1000,2:abcd", "OK");
	assert_int_equal(fake->mem[0], 0xab);
	assert_int_equal(fake->mem[1], 0xcd);
	expect("m1000,0", "");
	expect("M1000,2:abc", "E01");   /* odd data */
	expect("M1000,2:abcdef", "E01"); /* more than the length */
	expect("M1000,2:zzzz", "E01");
	expect("m10", "E01");
	expect("m,4", "E01");
	/* binary: '}' escapes '#', '$', '}' and '*' */
	send_pkt("X1004,3:a}\x5d}\x03");
	assert_string_equal(reply(), "OK");
	assert_int_equal(fake->mem[4], 'a');
	assert_int_equal(fake->mem[5], '}');
	assert_int_equal(fake->mem[6], '#');
	expect("X1004,0:", "OK");
	expect("X1004,2:a", "E01");
	expect("X1004,1:ab", "E01");
	expect("X1004,1:}", "E01");
}

static void test_memory_hostile_lengths(void **state)
{
	fake->largest_access = 0;
	expect("m1000,ffffffffffffffff", "E22");
	expect("m1000,801", "E22");
	expect("Mffffffffffffffff,ffffffff:00", "E22");
	expect("X1000,100000:", "E22");
	assert_int_equal(fake->largest_access, 0);
	/* the largest allowed read is served whole */
	send_pkt("m1000,800");
	assert_int_equal(strlen(reply()), 2 * GDB_MEM_MAX);
	/* not mapped, or wrapping past the top of the address space */
	expect("m0,4", "E0e");
	expect("mfffffffffffffffe,4", "E0e");
	expect("M20000,1:00", "E0e");
}

/* ---- breakpoints ----------------------------------------------------------- */

static void test_sw_breakpoint_hidden_and_restored(void **state)
{
	uint8_t orig = fake->mem[0x10];

	expect("Z0,1010,1", "OK");
	assert_int_equal(fake->mem[0x10], 0xCC);
	char want[16];
	snprintf(want, sizeof(want), "%02x", orig);
	expect("m1010,1", want); /* gdb sees the guest's byte */
	/* a write over it changes what comes back, and the INT3 stays */
	expect("M1010,1:90", "OK");
	assert_int_equal(fake->mem[0x10], 0xCC);
	expect("m1010,1", "90");
	expect("Z0,1010,1", "OK"); /* twice: one breakpoint */
	expect("z0,1010,1", "OK");
	assert_int_equal(fake->mem[0x10], 0x90);
	expect("z0,1010,1", "E01");
	expect("Z0,20000,1", "E0e"); /* unmapped */
	expect("Z0,1010", "E01");
}

static void test_sw_breakpoint_table_is_bounded(void **state)
{
	char pkt[40];
	for (unsigned i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++) {
		snprintf(pkt, sizeof(pkt), "Z0,%x,1", 0x2000 + i);
		expect(pkt, "OK");
	}
	expect("Z0,3000,1", "E1c");
}

static void test_hw_breakpoints_program_debug_registers(void **state)
{
	expect("Z1,ffffffff81000000,1", "OK");
	expect("Z2,2000,4", "OK");
	expect("Z3,3000,8", "OK");
	expect("Z4,4001,1", "OK");
	expect("Z1,5000,1", "E1c"); /* four slots */
	expect("Z2,2002,4", "E01"); /* not aligned */
	expect("Z2,2000,3", "E01"); /* no such length */
	send_pkt("c");
	assert_int_equal(fake->out_len, 1); /* the '+'; the stop reply comes later */
	const struct gdb_debug *d = &fake->debug[1];
	assert_true(d->enable && d->hw_bp && !d->sw_bp && !d->single_step);
	assert_int_equal(d->dr[0], 0xffffffff81000000ull);
	assert_int_equal(d->dr[1], 0x2000);
	assert_int_equal(d->dr[2], 0x3000);
	assert_int_equal(d->dr[3], 0x4001);
	/* G0..G3; slot 0 exec len 1; 1 write 4 bytes; 2 access 8; 3 access 1 */
	uint64_t dr7 = 2 | 8 | 32 | 128 | (1ull << 20) | (3ull << 22) | (3ull << 24) | (2ull << 26) |
		       (3ull << 28);
	assert_int_equal(d->dr7, dr7);
	assert_int_equal(gdb_dr7_bits(4, 0, 1), -1);
	/* a write watch fires: gdb learns where */
	struct gdb_debug_exit e = { .exception = 1, .dr6 = 0xffff0ff2, .pc = 0x1234 };
	fake->out_len = 0;
	fake->running = false; /* the board stops the machine before telling */
	gdb_session_debug_exit(sess, 1, &e);
	assert_string_equal(packet_out(0), "T05watch:2000;thread:2;");
}

/* ---- run control and threads ------------------------------------------------ */

static void test_step_one_vcpu_and_stop_reply(void **state)
{
	expect("vCont?", "vCont;c;C;s;S");
	send_pkt("vCont;s:2;c");
	assert_int_equal(fake->out_len, 1);
	assert_true(fake->running);
	assert_true(fake->debug[1].single_step);
	assert_false(fake->debug[0].single_step);
	/* while it runs, only Ctrl-C is taken */
	expect("g", "E10");
	struct gdb_debug_exit e = { .exception = 1, .dr6 = 0xffff4ff0, .pc = 0x1001 };
	fake->out_len = 0;
	fake->running = false; /* the board stopped it before telling */
	gdb_session_debug_exit(sess, 1, &e);
	assert_string_equal(packet_out(0), "T05thread:2;");
	expect("qC", "QC2"); /* gdb follows the vCPU that stopped */
	/* a stale exit after the stop changes nothing */
	fake->out_len = 0;
	gdb_session_debug_exit(sess, 0, &e);
	assert_int_equal(fake->out_len, 0);
	expect("vCont;x", "E01");
	expect("vCont;s:9", "E01");
	send_pkt("s");
	assert_true(fake->debug[1].single_step);
}

static void test_ctrl_c_interrupts(void **state)
{
	int stops = fake->stops;
	feed("\x03", 1); /* stopped already: nothing */
	assert_int_equal(fake->stops, stops);
	send_pkt("c");
	fake->out_len = 0;
	feed("\x03", 1);
	assert_int_equal(fake->stops, stops + 1);
	assert_string_equal(packet_out(0), "T02thread:1;");
}

static void test_guest_int3_is_reinjected(void **state)
{
	expect("Z0,1010,1", "OK");
	send_pkt("c");
	int resumes = fake->resumes;
	struct gdb_debug_exit e = { .exception = 3, .pc = 0x1020 }; /* not ours */
	fake->out_len = 0;
	fake->running = false;
	gdb_session_debug_exit(sess, 1, &e);
	assert_int_equal(fake->out_len, 0); /* gdb hears nothing */
	assert_int_equal(fake->resumes, resumes + 1);
	assert_int_equal(fake->debug[1].inject, 3);
	assert_int_equal(fake->debug[0].inject, 0);
	e.pc = 0x1010; /* ours */
	fake->running = false;
	gdb_session_debug_exit(sess, 0, &e);
	assert_string_equal(packet_out(0), "T05thread:1;");
}

static void test_threads(void **state)
{
	expect("qfThreadInfo", "m1,2");
	expect("qsThreadInfo", "l");
	expect("Hg2", "OK");
	send_pkt("g");
	assert_memory_equal(reply(), "1211111111111111", 16); /* vCPU 1's rax */
	expect("Hg3", "E01");
	expect("Hc-1", "OK");
	expect("Hx1", "E01");
	expect("T2", "OK");
	expect("T3", "E01");
	expect("T0", "OK");
	/* "CPU#1 [halted]" in hex */
	expect("qThreadExtraInfo,2", "43505523312" "05b68616c7465645d");
	expect("qThreadExtraInfo,9", "E01");
}

static void test_detach_restores_and_resumes(void **state)
{
	uint8_t orig = fake->mem[0x10];
	expect("Z0,1010,1", "OK");
	expect("Z1,1020,1", "OK");
	int resumes = fake->resumes;
	expect("D", "OK");
	assert_int_equal(fake->mem[0x10], orig);
	assert_false(fake->debug[0].enable);
	assert_false(fake->debug[1].enable);
	assert_int_equal(fake->resumes, resumes + 1);
}

static void test_detach_while_running_stops_first(void **state)
{
	send_pkt("c");
	assert_true(fake->running);
	/* the client goes away with the machine running: debug state changes
	 * only on a stopped machine (f_set_debug asserts it) */
	gdb_session_free(sess);
	sess = NULL;
	assert_true(fake->running);
	assert_false(fake->debug[0].enable);
}

static void test_kill(void **state)
{
	send_pkt("k");
	assert_int_equal(fake->kills, 1);
}

static void test_frame_escapes(void **state)
{
	char out[32];
	size_t n = gdb_frame("a#b", 3, out, sizeof(out));
	out[n] = 0;
	/* '#' goes as '}' then '#' ^ 0x20; the sum covers what is sent */
	uint8_t sum = (uint8_t)('a' + '}' + 0x03 + 'b');
	char want[16];
	snprintf(want, sizeof(want), "$a}\x03" "b#%02x", sum);
	assert_string_equal(out, want);
	assert_int_equal(gdb_frame("abc", 3, out, 5), 0);
}

static void test_parse(void **state)
{
	struct chan_config c;
	char err[256];

	assert_int_equal(gdb_parse("tcp::1234", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, CHAN_TCP);
	assert_string_equal(c.port, "1234");
	assert_false(c.wait);
	assert_int_equal(gdb_parse("tcp:127.0.0.1:4321", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(gdb_parse("unix:/tmp/g.sock,server", &c, err, sizeof(err)), 0);
	assert_int_equal(c.kind, CHAN_UNIX);
	assert_int_equal(gdb_parse("unix:/tmp/g.sock", &c, err, sizeof(err)), 0);
	/* "server" in the path is not the option */
	assert_int_equal(gdb_parse("unix:/tmp/gdbserver/serverwait.sock", &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, "/tmp/gdbserver/serverwait.sock");
	assert_int_equal(gdb_parse("tcp::1234,server=on,nowait", &c, err, sizeof(err)), 0);
	assert_int_equal(gdb_parse("udp::1234", &c, err, sizeof(err)), -1);
	assert_int_equal(gdb_parse("tcp::99999", &c, err, sizeof(err)), -1);
	assert_int_equal(gdb_parse("tcp::1234,server=on,wait=on", &c, err, sizeof(err)), -1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_connect_stops_machine),
		T(test_bad_checksum_is_nacked),
		T(test_oversize_packet_is_refused_whole),
		T(test_bytes_split_anywhere),
		T(test_no_ack_mode),
		T(test_qsupported_and_target_xml),
		T(test_unknown_packets_get_empty_reply),
		T(test_registers),
		T(test_memory_read_write),
		T(test_memory_hostile_lengths),
		T(test_sw_breakpoint_hidden_and_restored),
		T(test_sw_breakpoint_table_is_bounded),
		T(test_hw_breakpoints_program_debug_registers),
		T(test_step_one_vcpu_and_stop_reply),
		T(test_ctrl_c_interrupts),
		T(test_guest_int3_is_reinjected),
		T(test_threads),
		T(test_detach_restores_and_resumes),
		T(test_detach_while_running_stops_first),
		T(test_kill),
		T(test_frame_escapes),
		T(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
