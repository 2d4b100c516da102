// SPDX-License-Identifier: GPL-2.0-or-later
/* The 8237 DMA controllers, driven as a guest driver programs them
 * (through the port bus) and as an ISA device uses them (DREQ and
 * i8237_transfer): every mode, auto-init, decrement, masking, terminal
 * count, 16-bit channels' word addressing, page and high-page registers,
 * and hostile addresses. */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "bus.h"
#include "bus_access.h"
#include "guest_mem.h"
#include "hw/i8237.h"
#include "memmap.h"
#include "savestate.h"
#include "util.h"

#define RAM_SIZE (32u << 20) /* above 16 MiB, for the high page */

struct fix {
	struct io_bus pio;
	struct guest_mem mem;
	struct i8237 *dma;
	unsigned kicks[I8237_CHANNELS];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	bus_init(&f->pio, "pio");
	assert_int_equal(guest_mem_init(&f->mem, RAM_SIZE), 0);
	f->dma = i8237_create(&f->mem);
	assert_non_null(f->dma);
	assert_int_equal(i8237_map(f->dma, &f->pio), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	i8237_destroy(f->dma);
	bus_destroy(&f->pio);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

static void outb(struct fix *f, uint16_t port, uint8_t v) { bus_wr(&f->pio, port, v, 1); }
static uint8_t inb(struct fix *f, uint16_t port) { return (uint8_t)bus_rd(&f->pio, port, 1); }

/* Ports of a channel's registers, as a driver computes them. */
static uint16_t reg_port(unsigned ch, unsigned reg)
{
	return ch < 4 ? (uint16_t)reg : (uint16_t)(0xC0 + 2 * reg);
}
static uint16_t addr_port(unsigned ch) { return ch < 4 ? (uint16_t)(2 * ch) : (uint16_t)(0xC0 + 4 * (ch - 4)); }
static uint16_t count_port(unsigned ch) { return (uint16_t)(addr_port(ch) + (ch < 4 ? 1 : 2)); }
static const uint16_t page_port[8] = { 0x87, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A };

/* What SeaBIOS does at boot: channel 4 cascades controller 1. */
static void bios_setup(struct fix *f)
{
	outb(f, 0x0D, 0);    /* master clear 1 */
	outb(f, 0xDA, 0);    /* master clear 2 */
	outb(f, 0xD6, 0xC0); /* channel 4: cascade */
	outb(f, 0xD4, 0x00); /* unmask channel 4 */
}

/* Programs 'ch' as Linux's set_dma_* do: mask, mode, flip-flop, address,
 * page, count, then unmask. 'addr' is a byte address. */
static void program(struct fix *f, unsigned ch, uint8_t mode, uint32_t addr, uint32_t len)
{
	unsigned c = ch & 3;
	uint32_t a = ch < 4 ? addr : (addr >> 1) & 0xFFFF;
	uint32_t n = (ch < 4 ? len : len / 2) - 1;

	outb(f, reg_port(ch, 0xA), (uint8_t)(4 | c));
	outb(f, reg_port(ch, 0xB), (uint8_t)(mode | c));
	outb(f, reg_port(ch, 0xC), 0);
	outb(f, addr_port(ch), (uint8_t)a);
	outb(f, addr_port(ch), (uint8_t)(a >> 8));
	outb(f, page_port[ch], (uint8_t)(addr >> 16));
	outb(f, count_port(ch), (uint8_t)n);
	outb(f, count_port(ch), (uint8_t)(n >> 8));
	outb(f, reg_port(ch, 0xA), (uint8_t)c);
}

static uint16_t read16(struct fix *f, uint16_t port, unsigned ch)
{
	outb(f, reg_port(ch, 0xC), 0);
	uint16_t lo = inb(f, port);
	return (uint16_t)(lo | inb(f, port) << 8);
}

static uint8_t *ram(struct fix *f, uint64_t gpa) { return f->mem.ram + gpa; }

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 7);
}

static void test_address_count_flip_flop(void **state)
{
	struct fix *f = *state;

	outb(f, 0x0C, 0);
	outb(f, 0x02, 0x34);
	outb(f, 0x02, 0x12);
	outb(f, 0x03, 0xFF);
	outb(f, 0x03, 0x01);
	assert_int_equal(read16(f, 0x02, 1), 0x1234);
	assert_int_equal(read16(f, 0x03, 1), 0x01FF);
	/* Reads flip too: low, high, low. */
	outb(f, 0x0C, 0);
	assert_int_equal(inb(f, 0x02), 0x34);
	assert_int_equal(inb(f, 0x02), 0x12);
	assert_int_equal(inb(f, 0x02), 0x34);
	/* Controller 2 at even ports; odd ports alias them. */
	outb(f, 0xD8, 0);
	outb(f, 0xC4, 0xCD);
	outb(f, 0xC5, 0xAB);
	assert_int_equal(read16(f, 0xC4, 5), 0xABCD);
	/* Master clear resets the flip-flop. */
	outb(f, 0x0C, 0);
	outb(f, 0x00, 0x11);
	outb(f, 0x0D, 0);
	outb(f, 0x00, 0x22);
	outb(f, 0x00, 0x33);
	assert_int_equal(read16(f, 0x00, 0), 0x3322);
}

