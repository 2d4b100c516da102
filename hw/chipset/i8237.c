// SPDX-License-Identifier: GPL-2.0-or-later
/* The two 8237A DMA controllers of the PC with their page and high-page
 * registers (see include/hw/i8237.h for the model and the device side). */
#include "hw/i8237.h"

#include <stdlib.h>
#include <string.h>

#include "guest_mem.h"
#include "savestate.h"

/* Controller registers (port offset on controller 1, offset / 2 on 2). */
#define REG_STATUS_COMMAND 0x8
#define REG_REQUEST 0x9
#define REG_SINGLE_MASK 0xA
#define REG_MODE 0xB
#define REG_CLEAR_FLIP_FLOP 0xC
#define REG_MASTER_CLEAR 0xD /* read: temporary register */
#define REG_CLEAR_MASK 0xE
#define REG_ALL_MASK 0xF

#define CASCADE_CHANNEL 4

/* Offset of each channel's page register in 0x80-0x8F (and 0x480-0x48F). */
static const uint8_t page_offset[I8237_CHANNELS] = { 0x7, 0x3, 0x1, 0x2, 0xF, 0xB, 0x9, 0xA };

static bool is_word_channel(unsigned ch)
{
	return ch >= 4;
}

static struct i8237_ctrl *ctrl_of(struct i8237 *d, unsigned ch)
{
	return &d->ctrl[ch / 4];
}

static uint8_t mode_sel(const struct i8237_channel *c)
{
	return c->mode & I8237_MODE_SEL;
}

/* The request the controller sees on 'ch': DREQ, or in block mode the
 * software request bit or a block already started. */
static bool requested(struct i8237 *d, unsigned ch)
{
	const struct i8237_channel *c = &d->ch[ch];

	if (c->dreq)
		return true;
	if (mode_sel(c) != I8237_MODE_BLOCK)
		return false;
	return c->block_active || (ctrl_of(d, ch)->request & (1u << (ch % 4)));
}

/* Can the controller give 'ch' the bus (apart from a request)? */
static bool channel_enabled(struct i8237 *d, unsigned ch)
{
	const struct i8237_ctrl *k = ctrl_of(d, ch);

	if (k->command & I8237_CMD_DISABLE)
		return false;
	if (k->mask & (1u << (ch % 4)))
		return false;
	if (mode_sel(&d->ch[ch]) == I8237_MODE_CASCADE)
		return false;
	if (ch < 4) {
		/* Controller 1 reaches the bus through channel 4. */
		const struct i8237_ctrl *k2 = &d->ctrl[1];
		if (k2->command & I8237_CMD_DISABLE || k2->mask & 1 ||
		    mode_sel(&d->ch[CASCADE_CHANNEL]) != I8237_MODE_CASCADE)
			return false;
	}
	return true;
}

static bool channel_ready(struct i8237 *d, unsigned ch)
{
	return channel_enabled(d, ch) && requested(d, ch);
}

/* Channels a device could be served on, one bit each. */
static unsigned ready_set(struct i8237 *d)
{
	unsigned set = 0;
	for (unsigned ch = 0; ch < I8237_CHANNELS; ch++)
		if (d->ch[ch].claimed && channel_ready(d, ch))
			set |= 1u << ch;
	return set;
}

/* Calls the kick of every channel in 'set' (the DMA lock not held). */
static void kick_channels(struct i8237 *d, unsigned set)
{
	for (unsigned ch = 0; ch < I8237_CHANNELS; ch++) {
		if (!(set & (1u << ch)))
			continue;
		pthread_mutex_lock(&d->lock);
		void (*kick)(void *, unsigned) = d->ch[ch].kick;
		void *opaque = d->ch[ch].kick_opaque;
		pthread_mutex_unlock(&d->lock);
		if (kick)
			kick(opaque, ch);
	}
}

/* ---- moving bytes ---------------------------------------------------------- */

/* Guest address of unit 'addr' of channel 'ch'. */
static uint64_t unit_gpa(struct i8237 *d, unsigned ch, uint16_t addr)
{
	uint64_t high = (uint64_t)d->high_page[page_offset[ch]] << 24;
	uint8_t page = d->page[page_offset[ch]];

	if (is_word_channel(ch))
		return high | (uint64_t)(page & 0xFE) << 16 | (uint64_t)addr << 1;
	return high | (uint64_t)page << 16 | addr;
}

