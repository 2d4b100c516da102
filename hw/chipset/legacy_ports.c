// SPDX-License-Identifier: GPL-2.0-or-later
/* The PC's tiny fixed-port devices: port 0x92 (fast A20 / fast reset), the
 * POST code port 0x80, the debug console (-debugcon) and isa-debug-exit. */
#include "hw/chipset.h"
#include "savestate.h"
#include "util.h"

#define PORT92_RESET 0x01

static uint64_t port92_read(void *opaque, uint64_t off, unsigned size)
{
	return ((struct port92 *)opaque)->value;
}

static void port92_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct port92 *s = opaque;
	uint8_t old = s->value;

	/* KVM has no A20 gate; bit 1 is stored so it reads back. */
	s->value = (uint8_t)v & ~PORT92_RESET;
	if ((v & PORT92_RESET) && !(old & PORT92_RESET)) {
		debug("port 0x92: fast reset");
		s->board.reset(s->board.opaque);
	}
}

static const struct io_ops port92_ops = { .read = port92_read, .write = port92_write,
					  .max_size = 1 };

int port92_init(struct port92 *s, struct io_bus *pio, struct board_control board)
{
	s->value = 0;
	s->board = board;
	io_region_init(&s->io, "port92", &port92_ops, s, 1);
	return bus_map(pio, &s->io, 0x92);
}

void port92_reset(struct port92 *s)
{
	s->value = 0;
}

/* Saved state: the A20 bit as the guest last wrote it. */
void port92_save(struct port92 *s, struct ss_writer *w, uint32_t instance)
{
	ss_section_begin(w, "port92", instance, 1);
	ss_put_u8(w, "value", s->value);
	ss_section_end(w);
}

bool port92_load(struct port92 *s, struct ss_reader *r, uint32_t instance)
{
	uint8_t v = 0;
	if (!ss_section_open(r, "port92", instance, 1, 1, NULL))
		return false;
	ss_get_u8(r, "value", &v);
	if (!ss_section_close(r))
		return false;
	if (v & PORT92_RESET)
		return ss_fail(r, "saved state: port92: the reset bit is never stored");
	s->value = v;
	return true;
}

static uint64_t post_read(void *opaque, uint64_t off, unsigned size)
{
	return 0xFF;
}

static void post_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	((struct post_port *)opaque)->last = (uint8_t)v;
}

static const struct io_ops post_ops = { .read = post_read, .write = post_write, .max_size = 1 };

int post_port_init(struct post_port *s, struct io_bus *pio)
{
	s->last = 0;
	io_region_init(&s->io, "post", &post_ops, s, 1);
	return bus_map(pio, &s->io, 0x80);
}

static uint64_t debugcon_read(void *opaque, uint64_t off, unsigned size)
{
	return ((struct debugcon *)opaque)->readback;
}

static void debugcon_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct debugcon *s = opaque;
	uint8_t byte = (uint8_t)v;

	if (s->out)
		s->out(s->out_opaque, &byte, 1);
}

static const struct io_ops debugcon_ops = { .read = debugcon_read, .write = debugcon_write,
					    .max_size = 1 };

int debugcon_init(struct debugcon *s, struct io_bus *pio, uint16_t port, uint8_t readback,
		  void (*out)(void *opaque, const uint8_t *buf, size_t len), void *out_opaque)
{
	s->readback = readback;
	s->out = out;
	s->out_opaque = out_opaque;
	io_region_init(&s->io, "isa-debugcon", &debugcon_ops, s, 1);
	return bus_map(pio, &s->io, port);
}

static void debug_exit_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
	struct debug_exit *s = opaque;
	s->board.exit(s->board.opaque, (int)(((v & 0xFFFFFFFF) << 1) | 1) & 0xFF);
}

static uint64_t debug_exit_read(void *opaque, uint64_t off, unsigned size)
{
	return ~0ULL;
}

static const struct io_ops debug_exit_ops = { .read = debug_exit_read,
					      .write = debug_exit_write, .max_size = 4 };

int debug_exit_init(struct debug_exit *s, struct io_bus *pio, uint16_t base, uint16_t size,
		    struct board_control board)
{
	s->board = board;
	io_region_init(&s->io, "isa-debug-exit", &debug_exit_ops, s, size);
	return bus_map(pio, &s->io, base);
}