static void test_single_mode_to_memory_and_tc(void **state)
{
	struct fix *f = *state;
	uint8_t sector[512], none[4];
	bool tc;

	assert_int_equal(i8237_claim(f->dma, 2, NULL, NULL), 0);
	bios_setup(f);
	program(f, 2, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x12000, 512);
	fill(sector, sizeof(sector), 3);
	/* No DREQ, no DACK. */
	assert_false(i8237_ready(f->dma, 2));
	assert_int_equal(i8237_transfer(f->dma, 2, sector, 512, I8237_TO_MEMORY, &tc), 0);
	i8237_set_dreq(f->dma, 2, true);
	assert_true(i8237_ready(f->dma, 2));
	assert_int_equal(inb(f, 0x08), 0x40); /* request bit of channel 2 */
	assert_int_equal(i8237_transfer(f->dma, 2, sector, 512, I8237_TO_MEMORY, &tc), 512);
	assert_true(tc);
	assert_memory_equal(ram(f, 0x12000), sector, 512);
	assert_int_equal(ram(f, 0x12000 + 512)[0], 0);
	/* Terminal count: status bit (cleared by reading), channel masked,
	 * address past the block, count 0xFFFF. */
	assert_int_equal(inb(f, 0x08), 0x44);
	assert_int_equal(inb(f, 0x08), 0x40);
	assert_int_equal(inb(f, 0x0F) & 0x04, 0x04);
	assert_int_equal(read16(f, 0x04, 2), 0x2200);
	assert_int_equal(read16(f, 0x05, 2), 0xFFFF);
	assert_int_equal(i8237_transfer(f->dma, 2, none, 4, I8237_TO_MEMORY, &tc), 0);
	assert_false(tc);
	/* The temporary register holds the last byte moved. */
	assert_int_equal(inb(f, 0x0D), sector[511]);
}

static void test_cascade_and_enable_gate_controller_one(void **state)
{
	struct fix *f = *state;
	uint8_t b[8] = { 0 };

	program(f, 1, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x3000, 8);
	i8237_set_dreq(f->dma, 1, true);
	/* Channel 4 still masked after reset: controller 1 has no bus. */
	assert_false(i8237_ready(f->dma, 1));
	outb(f, 0xD4, 0x00);
	assert_false(i8237_ready(f->dma, 1)); /* not in cascade mode */
	outb(f, 0xD6, 0xC0);
	assert_true(i8237_ready(f->dma, 1));
	/* Controller 2 disabled (command bit 2), then controller 1. */
	outb(f, 0xD0, I8237_CMD_DISABLE);
	assert_false(i8237_ready(f->dma, 1));
	outb(f, 0xD0, 0);
	outb(f, 0x08, I8237_CMD_DISABLE);
	assert_int_equal(i8237_transfer(f->dma, 1, b, 8, I8237_TO_MEMORY, NULL), 0);
	outb(f, 0x08, 0);
	/* Masking: single mask bit, all-mask register, clear mask. */
	outb(f, 0x0A, 0x05);
	assert_false(i8237_ready(f->dma, 1));
	outb(f, 0x0A, 0x01);
	assert_true(i8237_ready(f->dma, 1));
	outb(f, 0x0F, 0x0F);
	assert_false(i8237_ready(f->dma, 1));
	assert_int_equal(inb(f, 0x0F), 0xFF);
	outb(f, 0x0E, 0);
	assert_true(i8237_ready(f->dma, 1));
	assert_int_equal(inb(f, 0x0F), 0xF0);
	/* A cascade channel never moves data. */
	assert_false(i8237_ready(f->dma, 4));
	i8237_set_dreq(f->dma, 4, true);
	assert_int_equal(i8237_transfer(f->dma, 4, b, 8, I8237_TO_MEMORY, NULL), 0);
}