/* A write of guest memory the memory map allows (not outside RAM, not a
 * PAM segment that is read-only or on the ROM side), seen by dirty
 * logging; elsewhere it is dropped. */
static void write_mem(struct i8237 *d, uint64_t gpa, const uint8_t *buf, uint64_t len)
{
	uint8_t *p = guest_ptr_write(d->mem, gpa, len);

	if (!p)
		return;
	memcpy(p, buf, len);
	guest_mark_dirty(d->mem, gpa, len);
}

/* One unit (1 or 2 bytes) between buf and guest RAM; outside RAM a write
 * is dropped and a read floats. */
static void move_unit(struct i8237 *d, uint64_t gpa, uint8_t *buf, unsigned unit, bool to_mem)
{
	if (to_mem)
		write_mem(d, gpa, buf, unit);
	else if (!guest_read(d->mem, gpa, buf, unit))
		memset(buf, 0xFF, unit);
}

/* A run of 'n' units at increasing addresses that does not wrap. */
static void move_run(struct i8237 *d, uint64_t gpa, uint8_t *buf, uint32_t n, unsigned unit,
		     bool to_mem)
{
	uint64_t len = (uint64_t)n * unit;
	uint8_t *p = to_mem ? guest_ptr_write(d->mem, gpa, len) : guest_ptr(d->mem, gpa, len);

	if (p) {
		if (to_mem) {
			memcpy(p, buf, len);
			guest_mark_dirty(d->mem, gpa, len);
		} else {
			memcpy(buf, p, len);
		}
		return;
	}
	/* Partly outside RAM (or a write partly into read-only PAM): unit by
	 * unit, each checked on its own. */
	for (uint32_t i = 0; i < n; i++)
		move_unit(d, gpa + (uint64_t)i * unit, buf + (size_t)i * unit, unit, to_mem);
}

/* Moves 'n' units (n <= the count left) and advances the address. */
static void move_units(struct i8237 *d, unsigned ch, uint8_t *buf, uint32_t n, bool to_mem,
		       bool from_mem)
{
	struct i8237_channel *c = &d->ch[ch];
	unsigned unit = is_word_channel(ch) ? 2 : 1;
	bool down = c->mode & I8237_MODE_DECREMENT;

	if (!to_mem && !from_mem) {
		/* verify, or a cycle the device did not ask for */
		c->cur_addr = (uint16_t)(down ? c->cur_addr - n : c->cur_addr + n);
		return;
	}
	while (n) {
		uint32_t run = 1;
		if (!down) {
			run = 0x10000u - c->cur_addr; /* up to the wrap */
			if (run > n)
				run = n;
			move_run(d, unit_gpa(d, ch, c->cur_addr), buf, run, unit, to_mem);
			c->cur_addr = (uint16_t)(c->cur_addr + run);
		} else {
			move_unit(d, unit_gpa(d, ch, c->cur_addr), buf, unit, to_mem);
			c->cur_addr--;
		}
		buf += (size_t)run * unit;
		n -= run;
	}
}

/* Terminal count on 'ch': status, end of the request, reload or mask. */
static void terminal_count(struct i8237 *d, unsigned ch)
{
	struct i8237_channel *c = &d->ch[ch];
	struct i8237_ctrl *k = ctrl_of(d, ch);
	uint8_t bit = (uint8_t)(1u << (ch % 4));

	k->tc_status |= bit;
	k->request &= (uint8_t)~bit;
	c->block_active = false;
	if (c->mode & I8237_MODE_AUTOINIT) {
		c->cur_addr = c->base_addr;
		c->cur_count = c->base_count;
	} else {
		k->mask |= bit;
	}
}

