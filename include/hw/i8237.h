/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC's two 8237A DMA controllers, their page registers and the EISA
 * high-page registers: ISA DMA channels 0-7 for devices such as a floppy
 * controller or a Sound Blaster.
 *
 *   controller 1, channels 0-3, byte transfers:  ports 0x00-0x0F
 *   controller 2, channels 4-7, word transfers:  ports 0xC0-0xDF (every
 *     register at an even port; A0 is not decoded, odd ports alias)
 *   channel 4 cascades controller 1: channels 0-3 get the bus only while
 *     channel 4 is unmasked, in cascade mode and controller 2 is enabled
 *   page registers 0x81-0x8F (0x80 stays the POST port), high pages
 *     0x480-0x48F: ch0 0x87, ch1 0x83, ch2 0x81, ch3 0x82, ch5 0x8B,
 *     ch6 0x89, ch7 0x8A (the others are plain storage); writing a page
 *     register clears its high page, as EISA does
 *
 * Addresses: an 8-bit channel reaches high_page:page:address (16-bit
 * address, wrapping inside its 64 KiB page); a 16-bit channel counts words,
 * high_page:page[7:1] then address << 1 (wrapping inside 128 KiB). A count
 * register of N means N + 1 bytes (words). Every byte moved is checked
 * against guest RAM (guest_mem): outside it, writes are dropped and reads
 * float (0xFF), and the counters advance as on the bus.
 *
 * Device side (a floppy controller, an SB16): the device claims its
 * channel, raises DREQ while it wants service and moves bytes with
 * i8237_transfer(). Whether a call is served (DACK) depends on the guest's
 * programming: the controller enabled, the channel unmasked and not in
 * cascade mode, and a request: DREQ in single and demand mode (single
 * transfers one unit per DACK on the bus; held DREQ makes them back to
 * back, so both move what the device offers while DREQ is high); in block
 * mode DREQ or the software request starts the block, which then runs to
 * terminal count even if DREQ drops. A transfer stops at terminal count:
 * the status bit is set, a non-auto-init channel masks itself, an
 * auto-init channel reloads its base address and count; the device learns
 * of it through *tc (the EOP a floppy controller or SB16 reacts to). The
 * mode's transfer type decides what the bus does: "write" stores the
 * device's bytes in memory, "read" gives it memory's bytes, "verify" (or a
 * type that does not match the device's direction) moves nothing, the
 * counters still advance, and a reading device gets 0xFF.
 *
 * Memory-to-memory transfers (command bit 0) are not implemented; the
 * temporary register reads the last byte the controller moved.
 *
 * Locking: one mutex covers both controllers and every channel; guest
 * register writes (vCPUs) and transfers (device threads) take it, and a
 * transfer checks and moves every byte under it. A device's kick callback
 * runs without it, so the device may call i8237_transfer from there.
 */
#ifndef VMM_HW_I8237_H
#define VMM_HW_I8237_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

struct guest_mem;

#define I8237_CHANNELS 8

/* Mode register (write to register 0xB). */
#define I8237_MODE_CHANNEL 0x03
#define I8237_MODE_TYPE 0x0C
#define I8237_MODE_VERIFY 0x00
#define I8237_MODE_WRITE 0x04 /* device to memory */
#define I8237_MODE_READ 0x08  /* memory to device */
#define I8237_MODE_AUTOINIT 0x10
#define I8237_MODE_DECREMENT 0x20
#define I8237_MODE_SEL 0xC0
#define I8237_MODE_DEMAND 0x00
#define I8237_MODE_SINGLE 0x40
#define I8237_MODE_BLOCK 0x80
#define I8237_MODE_CASCADE 0xC0

/* Command register (write to register 8). */
#define I8237_CMD_MEM_TO_MEM 0x01
#define I8237_CMD_DISABLE 0x04

enum i8237_dir {
	I8237_TO_MEMORY,   /* the device gives bytes (floppy read, SB16 record) */
	I8237_FROM_MEMORY, /* the device takes bytes (floppy write, SB16 play) */
};

struct i8237;

struct i8237_channel {
	uint16_t base_addr, base_count;
	uint16_t cur_addr, cur_count;
	uint8_t mode;
	bool dreq;         /* the device's request line */
	bool block_active; /* block mode: started, runs to terminal count */
	bool claimed;
	void (*kick)(void *opaque, unsigned ch); /* the channel became ready */
	void *kick_opaque;
};

struct i8237_ctrl {
	struct i8237 *dma;
	unsigned index; /* 0: channels 0-3, 1: channels 4-7 */
	uint8_t command, mask, request, tc_status, temp;
	bool flip_flop; /* false: the next address/count byte is the low one */
	struct io_region io;
};

struct i8237 {
	pthread_mutex_t lock;
	const struct guest_mem *mem;
	struct i8237_channel ch[I8237_CHANNELS];
	struct i8237_ctrl ctrl[2];
	uint8_t page[16];      /* 0x80-0x8F (0x80 itself is the POST port's) */
	uint8_t high_page[16]; /* 0x480-0x48F */
	struct io_region page_io, high_io;
	struct io_bus *pio; /* where i8237_map put the regions */
};

struct i8237 *i8237_create(const struct guest_mem *mem);
/* Unmaps the ports (if mapped) and frees the controllers. */
void i8237_destroy(struct i8237 *d);
/* Maps both controllers, the page and the high-page registers. 0 or -errno. */
int i8237_map(struct i8237 *d, struct io_bus *pio);
/* Power-on state: everything zero, every channel masked. */
void i8237_reset(struct i8237 *d);

struct ss_writer;
struct ss_reader;
/* Saved state (section "i8257", include/savestate.h): every channel's
 * address, count and mode registers, both controllers' command, mask,
 * request, status and flip-flop, the page registers. Claims and kick
 * callbacks are the devices' and stay; a load kicks the channels that are
 * ready after it. false (with the reader's error) leaves d unchanged. */
void i8237_save(struct i8237 *d, struct ss_writer *w, uint32_t instance);
bool i8237_load(struct i8237 *d, struct ss_reader *r, uint32_t instance);

/* A device takes channel 'ch' (one device per channel); 'kick', if not
 * NULL, is called (from the vCPU whose register write did it, without the
 * DMA lock) when the channel becomes ready for the device. 0, or -1 when
 * the channel does not exist, is channel 4 (the cascade) or is taken. */
int i8237_claim(struct i8237 *d, unsigned ch, void (*kick)(void *opaque, unsigned ch),
		void *opaque);
/* The device gives the channel back (its DREQ goes low). */
void i8237_release(struct i8237 *d, unsigned ch);
/* The device's DREQ line. */
void i8237_set_dreq(struct i8237 *d, unsigned ch, bool level);
/* Would a transfer on 'ch' be served now (DACK)? */
bool i8237_ready(struct i8237 *d, unsigned ch);
/* Moves up to 'len' bytes between 'buf' and guest memory as the channel
 * is programmed (a 16-bit channel moves whole words: an odd last byte is
 * left). Returns the bytes the channel clocked: 0 if it is not ready,
 * fewer than 'len' if it reached terminal count (then *tc is set, if
 * tc is not NULL). */
size_t i8237_transfer(struct i8237 *d, unsigned ch, void *buf, size_t len, enum i8237_dir dir,
		      bool *tc);
/* Bytes (8-bit channel) or words (16-bit) left before terminal count. */
uint32_t i8237_remaining(struct i8237 *d, unsigned ch);

#endif