static void test_demand_mode_pauses_without_dreq(void **state)
{
	struct fix *f = *state;
	uint8_t data[300];
	bool tc;

	bios_setup(f);
	program(f, 3, I8237_MODE_DEMAND | I8237_MODE_WRITE, 0x40000, 300);
	fill(data, sizeof(data), 9);
	i8237_set_dreq(f->dma, 3, true);
	assert_int_equal(i8237_transfer(f->dma, 3, data, 100, I8237_TO_MEMORY, &tc), 100);
	assert_false(tc);
	assert_int_equal(i8237_remaining(f->dma, 3), 200);
	assert_int_equal(read16(f, 0x06, 3), 100);
	assert_int_equal(read16(f, 0x07, 3), 199);
	i8237_set_dreq(f->dma, 3, false);
	assert_int_equal(i8237_transfer(f->dma, 3, data + 100, 200, I8237_TO_MEMORY, &tc), 0);
	/* A software request does not start a demand-mode channel. */
	outb(f, 0x09, 0x04 | 3);
	assert_int_equal(i8237_transfer(f->dma, 3, data + 100, 200, I8237_TO_MEMORY, &tc), 0);
	assert_int_equal(inb(f, 0x08), 0x80); /* the request bit shows */
	i8237_set_dreq(f->dma, 3, true);
	/* More offered than left: stops at terminal count. */
	assert_int_equal(i8237_transfer(f->dma, 3, data + 100, 250, I8237_TO_MEMORY, &tc), 200);
	assert_true(tc);
	assert_memory_equal(ram(f, 0x40000), data, 300);
	/* TC ended the software request too. */
	assert_int_equal(inb(f, 0x08), 0x88);
}

static void test_block_mode_runs_to_tc(void **state)
{
	struct fix *f = *state;
	uint8_t out[64];
	bool tc;

	bios_setup(f);
	fill(ram(f, 0x50000), 64, 1);
	program(f, 1, I8237_MODE_BLOCK | I8237_MODE_READ, 0x50000, 64);
	assert_false(i8237_ready(f->dma, 1));
	/* DREQ starts the block; dropping it does not stop it. */
	i8237_set_dreq(f->dma, 1, true);
	assert_int_equal(i8237_transfer(f->dma, 1, out, 16, I8237_FROM_MEMORY, &tc), 16);
	i8237_set_dreq(f->dma, 1, false);
	assert_true(i8237_ready(f->dma, 1));
	assert_int_equal(i8237_transfer(f->dma, 1, out + 16, 64, I8237_FROM_MEMORY, &tc), 48);
	assert_true(tc);
	assert_memory_equal(out, ram(f, 0x50000), 64);
	assert_false(i8237_ready(f->dma, 1));
	/* A software request starts a block without DREQ. */
	program(f, 1, I8237_MODE_BLOCK | I8237_MODE_READ, 0x50000, 8);
	assert_false(i8237_ready(f->dma, 1));
	outb(f, 0x09, 0x04 | 1);
	assert_true(i8237_ready(f->dma, 1));
	assert_int_equal(i8237_transfer(f->dma, 1, out, 8, I8237_FROM_MEMORY, &tc), 8);
	assert_true(tc);
	assert_false(i8237_ready(f->dma, 1));
	/* Clearing the request bit before it starts cancels it. */
	program(f, 1, I8237_MODE_BLOCK | I8237_MODE_READ, 0x50000, 8);
	outb(f, 0x09, 0x04 | 1);
	outb(f, 0x09, 0x00 | 1);
	assert_false(i8237_ready(f->dma, 1));
}

static void test_auto_init_reloads(void **state)
{
	struct fix *f = *state;
	uint8_t out[150];
	bool tc;

	bios_setup(f);
	fill(ram(f, 0x60000), 100, 5);
	/* An SB16 playing a looped 100-byte buffer. */
	program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, 0x60000, 100);
	i8237_set_dreq(f->dma, 1, true);
	assert_int_equal(i8237_transfer(f->dma, 1, out, 150, I8237_FROM_MEMORY, &tc), 100);
	assert_true(tc);
	assert_memory_equal(out, ram(f, 0x60000), 100);
	/* Not masked; back at the base address and count. */
	assert_true(i8237_ready(f->dma, 1));
	assert_int_equal(read16(f, 0x02, 1), 0x0000);
	assert_int_equal(read16(f, 0x03, 1), 99);
	assert_int_equal(inb(f, 0x08) & 0x0F, 0x02);
	assert_int_equal(i8237_transfer(f->dma, 1, out + 100, 50, I8237_FROM_MEMORY, &tc), 50);
	assert_false(tc);
	assert_memory_equal(out + 100, ram(f, 0x60000), 50);
	assert_int_equal(i8237_remaining(f->dma, 1), 50);
}