size_t i8237_transfer(struct i8237 *d, unsigned ch, void *buf, size_t len, enum i8237_dir dir,
		      bool *tc)
{
	if (tc)
		*tc = false;
	if (ch >= I8237_CHANNELS || !buf)
		return 0;
	unsigned unit = is_word_channel(ch) ? 2 : 1;

	pthread_mutex_lock(&d->lock);
	struct i8237_channel *c = &d->ch[ch];
	if (!channel_ready(d, ch)) {
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	if (mode_sel(c) == I8237_MODE_BLOCK)
		c->block_active = true;
	uint8_t type = c->mode & I8237_MODE_TYPE;
	bool to_mem = dir == I8237_TO_MEMORY && type == I8237_MODE_WRITE;
	bool from_mem = dir == I8237_FROM_MEMORY && type == I8237_MODE_READ;
	uint32_t left = (uint32_t)c->cur_count + 1;
	uint32_t n = len / unit > left ? left : (uint32_t)(len / unit);

	if (dir == I8237_FROM_MEMORY && !from_mem)
		memset(buf, 0xFF, (size_t)n * unit); /* nothing drove the bus */
	move_units(d, ch, buf, n, to_mem, from_mem);
	if (n)
		ctrl_of(d, ch)->temp = ((uint8_t *)buf)[(size_t)n * unit - 1];
	c->cur_count = (uint16_t)(c->cur_count - n);
	bool reached = n == left;
	if (reached)
		terminal_count(d, ch);
	pthread_mutex_unlock(&d->lock);
	if (tc)
		*tc = reached;
	return (size_t)n * unit;
}

uint32_t i8237_remaining(struct i8237 *d, unsigned ch)
{
	if (ch >= I8237_CHANNELS)
		return 0;
	pthread_mutex_lock(&d->lock);
	uint32_t left = (uint32_t)d->ch[ch].cur_count + 1;
	pthread_mutex_unlock(&d->lock);
	return left;
}

bool i8237_ready(struct i8237 *d, unsigned ch)
{
	if (ch >= I8237_CHANNELS)
		return false;
	pthread_mutex_lock(&d->lock);
	bool ready = channel_ready(d, ch);
	pthread_mutex_unlock(&d->lock);
	return ready;
}

void i8237_set_dreq(struct i8237 *d, unsigned ch, bool level)
{
	if (ch >= I8237_CHANNELS)
		return;
	pthread_mutex_lock(&d->lock);
	d->ch[ch].dreq = level;
	pthread_mutex_unlock(&d->lock);
}

int i8237_claim(struct i8237 *d, unsigned ch, void (*kick)(void *opaque, unsigned ch),
		void *opaque)
{
	int ret = -1;

	if (ch >= I8237_CHANNELS || ch == CASCADE_CHANNEL)
		return -1;
	pthread_mutex_lock(&d->lock);
	if (!d->ch[ch].claimed) {
		d->ch[ch].claimed = true;
		d->ch[ch].kick = kick;
		d->ch[ch].kick_opaque = opaque;
		ret = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void i8237_release(struct i8237 *d, unsigned ch)
{
	if (ch >= I8237_CHANNELS)
		return;
	pthread_mutex_lock(&d->lock);
	d->ch[ch].claimed = false;
	d->ch[ch].dreq = false;
	d->ch[ch].kick = NULL;
	d->ch[ch].kick_opaque = NULL;
	pthread_mutex_unlock(&d->lock);
}

/* ---- guest registers -------------------------------------------------------- */

/* Address and count registers are 16 bits through an 8-bit port: the
 * flip-flop says which half the next access is, and every access flips it. */
static bool next_is_high(struct i8237_ctrl *k)
{
	bool high = k->flip_flop;
	k->flip_flop = !k->flip_flop;
	return high;
}

static uint16_t set_half(uint16_t v, uint8_t byte, bool high)
{
	return high ? (uint16_t)((v & 0x00FF) | byte << 8) : (uint16_t)((v & 0xFF00) | byte);
}

static void write_addr_count(struct i8237_ctrl *k, unsigned reg, uint8_t v)
{
	struct i8237_channel *c = &k->dma->ch[k->index * 4 + reg / 2];
	bool high = next_is_high(k);

	/* A write sets the base and the current register together. */
	if (reg & 1) {
		c->base_count = set_half(c->base_count, v, high);
		c->cur_count = c->base_count;
	} else {
		c->base_addr = set_half(c->base_addr, v, high);
		c->cur_addr = c->base_addr;
	}
}

static uint8_t read_addr_count(struct i8237_ctrl *k, unsigned reg)
{
	const struct i8237_channel *c = &k->dma->ch[k->index * 4 + reg / 2];
	uint16_t v = reg & 1 ? c->cur_count : c->cur_addr;

	return next_is_high(k) ? (uint8_t)(v >> 8) : (uint8_t)v;
}

static void master_clear(struct i8237_ctrl *k)
{
	k->command = 0;
	k->request = 0;
	k->tc_status = 0;
	k->temp = 0;
	k->flip_flop = false;
	k->mask = 0x0F;
	for (unsigned i = 0; i < 4; i++)
		k->dma->ch[k->index * 4 + i].block_active = false;
}

static void write_control(struct i8237_ctrl *k, unsigned reg, uint8_t v)
{
	struct i8237_channel *c = &k->dma->ch[k->index * 4 + (v & 3)];
	uint8_t bit = (uint8_t)(1u << (v & 3));

	switch (reg) {
	case REG_STATUS_COMMAND:
		k->command = v;
		break;
	case REG_REQUEST:
		if (v & 4)
			k->request |= bit;
		else
			k->request &= (uint8_t)~bit;
		break;
	case REG_SINGLE_MASK:
		if (v & 4)
			k->mask |= bit;
		else
			k->mask &= (uint8_t)~bit;
		break;
	case REG_MODE:
		c->mode = v & (uint8_t)~I8237_MODE_CHANNEL;
		c->block_active = false;
		break;
	case REG_CLEAR_FLIP_FLOP:
		k->flip_flop = false;
		break;
	case REG_MASTER_CLEAR:
		master_clear(k);
		break;
	case REG_CLEAR_MASK:
		k->mask = 0;
		break;
	case REG_ALL_MASK:
		k->mask = v & 0x0F;
		break;
	}
}

static uint8_t read_status(struct i8237_ctrl *k)
{
	uint8_t req = k->request;

	for (unsigned i = 0; i < 4; i++)
		if (k->dma->ch[k->index * 4 + i].dreq)
			req |= (uint8_t)(1u << i);
	uint8_t v = (uint8_t)(k->tc_status | req << 4);
	k->tc_status = 0; /* reading the status clears the TC bits */
	return v;
}

/* Register index of a port offset: controller 2's registers sit at even
 * ports (A0 not decoded). */
static unsigned reg_of(const struct i8237_ctrl *k, uint64_t off)
{
	return (unsigned)(k->index ? off >> 1 : off) & 0xF;
}

static uint64_t ctrl_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8237_ctrl *k = opaque;
	unsigned reg = reg_of(k, off);
	uint8_t v = 0xFF;

	pthread_mutex_lock(&k->dma->lock);
	if (reg < REG_STATUS_COMMAND)
		v = read_addr_count(k, reg);
	else if (reg == REG_STATUS_COMMAND)
		v = read_status(k);
	else if (reg == REG_MASTER_CLEAR)
		v = k->temp;
	else if (reg == REG_ALL_MASK)
		v = 0xF0 | k->mask;
	pthread_mutex_unlock(&k->dma->lock);
	return v;
}

static void ctrl_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct i8237_ctrl *k = opaque;
	struct i8237 *d = k->dma;
	unsigned reg = reg_of(k, off);

	pthread_mutex_lock(&d->lock);
	unsigned before = ready_set(d);
	if (reg < REG_STATUS_COMMAND)
		write_addr_count(k, reg, (uint8_t)value);
	else
		write_control(k, reg, (uint8_t)value);
	unsigned now_ready = ready_set(d) & ~before;
	pthread_mutex_unlock(&d->lock);
	kick_channels(d, now_ready);
}

static const struct io_ops ctrl_ops = { .read = ctrl_read, .write = ctrl_write, .max_size = 1 };

/* The page region starts at 0x81: 0x80 is the POST port. */
static uint64_t page_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8237 *d = opaque;
	pthread_mutex_lock(&d->lock);
	uint8_t v = d->page[(off + 1) & 0xF];
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void page_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct i8237 *d = opaque;
	unsigned reg = (unsigned)(off + 1) & 0xF;

	pthread_mutex_lock(&d->lock);
	d->page[reg] = (uint8_t)value;
	d->high_page[reg] = 0; /* an ISA driver's page write means "below 16 MiB" */
	pthread_mutex_unlock(&d->lock);
}