static void test_decrement(void **state)
{
	struct fix *f = *state;
	uint8_t data[4] = { 'A', 'B', 'C', 'D' };
	uint16_t words[2] = { 0x1122, 0x3344 };

	bios_setup(f);
	program(f, 0, I8237_MODE_SINGLE | I8237_MODE_WRITE | I8237_MODE_DECREMENT, 0x70100, 4);
	i8237_set_dreq(f->dma, 0, true);
	assert_int_equal(i8237_transfer(f->dma, 0, data, 4, I8237_TO_MEMORY, NULL), 4);
	assert_int_equal(ram(f, 0x70100)[0], 'A');
	assert_int_equal(ram(f, 0x700FF)[0], 'B');
	assert_int_equal(ram(f, 0x700FE)[0], 'C');
	assert_int_equal(ram(f, 0x700FD)[0], 'D');
	assert_int_equal(read16(f, 0x00, 0), 0x00FC);
	/* Decrementing past 0 wraps inside the page. */
	program(f, 0, I8237_MODE_SINGLE | I8237_MODE_WRITE | I8237_MODE_DECREMENT, 0x80000, 2);
	assert_int_equal(i8237_transfer(f->dma, 0, data, 2, I8237_TO_MEMORY, NULL), 2);
	assert_int_equal(ram(f, 0x80000)[0], 'A');
	assert_int_equal(ram(f, 0x8FFFF)[0], 'B');
	/* A 16-bit channel steps by words, each word in order. */
	program(f, 6, I8237_MODE_SINGLE | I8237_MODE_WRITE | I8237_MODE_DECREMENT, 0x90010, 4);
	i8237_set_dreq(f->dma, 6, true);
	assert_int_equal(i8237_transfer(f->dma, 6, words, 4, I8237_TO_MEMORY, NULL), 4);
	assert_int_equal(*(uint16_t *)ram(f, 0x90010), 0x1122);
	assert_int_equal(*(uint16_t *)ram(f, 0x9000E), 0x3344);
}

static void test_verify_and_direction_mismatch(void **state)
{
	struct fix *f = *state;
	uint8_t data[16], out[16];
	bool tc;

	bios_setup(f);
	fill(data, 16, 0x40);
	memset(ram(f, 0xA000), 0x5A, 16);
	program(f, 2, I8237_MODE_SINGLE | I8237_MODE_VERIFY, 0xA000, 16);
	i8237_set_dreq(f->dma, 2, true);
	/* Verify: the counters run, memory is not touched. */
	assert_int_equal(i8237_transfer(f->dma, 2, data, 8, I8237_TO_MEMORY, &tc), 8);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(ram(f, 0xA000)[i], 0x5A);
	assert_int_equal(i8237_transfer(f->dma, 2, out, 8, I8237_FROM_MEMORY, &tc), 8);
	assert_true(tc);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(out[i], 0xFF);
	/* Programmed to read memory, the device offers bytes: none stored. */
	program(f, 2, I8237_MODE_SINGLE | I8237_MODE_READ, 0xA000, 16);
	assert_int_equal(i8237_transfer(f->dma, 2, data, 16, I8237_TO_MEMORY, &tc), 16);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(ram(f, 0xA000)[i], 0x5A);
	/* The illegal transfer type (11) moves nothing either. */
	program(f, 2, I8237_MODE_SINGLE | I8237_MODE_TYPE, 0xA000, 16);
	assert_int_equal(i8237_transfer(f->dma, 2, data, 16, I8237_TO_MEMORY, &tc), 16);
	assert_int_equal(ram(f, 0xA000)[0], 0x5A);
}

static void test_word_channels(void **state)
{
	struct fix *f = *state;
	uint8_t data[10];
	bool tc;

	bios_setup(f);
	fill(data, sizeof(data), 0x10);
	/* Channel 5: page 0x8B bit 0 is ignored, the address counts words. */
	program(f, 5, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x22000, 8);
	outb(f, 0x8B, 0x03);
	assert_int_equal(read16(f, 0xC4, 5), 0x1000);
	assert_int_equal(read16(f, 0xC6, 5), 3);
	i8237_set_dreq(f->dma, 5, true);
	/* An odd last byte is not moved. */
	assert_int_equal(i8237_transfer(f->dma, 5, data, 9, I8237_TO_MEMORY, &tc), 8);
	assert_true(tc);
	assert_memory_equal(ram(f, 0x22000), data, 8);
	assert_int_equal(ram(f, 0x22008)[0], 0);
	assert_int_equal(inb(f, 0xD0), 0x22); /* TC and request of channel 5 */
	/* Word addresses wrap inside 128 KiB: 0xFFFF then 0x0000. */
	program(f, 7, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x3FFFE, 4);
	assert_int_equal(read16(f, 0xCC, 7), 0xFFFF);
	i8237_set_dreq(f->dma, 7, true);
	assert_int_equal(i8237_transfer(f->dma, 7, data, 4, I8237_TO_MEMORY, &tc), 4);
	assert_memory_equal(ram(f, 0x3FFFE), data, 2);
	assert_memory_equal(ram(f, 0x20000), data + 2, 2);
	/* A whole 64 Ki-word count is 128 KiB. */
	outb(f, 0xD4, 4 | 2);
	outb(f, 0xD8, 0);
	outb(f, 0xC8, 0), outb(f, 0xC8, 0);
	outb(f, 0xCA, 0xFF), outb(f, 0xCA, 0xFF);
	outb(f, 0x89, 0x04);
	outb(f, 0xD6, I8237_MODE_SINGLE | I8237_MODE_WRITE | 2);
	outb(f, 0xD4, 2);
	assert_int_equal(i8237_remaining(f->dma, 6), 0x10000);
}

static void test_page_and_high_page(void **state)
{
	struct fix *f = *state;
	uint8_t data[4] = { 1, 2, 3, 4 };

	bios_setup(f);
	program(f, 3, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x050000, 4);
	outb(f, 0x482, 0x01); /* 16 MiB up */
	i8237_set_dreq(f->dma, 3, true);
	assert_int_equal(i8237_transfer(f->dma, 3, data, 4, I8237_TO_MEMORY, NULL), 4);
	assert_memory_equal(ram(f, 0x1050000), data, 4);
	assert_int_equal(ram(f, 0x050000)[0], 0);
	/* Writing the page register clears the high page. */
	assert_int_equal(inb(f, 0x482), 0x01);
	outb(f, 0x82, 0x05);
	assert_int_equal(inb(f, 0x482), 0x00);
	/* Every page and high-page register reads back, the unused ones
	 * included; 0x80 is not ours (the POST port). */
	for (uint16_t p = 0x81; p <= 0x8F; p++) {
		outb(f, p, (uint8_t)(p ^ 0xA5));
		outb(f, (uint16_t)(p + 0x400), (uint8_t)p);
	}
	for (uint16_t p = 0x81; p <= 0x8F; p++) {
		assert_int_equal(inb(f, p), (uint8_t)(p ^ 0xA5));
		assert_int_equal(inb(f, (uint16_t)(p + 0x400)), (uint8_t)p);
	}
	assert_null(bus_find(&f->pio, 0x80));
	assert_non_null(bus_find(&f->pio, 0x480));
	/* A reset clears them. */
	i8237_reset(f->dma);
	assert_int_equal(inb(f, 0x81), 0);
	assert_int_equal(inb(f, 0x48F), 0);
}

static void test_hostile_addresses(void **state)
{
	struct fix *f = *state;
	uint8_t data[64], out[64];
	bool tc;

	bios_setup(f);
	fill(data, sizeof(data), 0x77);
	/* Far outside RAM (4 GiB - 64 KiB): writes dropped, reads float. */
	program(f, 1, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0xFF0000, 64);
	outb(f, 0x483, 0xFF);
	i8237_set_dreq(f->dma, 1, true);
	assert_int_equal(i8237_transfer(f->dma, 1, data, 64, I8237_TO_MEMORY, &tc), 64);
	assert_true(tc);
	program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ, 0xFF0000, 64);
	outb(f, 0x483, 0xFF);
	memset(out, 0, sizeof(out));
	assert_int_equal(i8237_transfer(f->dma, 1, out, 64, I8237_FROM_MEMORY, &tc), 64);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(out[i], 0xFF);
	/* The last bytes of RAM, then the address wraps inside its page. */
	uint32_t end = RAM_SIZE;
	program(f, 1, I8237_MODE_SINGLE | I8237_MODE_WRITE, (end - 4) & 0xFFFFFF, 8);
	outb(f, 0x483, (uint8_t)((end - 4) >> 24));
	assert_int_equal(i8237_transfer(f->dma, 1, data, 8, I8237_TO_MEMORY, &tc), 8);
	assert_memory_equal(ram(f, end - 4), data, 4);
	assert_memory_equal(ram(f, end - 0x10000), data + 4, 4);
	/* Bad channels and buffers. */
	assert_int_equal(i8237_transfer(f->dma, 8, data, 8, I8237_TO_MEMORY, &tc), 0);
	assert_int_equal(i8237_transfer(f->dma, 1, NULL, 8, I8237_TO_MEMORY, &tc), 0);
	assert_false(i8237_ready(f->dma, 99));
	i8237_set_dreq(f->dma, 99, true);
	assert_int_equal(i8237_remaining(f->dma, 99), 0);
	/* A 64 KiB count asked for with a small buffer moves only the buffer. */
	program(f, 1, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x100000, 0x10000);
	assert_int_equal(i8237_transfer(f->dma, 1, data, 64, I8237_TO_MEMORY, &tc), 64);
	assert_false(tc);
	assert_int_equal(i8237_remaining(f->dma, 1), 0x10000 - 64);
}

/* RAM that ends inside a DMA page: a transfer across its end moves the
 * bytes inside, drops the rest and reads 0xFF beyond. */
static void test_transfer_across_end_of_ram(void **state)
{
	enum { SIZE = 0x10006 };
	uint8_t *buf = calloc(1, SIZE), data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[8];
	struct guest_mem mem;
	struct fix f = { 0 };

	guest_mem_init_buffer(&mem, buf, SIZE);
	bus_init(&f.pio, "pio");
	struct i8237 *d = i8237_create(&mem);
	assert_int_equal(i8237_map(d, &f.pio), 0);
	f.dma = d;
	bios_setup(&f);
	program(&f, 1, I8237_MODE_SINGLE | I8237_MODE_WRITE, SIZE - 3, 8);
	i8237_set_dreq(d, 1, true);
	assert_int_equal(i8237_transfer(d, 1, data, 8, I8237_TO_MEMORY, NULL), 8);
	assert_memory_equal(buf + SIZE - 3, data, 3);
	program(&f, 1, I8237_MODE_SINGLE | I8237_MODE_READ, SIZE - 2, 8);
	assert_int_equal(i8237_transfer(d, 1, out, 8, I8237_FROM_MEMORY, NULL), 8);
	assert_int_equal(out[0], 2);
	assert_int_equal(out[1], 3);
	for (unsigned i = 2; i < 8; i++)
		assert_int_equal(out[i], 0xFF);
	i8237_destroy(d);
	bus_destroy(&f.pio);
	free(buf);
}