static const struct io_ops page_ops = { .read = page_read, .write = page_write, .max_size = 1 };

static uint64_t high_read(void *opaque, uint64_t off, unsigned size)
{
	struct i8237 *d = opaque;
	pthread_mutex_lock(&d->lock);
	uint8_t v = d->high_page[off & 0xF];
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void high_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	struct i8237 *d = opaque;
	pthread_mutex_lock(&d->lock);
	d->high_page[off & 0xF] = (uint8_t)value;
	pthread_mutex_unlock(&d->lock);
}

static const struct io_ops high_ops = { .read = high_read, .write = high_write, .max_size = 1 };

/* ---- saved state --------------------------------------------------------- */

#define I8237_STATE_VERSION 1

void i8237_save(struct i8237 *d, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&d->lock);
	ss_section_begin(w, "i8257", instance, I8237_STATE_VERSION);
	ss_put_array(w, "ch", I8237_CHANNELS);
	for (unsigned i = 0; i < I8237_CHANNELS; i++) {
		const struct i8237_channel *c = &d->ch[i];
		ss_put_elem_begin(w, "ch", i);
		ss_put_u16(w, "base_addr", c->base_addr);
		ss_put_u16(w, "base_count", c->base_count);
		ss_put_u16(w, "cur_addr", c->cur_addr);
		ss_put_u16(w, "cur_count", c->cur_count);
		ss_put_u8(w, "mode", c->mode);
		ss_put_bool(w, "dreq", c->dreq);
		ss_put_bool(w, "block_active", c->block_active);
		ss_put_elem_end(w);
	}
	ss_put_array(w, "ctrl", 2);
	for (unsigned i = 0; i < 2; i++) {
		const struct i8237_ctrl *k = &d->ctrl[i];
		ss_put_elem_begin(w, "ctrl", i);
		ss_put_u8(w, "command", k->command);
		ss_put_u8(w, "mask", k->mask);
		ss_put_u8(w, "request", k->request);
		ss_put_u8(w, "tc_status", k->tc_status);
		ss_put_u8(w, "temp", k->temp);
		ss_put_bool(w, "flip_flop", k->flip_flop);
		ss_put_elem_end(w);
	}
	ss_put_bytes(w, "page", d->page, sizeof(d->page));
	ss_put_bytes(w, "high_page", d->high_page, sizeof(d->high_page));
	ss_section_end(w);
	pthread_mutex_unlock(&d->lock);
}

bool i8237_load(struct i8237 *d, struct ss_reader *r, uint32_t instance)
{
	struct i8237_channel ch[I8237_CHANNELS];
	struct i8237_ctrl ctrl[2];
	uint8_t page[16], high_page[16];
	uint32_t n = 0;

	memset(ch, 0, sizeof(ch));
	memset(ctrl, 0, sizeof(ctrl));
	if (!ss_section_open(r, "i8257", instance, 1, I8237_STATE_VERSION, NULL))
		return false;
	ss_get_array(r, "ch", I8237_CHANNELS, &n);
	if (ss_ok(r) && n != I8237_CHANNELS)
		return ss_fail(r, "saved state: i8257 %u: %u channels, not %u", instance, n,
			       I8237_CHANNELS);
	for (unsigned i = 0; i < I8237_CHANNELS && ss_ok(r); i++) {
		ss_get_elem_begin(r, "ch", i);
		ss_get_u16(r, "base_addr", &ch[i].base_addr);
		ss_get_u16(r, "base_count", &ch[i].base_count);
		ss_get_u16(r, "cur_addr", &ch[i].cur_addr);
		ss_get_u16(r, "cur_count", &ch[i].cur_count);
		ss_get_u8(r, "mode", &ch[i].mode);
		ss_get_bool(r, "dreq", &ch[i].dreq);
		ss_get_bool(r, "block_active", &ch[i].block_active);
		ss_get_elem_end(r);
	}
	ss_get_array(r, "ctrl", 2, &n);
	if (ss_ok(r) && n != 2)
		return ss_fail(r, "saved state: i8257 %u: %u controllers, not 2", instance, n);
	for (unsigned i = 0; i < 2 && ss_ok(r); i++) {
		ss_get_elem_begin(r, "ctrl", i);
		ss_get_u8(r, "command", &ctrl[i].command);
		ss_get_u8(r, "mask", &ctrl[i].mask);
		ss_get_u8(r, "request", &ctrl[i].request);
		ss_get_u8(r, "tc_status", &ctrl[i].tc_status);
		ss_get_u8(r, "temp", &ctrl[i].temp);
		ss_get_bool(r, "flip_flop", &ctrl[i].flip_flop);
		ss_get_elem_end(r);
	}
	ss_get_bytes(r, "page", page, sizeof(page));
	ss_get_bytes(r, "high_page", high_page, sizeof(high_page));
	if (!ss_section_close(r))
		return false;
	/* Four channels per controller: wider mask or request bits are values
	 * no register write could leave. */
	for (unsigned i = 0; i < 2; i++)
		if ((ctrl[i].mask | ctrl[i].request) & ~0xfu)
			return ss_fail(r, "saved state: i8257 %u: controller %u: invalid mask %#x "
				       "or request %#x", instance, i, ctrl[i].mask, ctrl[i].request);

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < I8237_CHANNELS; i++) {
		struct i8237_channel *c = &d->ch[i];
		c->base_addr = ch[i].base_addr, c->base_count = ch[i].base_count;
		c->cur_addr = ch[i].cur_addr, c->cur_count = ch[i].cur_count;
		c->mode = ch[i].mode;
		c->dreq = ch[i].dreq;
		c->block_active = ch[i].block_active;
	}
	for (unsigned i = 0; i < 2; i++) {
		struct i8237_ctrl *k = &d->ctrl[i];
		k->command = ctrl[i].command, k->mask = ctrl[i].mask;
		k->request = ctrl[i].request, k->tc_status = ctrl[i].tc_status;
		k->temp = ctrl[i].temp, k->flip_flop = ctrl[i].flip_flop;
	}
	memcpy(d->page, page, sizeof(page));
	memcpy(d->high_page, high_page, sizeof(high_page));
	unsigned ready = ready_set(d);
	pthread_mutex_unlock(&d->lock);
	kick_channels(d, ready);
	return true;
}