static void test_master_clear_and_registers(void **state)
{
	struct fix *f = *state;
	uint8_t b = 0x42;

	bios_setup(f);
	program(f, 2, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x1000, 1);
	i8237_set_dreq(f->dma, 2, true);
	assert_int_equal(i8237_transfer(f->dma, 2, &b, 1, I8237_TO_MEMORY, NULL), 1);
	assert_int_equal(inb(f, 0x0D), 0x42);
	outb(f, 0x08, 0x10);
	outb(f, 0x09, 0x04 | 1);
	outb(f, 0x0E, 0);
	outb(f, 0x0D, 0);
	/* Everything masked, status, request and temporary cleared. */
	assert_int_equal(inb(f, 0x0F), 0xFF);
	assert_int_equal(inb(f, 0x08), 0x40); /* only channel 2's DREQ line */
	assert_int_equal(inb(f, 0x0D), 0x00);
	/* Address and mode survive: unmasked, channel 2 runs again. */
	outb(f, 0x0A, 2);
	assert_true(i8237_ready(f->dma, 2));
	/* Write-only registers read as 0xFF. */
	assert_int_equal(inb(f, 0x09), 0xFF);
	assert_int_equal(inb(f, 0x0B), 0xFF);
	assert_int_equal(inb(f, 0x0E), 0xFF);
}

static void kick(void *opaque, unsigned ch)
{
	((struct fix *)opaque)->kicks[ch]++;
}

static void test_claim_and_kick(void **state)
{
	struct fix *f = *state;

	assert_int_equal(i8237_claim(f->dma, 4, kick, f), -1);
	assert_int_equal(i8237_claim(f->dma, 8, kick, f), -1);
	assert_int_equal(i8237_claim(f->dma, 1, kick, f), 0);
	assert_int_equal(i8237_claim(f->dma, 1, kick, f), -1);
	assert_int_equal(i8237_claim(f->dma, 5, kick, f), 0);
	bios_setup(f);
	i8237_set_dreq(f->dma, 1, true);
	i8237_set_dreq(f->dma, 5, true);
	/* The floppy asked first; the driver unmasks the channel last. */
	program(f, 1, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x1000, 16);
	assert_int_equal(f->kicks[1], 1);
	assert_int_equal(f->kicks[5], 0);
	program(f, 5, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x2000, 16);
	assert_int_equal(f->kicks[5], 1);
	/* Register writes that leave it ready kick no more. */
	outb(f, 0x0C, 0);
	outb(f, 0x0A, 1);
	assert_int_equal(f->kicks[1], 1);
	/* Unmasking channel 4 kicks every ready channel of controller 1. */
	outb(f, 0xD4, 4);
	outb(f, 0xD4, 0);
	assert_int_equal(f->kicks[1], 2);
}

/* A device thread moving bytes while a vCPU reprograms the channel with
 * any address, count, page, high page and mode: every transfer uses the
 * state it checked (ASan/TSan watch the accesses), never more than asked. */
struct race {
	struct fix *f;
	atomic_bool stop;
	unsigned long moved, calls;
};

static void *device_loop(void *arg)
{
	struct race *r = arg;
	uint8_t buf[96];

	memset(buf, 0xC3, sizeof(buf));
	while (!atomic_load(&r->stop)) {
		bool tc;
		unsigned ch = r->calls % 2 ? 1 : 5;
		enum i8237_dir dir = r->calls % 3 ? I8237_TO_MEMORY : I8237_FROM_MEMORY;
		size_t n = i8237_transfer(r->f->dma, ch, buf, sizeof(buf), dir, &tc);
		assert_true(n <= sizeof(buf));
		r->moved += n;
		r->calls++;
	}
	return NULL;
}