/* ---- life cycle ---------------------------------------------------------- */

void i8237_reset(struct i8237 *d)
{
	pthread_mutex_lock(&d->lock);
	for (unsigned ch = 0; ch < I8237_CHANNELS; ch++) {
		struct i8237_channel *c = &d->ch[ch];
		c->base_addr = c->base_count = c->cur_addr = c->cur_count = 0;
		c->mode = 0;
		c->block_active = false;
		/* DREQ is the device's: its own reset lowers it. */
	}
	for (unsigned i = 0; i < 2; i++)
		master_clear(&d->ctrl[i]);
	memset(d->page, 0, sizeof(d->page));
	memset(d->high_page, 0, sizeof(d->high_page));
	pthread_mutex_unlock(&d->lock);
}

struct i8237 *i8237_create(const struct guest_mem *mem)
{
	struct i8237 *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	pthread_mutex_init(&d->lock, NULL);
	d->mem = mem;
	for (unsigned i = 0; i < 2; i++) {
		d->ctrl[i].dma = d;
		d->ctrl[i].index = i;
		io_region_init(&d->ctrl[i].io, i ? "dma2" : "dma1", &ctrl_ops, &d->ctrl[i],
			       i ? 0x20 : 0x10);
	}
	io_region_init(&d->page_io, "dma-page", &page_ops, d, 0xF);
	io_region_init(&d->high_io, "dma-high-page", &high_ops, d, 0x10);
	i8237_reset(d);
	return d;
}

static void unmap_all(struct i8237 *d)
{
	struct io_region *r[] = { &d->ctrl[0].io, &d->ctrl[1].io, &d->page_io, &d->high_io };
	for (unsigned i = 0; i < 4; i++)
		if (r[i]->mapped)
			bus_unmap(d->pio, r[i]);
}

int i8237_map(struct i8237 *d, struct io_bus *pio)
{
	d->pio = pio;
	int ret = bus_map(pio, &d->ctrl[0].io, 0x00);
	if (!ret)
		ret = bus_map(pio, &d->ctrl[1].io, 0xC0);
	if (!ret)
		ret = bus_map(pio, &d->page_io, 0x81);
	if (!ret)
		ret = bus_map(pio, &d->high_io, 0x480);
	if (ret)
		unmap_all(d);
	return ret;
}

void i8237_destroy(struct i8237 *d)
{
	if (!d)
		return;
	if (d->pio)
		unmap_all(d);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