static void test_transfers_race_register_writes(void **state)
{
	struct fix *f = *state;
	struct race r = { .f = f };
	pthread_t t;
	uint32_t x = 12345;

	bios_setup(f);
	i8237_set_dreq(f->dma, 1, true);
	i8237_set_dreq(f->dma, 5, true);
	assert_int_equal(pthread_create(&t, NULL, device_loop, &r), 0);
	for (unsigned i = 0; i < 20000; i++) {
		x = x * 1103515245u + 12345u;
		unsigned ch = x & 0x100 ? 1 : 5;
		uint8_t mode = (uint8_t)((x >> 9) & 0xFC);
		if ((mode & I8237_MODE_SEL) == I8237_MODE_CASCADE)
			mode &= (uint8_t)~I8237_MODE_SEL;
		program(f, ch, mode, (x >> 3) & 0xFFFFFF, ((x >> 12) & 0x1FF) + 2);
		outb(f, (uint16_t)(page_port[ch] + 0x400), (uint8_t)(x >> 27 ? 0 : x >> 20));
		if (x & 0x8000)
			outb(f, reg_port(ch, 0x9), (uint8_t)(4 | (ch & 3)));
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	assert_true(r.calls > 0);
}

/* With the PC's memory map: what the 8237 writes is in the dirty log (KVM
 * logs only vCPU writes), and a write into a PAM segment that is
 * read-only or on the ROM side is dropped while a read-write one takes it,
 * as the chipset forwards the former to the ROM side. */
static void test_memory_map_dirty_and_pam(void **state)
{
	struct fix *f = *state;
	struct memmap mm;
	uint8_t *bios = calloc(1, 64 << 10);
	uint8_t data[0x4000];
	uint64_t bits[RAM_SIZE / 4096 / 64];
	const unsigned seg_c8000 = 2; /* 0xC8000-0xCBFFF */
	bool tc;

	assert_int_equal(memmap_init(&mm, &f->mem, bios, 64 << 10), 0);
	struct mem_region *low = memmap_find_region(&mm, "ram-below-4g");
	struct mem_region *pam = memmap_find_region(&mm, "pam-c8000");
	assert_int_equal(mem_region_set_log_dirty(low, true), 0);
	assert_int_equal(mem_region_set_log_dirty(pam, true), 0);
	assert_int_equal(i8237_claim(f->dma, 3, NULL, NULL), 0);
	bios_setup(f);
	fill(data, sizeof(data), 9);

	/* Into RAM at 0x12345: its page, and only that, is dirty. */
	program(f, 3, I8237_MODE_BLOCK | I8237_MODE_WRITE, 0x12345, 100);
	i8237_set_dreq(f->dma, 3, true);
	assert_int_equal(i8237_transfer(f->dma, 3, data, 100, I8237_TO_MEMORY, &tc), 100);
	assert_memory_equal(ram(f, 0x12345), data, 100);
	assert_int_equal(mem_region_get_dirty(low, bits, ARRAY_SIZE(bits) * 64), 0);
	for (unsigned p = 0; p < ARRAY_SIZE(bits) * 64; p++)
		assert_int_equal(bits[p / 64] >> (p % 64) & 1, p == 0x12);

	/* PAM 0 (ROM side) and read-only: dropped, nothing dirty. */
	for (int mode = PAM_PCI; mode <= PAM_READ; mode++) {
		assert_int_equal(memmap_set_pam(&mm, seg_c8000, (enum pam_mode)mode), 0);
		program(f, 3, I8237_MODE_BLOCK | I8237_MODE_WRITE, 0xC8000, 0x100);
		assert_int_equal(i8237_transfer(f->dma, 3, data, 0x100, I8237_TO_MEMORY, &tc), 0x100);
		assert_int_equal(ram(f, 0xC8000)[0], 0);
		assert_int_equal(ram(f, 0xC80FF)[0], 0);
		assert_int_equal(mem_region_get_dirty(pam, bits, 4), 0);
		assert_int_equal(bits[0], 0);
	}
	/* Read-write: taken, and dirty in the PAM region. */
	assert_int_equal(memmap_set_pam(&mm, seg_c8000, PAM_RW), 0);
	program(f, 3, I8237_MODE_BLOCK | I8237_MODE_WRITE, 0xC8000, 0x100);
	assert_int_equal(i8237_transfer(f->dma, 3, data, 0x100, I8237_TO_MEMORY, &tc), 0x100);
	assert_memory_equal(ram(f, 0xC8000), data, 0x100);
	assert_int_equal(mem_region_get_dirty(pam, bits, 4), 0);
	assert_int_equal(bits[0], 1);
	/* A run across the edge of a writable segment into a read-only one
	 * (0xCBF80-0xCC07F, 0xCC000 read-only): the first half only. */
	assert_int_equal(memmap_set_pam(&mm, seg_c8000 + 1, PAM_READ), 0);
	memset(ram(f, 0xCBF80), 0, 0x100);
	program(f, 3, I8237_MODE_BLOCK | I8237_MODE_WRITE, 0xCBF80, 0x100);
	assert_int_equal(i8237_transfer(f->dma, 3, data, 0x100, I8237_TO_MEMORY, &tc), 0x100);
	assert_memory_equal(ram(f, 0xCBF80), data, 0x80);
	assert_int_equal(ram(f, 0xCC000)[0], 0);
	assert_int_equal(ram(f, 0xCC07F)[0], 0);
	memmap_destroy(&mm);
	free(bios);
}

/* Saved state: an auto-init transfer stopped halfway, saved, loaded into a
 * fresh pair, saved again: the same bytes; the loaded pair then goes on
 * from where the first stopped, and reloads at terminal count. */
static void save_dma(struct i8237 *d, struct ss_writer *w)
{
	ss_writer_init(w);
	i8237_save(d, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

static void test_save_load_round_trip(void **state)
{
	struct fix *f = *state;
	struct ss_writer w1, w2;
	struct ss_reader r;
	uint8_t out[100];
	bool tc;

	bios_setup(f);
	fill(ram(f, 0x60000), 100, 9);
	program(f, 1, I8237_MODE_SINGLE | I8237_MODE_READ | I8237_MODE_AUTOINIT, 0x60000, 100);
	i8237_set_dreq(f->dma, 1, true);
	assert_int_equal(i8237_transfer(f->dma, 1, out, 40, I8237_FROM_MEMORY, &tc), 40);
	outb(f, 0x0C, 0);
	outb(f, 0x06, 0x55); /* channel 3's address: the flip-flop left on the high byte */
	save_dma(f->dma, &w1);

	struct i8237 *g = i8237_create(&f->mem);
	assert_non_null(g);
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(i8237_load(g, &r, 0));
	ss_reader_close(&r);
	save_dma(g, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	/* Both pairs move the same next 60 bytes and reach terminal count. */
	uint8_t a[60], b[60];
	assert_int_equal(i8237_transfer(f->dma, 1, a, 60, I8237_FROM_MEMORY, &tc), 60);
	assert_true(tc);
	assert_int_equal(i8237_transfer(g, 1, b, 60, I8237_FROM_MEMORY, &tc), 60);
	assert_true(tc);
	assert_memory_equal(a, b, 60);
	assert_memory_equal(b, ram(f, 0x60000) + 40, 60);
	assert_int_equal(i8237_remaining(g, 1), 100); /* auto-init reloaded */
	ss_writer_free(&w1);
	ss_writer_free(&w2);
	i8237_destroy(g);
}

/* A stream with an impossible mask (bits above the four channels) or a
 * missing field is refused, and the pair keeps its registers. */
static void test_load_refuses_bad_state(void **state)
{
	struct fix *f = *state;
	struct ss_writer w;
	struct ss_reader r;

	bios_setup(f);
	program(f, 2, I8237_MODE_SINGLE | I8237_MODE_WRITE, 0x12000, 64);
	ss_writer_init(&w);
	ss_section_begin(&w, "i8257", 0, 1);
	ss_put_array(&w, "ch", I8237_CHANNELS);
	for (unsigned i = 0; i < I8237_CHANNELS; i++) {
		ss_put_elem_begin(&w, "ch", i);
		ss_put_u16(&w, "base_addr", 0);
		ss_put_u16(&w, "base_count", 0);
		ss_put_u16(&w, "cur_addr", 0);
		ss_put_u16(&w, "cur_count", 0);
		ss_put_u8(&w, "mode", 0);
		ss_put_bool(&w, "dreq", false);
		ss_put_bool(&w, "block_active", false);
		ss_put_elem_end(&w);
	}
	ss_put_array(&w, "ctrl", 2);
	for (unsigned i = 0; i < 2; i++) {
		ss_put_elem_begin(&w, "ctrl", i);
		ss_put_u8(&w, "command", 0);
		ss_put_u8(&w, "mask", 0xF0); /* no register write leaves this */
		ss_put_u8(&w, "request", 0);
		ss_put_u8(&w, "tc_status", 0);
		ss_put_u8(&w, "temp", 0);
		ss_put_bool(&w, "flip_flop", false);
		ss_put_elem_end(&w);
	}
	uint8_t pages[16] = { 0 };
	ss_put_bytes(&w, "page", pages, sizeof(pages));
	ss_put_bytes(&w, "high_page", pages, sizeof(pages));
	ss_section_end(&w);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_false(i8237_load(f->dma, &r, 0));
	assert_non_null(strstr(r.err, "invalid mask"));
	ss_reader_close(&r);
	ss_writer_free(&w);
	/* Unchanged: channel 2 still holds its address and count. */
	assert_int_equal(i8237_remaining(f->dma, 2), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_address_count_flip_flop),
		T(test_single_mode_to_memory_and_tc),
		T(test_cascade_and_enable_gate_controller_one),
		T(test_demand_mode_pauses_without_dreq),
		T(test_block_mode_runs_to_tc),
		T(test_auto_init_reloads),
		T(test_decrement),
		T(test_verify_and_direction_mismatch),
		T(test_word_channels),
		T(test_page_and_high_page),
		T(test_hostile_addresses),
		T(test_master_clear_and_registers),
		cmocka_unit_test(test_transfer_across_end_of_ram),
		T(test_transfers_race_register_writes),
		T(test_claim_and_kick),
		T(test_memory_map_dirty_and_pam),
		T(test_save_load_round_trip),
		T(test_load_refuses_bad_state),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
