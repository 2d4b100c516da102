// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * i8042 keyboard controller, PS/2 keyboard and PS/2 mouse, written from the
 * public descriptions of the 8042 command set and of the PS/2 keyboard and
 * mouse protocols. See include/hw/i8042.h.
 */
#include "hw/i8042.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"
#include "savestate.h"
#include "util.h"

/* Status register. */
#define ST_OBF     0x01
#define ST_IBF     0x02
#define ST_SYS     0x04
#define ST_A2      0x08 /* last write went to the command port */
#define ST_UNLOCK  0x10 /* keyboard not inhibited by the key lock */
#define ST_AUXB    0x20 /* output buffer holds mouse data */

/* Configuration ("command") byte. */
#define CFG_KBD_INT  0x01
#define CFG_AUX_INT  0x02
#define CFG_SYS      0x04
#define CFG_KBD_DIS  0x10
#define CFG_AUX_DIS  0x20
#define CFG_XLATE    0x40

#define CFG_DEFAULT  (CFG_KBD_INT | CFG_SYS | CFG_XLATE)

/* Output port. */
#define OUT_RESET_N  0x01 /* 0 = hold the CPU in reset */
#define OUT_A20      0x02
#define OUT_DEFAULT  (OUT_RESET_N | OUT_A20)

#define ACK    0xfa
#define RESEND 0xfe

#define QSIZE 64

struct queue {
	uint8_t data[QSIZE];
	bool aux[QSIZE];      /* controller queue: which buffer the byte fills */
	unsigned head, count, limit;
};

struct ps2_kbd {
	struct queue q;       /* limit 16, like a real keyboard buffer */
	bool scanning;
	unsigned set;         /* 1, 2 or 3 (3 reports like 2) */
	uint8_t pending;      /* command awaiting its parameter, or 0 */
	uint8_t leds, typematic, last;
	bool xlate_break;     /* translator saw F0 */
	bool set1_break;      /* set-1 conversion saw F0 */
};

/* The mouse's ID byte (command F2h): what the sample-rate knocks select. */
enum { MOUSE_ID_STANDARD = 0, MOUSE_ID_WHEEL = 3, MOUSE_ID_EXPLORER = 4 };

struct ps2_mouse {
	struct queue q;
	bool reporting, remote, wrap, scale21;
	uint8_t pending;
	uint8_t rate, resolution, type, last;
	uint8_t rate_hist[3];
	unsigned buttons;
	int dx, dy, dz;       /* accumulated, PS/2 orientation (y up) */
};

struct i8042 {
	pthread_mutex_t lock;
	struct io_region data_region, cmd_region;
	struct irq_line kbd_irq, aux_irq;
	void (*reset_request)(void *opaque);
	void *opaque;
	int kbd_level, aux_level;

	uint8_t ram[32];      /* ram[0] is the config byte */
	uint8_t status;       /* A2 and SYS tracking; OBF/AUXB derived */
	uint8_t out_port;
	uint8_t pending_cmd;  /* controller command awaiting a data byte */
	uint8_t obuf;
	bool obuf_full, obuf_aux;
	struct queue ctrl;    /* controller responses, highest priority */

	struct ps2_kbd kbd;
	struct ps2_mouse mouse;
};

/* ---- scan code translation ---------------------------------------------- */

/* {set 2, set 1} make codes for the keys of a 102/106-key keyboard; the
 * translator and the set-1 mode both use this. Codes not listed pass
 * through unchanged; codes 0x80 and up are never translated (except 0x83,
 * F7, the one set-2 make code above 0x7F). */
static const uint8_t key_pairs[][2] = {
	{ 0x76, 0x01 }, { 0x16, 0x02 }, { 0x1e, 0x03 }, { 0x26, 0x04 }, { 0x25, 0x05 },
	{ 0x2e, 0x06 }, { 0x36, 0x07 }, { 0x3d, 0x08 }, { 0x3e, 0x09 }, { 0x46, 0x0a },
	{ 0x45, 0x0b }, { 0x4e, 0x0c }, { 0x55, 0x0d }, { 0x66, 0x0e }, { 0x0d, 0x0f },
	{ 0x15, 0x10 }, { 0x1d, 0x11 }, { 0x24, 0x12 }, { 0x2d, 0x13 }, { 0x2c, 0x14 },
	{ 0x35, 0x15 }, { 0x3c, 0x16 }, { 0x43, 0x17 }, { 0x44, 0x18 }, { 0x4d, 0x19 },
	{ 0x54, 0x1a }, { 0x5b, 0x1b }, { 0x5a, 0x1c }, { 0x14, 0x1d }, { 0x1c, 0x1e },
	{ 0x1b, 0x1f }, { 0x23, 0x20 }, { 0x2b, 0x21 }, { 0x34, 0x22 }, { 0x33, 0x23 },
	{ 0x3b, 0x24 }, { 0x42, 0x25 }, { 0x4b, 0x26 }, { 0x4c, 0x27 }, { 0x52, 0x28 },
	{ 0x0e, 0x29 }, { 0x12, 0x2a }, { 0x5d, 0x2b }, { 0x1a, 0x2c }, { 0x22, 0x2d },
	{ 0x21, 0x2e }, { 0x2a, 0x2f }, { 0x32, 0x30 }, { 0x31, 0x31 }, { 0x3a, 0x32 },
	{ 0x41, 0x33 }, { 0x49, 0x34 }, { 0x4a, 0x35 }, { 0x59, 0x36 }, { 0x7c, 0x37 },
	{ 0x11, 0x38 }, { 0x29, 0x39 }, { 0x58, 0x3a }, { 0x05, 0x3b }, { 0x06, 0x3c },
	{ 0x04, 0x3d }, { 0x0c, 0x3e }, { 0x03, 0x3f }, { 0x0b, 0x40 }, { 0x83, 0x41 },
	{ 0x0a, 0x42 }, { 0x01, 0x43 }, { 0x09, 0x44 }, { 0x77, 0x45 }, { 0x7e, 0x46 },
	{ 0x6c, 0x47 }, { 0x75, 0x48 }, { 0x7d, 0x49 }, { 0x7b, 0x4a }, { 0x6b, 0x4b },
	{ 0x73, 0x4c }, { 0x74, 0x4d }, { 0x79, 0x4e }, { 0x69, 0x4f }, { 0x72, 0x50 },
	{ 0x7a, 0x51 }, { 0x70, 0x52 }, { 0x71, 0x53 }, { 0x7f, 0x54 }, { 0x61, 0x56 },
	{ 0x78, 0x57 }, { 0x07, 0x58 },
	/* E0 keys whose set-1 code differs from another key's: the Windows
	 * keys, Menu, and the ACPI Power, Sleep and Wake keys */
	{ 0x1f, 0x5b }, { 0x27, 0x5c }, { 0x2f, 0x5d }, { 0x37, 0x5e }, { 0x3f, 0x5f },
	{ 0x5e, 0x63 },
	/* Japanese keys: Katakana/Hiragana, Ro, Henkan, Muhenkan, Yen */
	{ 0x13, 0x70 }, { 0x51, 0x73 }, { 0x64, 0x79 }, { 0x67, 0x7b }, { 0x6a, 0x7d },
	/* Set-2 0x02 is not a key; the translator turns it into 0x41 (used
	 * when reporting "scan code set 2" through the translator). */
	{ 0x02, 0x41 },
};

static uint8_t set2_to_set1[256];

static void init_tables(void)
{
	for (unsigned i = 0; i < 256; i++)
		set2_to_set1[i] = (uint8_t)i;
	for (size_t i = 0; i < ARRAY_SIZE(key_pairs); i++)
		set2_to_set1[key_pairs[i][0]] = key_pairs[i][1];
}

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* ---- queues ---------------------------------------------------------------- */

static void q_init(struct queue *q, unsigned limit)
{
	q->head = q->count = 0;
	q->limit = limit;
}

static unsigned q_space(const struct queue *q) { return q->limit - q->count; }

static bool q_push(struct queue *q, uint8_t b, bool aux)
{
	if (q->count >= q->limit)
		return false;
	unsigned i = (q->head + q->count) % QSIZE;
	q->data[i] = b;
	q->aux[i] = aux;
	q->count++;
	return true;
}

static uint8_t q_pop(struct queue *q, bool *aux)
{
	uint8_t b = q->data[q->head];
	if (aux)
		*aux = q->aux[q->head];
	q->head = (q->head + 1) % QSIZE;
	q->count--;
	return b;
}

/* ---- output buffer and interrupts ------------------------------------------- */

static uint8_t cfg(const struct i8042 *k) { return k->ram[0]; }

static void update_irqs(struct i8042 *k)
{
	int kl = k->obuf_full && !k->obuf_aux && (cfg(k) & CFG_KBD_INT);
	int al = k->obuf_full && k->obuf_aux && (cfg(k) & CFG_AUX_INT);
	if (kl != k->kbd_level) {
		k->kbd_level = kl;
		irq_set(&k->kbd_irq, kl);
	}
	if (al != k->aux_level) {
		k->aux_level = al;
		irq_set(&k->aux_irq, al);
	}
}

/* Moves the next pending byte into the output buffer if it is empty. */
static void refill(struct i8042 *k)
{
	if (k->obuf_full)
		return;
	if (k->ctrl.count) {
		k->obuf = q_pop(&k->ctrl, &k->obuf_aux);
	} else if (k->kbd.q.count && !(cfg(k) & CFG_KBD_DIS)) {
		k->obuf = q_pop(&k->kbd.q, NULL);
		k->obuf_aux = false;
	} else if (k->mouse.q.count && !(cfg(k) & CFG_AUX_DIS)) {
		k->obuf = q_pop(&k->mouse.q, NULL);
		k->obuf_aux = true;
	} else {
		return;
	}
	k->obuf_full = true;
}

static void sync_output(struct i8042 *k)
{
	refill(k);
	update_irqs(k);
}

static void ctrl_reply(struct i8042 *k, uint8_t b)
{
	q_push(&k->ctrl, b, false);
}

/* ---- keyboard ------------------------------------------------------------------ */

/* One byte from the keyboard towards the controller, through the set-2 to
 * set-1 translator when it is on. */
static void kbd_emit(struct i8042 *k, uint8_t b)
{
	struct ps2_kbd *kb = &k->kbd;
	kb->last = b;
	if (cfg(k) & CFG_XLATE) {
		if (b == 0xf0) {
			kb->xlate_break = true;
			return;
		}
		b = set2_to_set1[b];
		if (kb->xlate_break) {
			b |= 0x80;
			kb->xlate_break = false;
		}
	}
	q_push(&kb->q, b, false);
}

static void kbd_defaults(struct ps2_kbd *kb)
{
	kb->set = 2;
	kb->typematic = 0x2b;
	kb->leds = 0;
	kb->pending = 0;
	kb->xlate_break = kb->set1_break = false;
}

static void kbd_reset(struct ps2_kbd *kb)
{
	q_init(&kb->q, 16);
	kbd_defaults(kb);
	kb->scanning = true;
	kb->last = 0;
}

static void kbd_command(struct i8042 *k, uint8_t b)
{
	struct ps2_kbd *kb = &k->kbd;

	if (kb->pending && b < 0xed) {
		uint8_t cmd = kb->pending;
		kb->pending = 0;
		switch (cmd) {
		case 0xed:
			kb->leds = b & 7;
			kbd_emit(k, ACK);
			break;
		case 0xf3:
			kb->typematic = b & 0x7f;
			kbd_emit(k, ACK);
			break;
		case 0xf0:
			if (b == 0) {
				kbd_emit(k, ACK);
				kbd_emit(k, (uint8_t)kb->set);
			} else if (b <= 3) {
				kb->set = b;
				kbd_emit(k, ACK);
			} else {
				kbd_emit(k, RESEND);
			}
			break;
		}
		return;
	}
	kb->pending = 0;
	switch (b) {
	case 0xed: /* set LEDs */
	case 0xf3: /* typematic rate/delay */
	case 0xf0: /* get/set scan code set */
		kb->pending = b;
		kbd_emit(k, ACK);
		break;
	case 0xee: /* echo */
		kbd_emit(k, 0xee);
		break;
	case 0xf2: /* identify: MF2 keyboard */
		kbd_emit(k, ACK);
		kbd_emit(k, 0xab);
		kbd_emit(k, 0x83);
		break;
	case 0xf4:
		q_init(&kb->q, 16);
		kb->scanning = true;
		kbd_emit(k, ACK);
		break;
	case 0xf5:
		q_init(&kb->q, 16);
		kbd_defaults(kb);
		kb->scanning = false;
		kbd_emit(k, ACK);
		break;
	case 0xf6:
		q_init(&kb->q, 16);
		kbd_defaults(kb);
		kb->scanning = true;
		kbd_emit(k, ACK);
		break;
	case 0xf7: case 0xf8: case 0xf9: case 0xfa:
	case 0xfb: case 0xfc: case 0xfd: /* set-3 key attributes: accepted */
		kbd_emit(k, ACK);
		break;
	case 0xfe: /* resend */
		kbd_emit(k, kb->last);
		break;
	case 0xff: /* reset and self-test */
		kbd_reset(kb);
		kbd_emit(k, ACK);
		kbd_emit(k, 0xaa);
		break;
	default:
		kbd_emit(k, RESEND);
		break;
	}
}

/* ---- mouse ------------------------------------------------------------------------ */

static void mouse_defaults(struct ps2_mouse *m)
{
	m->reporting = false;
	m->remote = false;
	m->scale21 = false;
	m->rate = 100;
	m->resolution = 2;
	m->pending = 0;
	m->dx = m->dy = m->dz = 0;
}

static void mouse_reset(struct ps2_mouse *m)
{
	q_init(&m->q, QSIZE);
	mouse_defaults(m);
	m->wrap = false;
	m->type = MOUSE_ID_STANDARD;
	m->last = 0;
	memset(m->rate_hist, 0, sizeof(m->rate_hist));
}

static void mouse_emit(struct ps2_mouse *m, uint8_t b)
{
	m->last = b;
	q_push(&m->q, b, true);
}

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Emits one movement packet from the accumulated motion, if it fits. */
static bool mouse_packet(struct ps2_mouse *m)
{
	unsigned len = m->type == MOUSE_ID_STANDARD ? 3 : 4;
	if (q_space(&m->q) < len)
		return false;
	int dx = clamp(m->dx, -256, 255), dy = clamp(m->dy, -256, 255);
	int dz = clamp(m->dz, -8, 7);
	uint8_t b0 = 0x08 | (m->buttons & 7);
	if (dx < 0)
		b0 |= 0x10;
	if (dy < 0)
		b0 |= 0x20;
	mouse_emit(m, b0);
	mouse_emit(m, (uint8_t)dx);
	mouse_emit(m, (uint8_t)dy);
	if (m->type == MOUSE_ID_WHEEL)
		mouse_emit(m, (uint8_t)dz);
	else if (m->type == MOUSE_ID_EXPLORER) /* Z in bits 0-3, buttons 4 and 5 above */
		mouse_emit(m, (uint8_t)((dz & 0x0f) | (m->buttons & I8042_BUTTON_SIDE ? 0x10 : 0) |
					(m->buttons & I8042_BUTTON_EXTRA ? 0x20 : 0)));
	m->dx -= dx;
	m->dy -= dy;
	m->dz = len == 4 ? m->dz - dz : 0;
	return true;
}

static void mouse_command(struct ps2_mouse *m, uint8_t b)
{
	if (m->wrap && b != 0xec && b != 0xff) {
		mouse_emit(m, b);
		return;
	}
	if (m->pending) {
		uint8_t cmd = m->pending;
		m->pending = 0;
		if (cmd == 0xf3) {
			m->rate = b;
			m->rate_hist[0] = m->rate_hist[1];
			m->rate_hist[1] = m->rate_hist[2];
			m->rate_hist[2] = b;
			/* 200, 100, 80: IntelliMouse (wheel); then 200, 200,
			 * 80: IntelliMouse Explorer (wheel, buttons 4 and 5),
			 * the knock Linux's psmouse tries first */
			if (m->rate_hist[0] == 200 && m->rate_hist[1] == 100 && m->rate_hist[2] == 80)
				m->type = MOUSE_ID_WHEEL;
			else if (m->rate_hist[0] == 200 && m->rate_hist[1] == 200 &&
				 m->rate_hist[2] == 80 && m->type == MOUSE_ID_WHEEL)
				m->type = MOUSE_ID_EXPLORER;
			mouse_emit(m, ACK);
			return;
		}
		if (cmd == 0xe8) {
			m->resolution = b & 3;
			mouse_emit(m, ACK);
			return;
		}
	}
	switch (b) {
	case 0xe6: m->scale21 = false; mouse_emit(m, ACK); break;
	case 0xe7: m->scale21 = true; mouse_emit(m, ACK); break;
	case 0xe8: case 0xf3:
		m->pending = b;
		mouse_emit(m, ACK);
		break;
	case 0xe9: { /* status request */
		uint8_t s = (uint8_t)((m->remote ? 0x40 : 0) | (m->reporting ? 0x20 : 0) |
				      (m->scale21 ? 0x10 : 0) |
				      (m->buttons & I8042_BUTTON_LEFT ? 0x04 : 0) |
				      (m->buttons & I8042_BUTTON_MIDDLE ? 0x02 : 0) |
				      (m->buttons & I8042_BUTTON_RIGHT ? 0x01 : 0));
		mouse_emit(m, ACK);
		mouse_emit(m, s);
		mouse_emit(m, m->resolution);
		mouse_emit(m, m->rate);
		break;
	}
	case 0xea: m->remote = false; m->dx = m->dy = m->dz = 0; mouse_emit(m, ACK); break;
	case 0xf0: m->remote = true; m->dx = m->dy = m->dz = 0; mouse_emit(m, ACK); break;
	case 0xeb: /* read data */
		mouse_emit(m, ACK);
		mouse_packet(m);
		break;
	case 0xec: m->wrap = false; mouse_emit(m, ACK); break;
	case 0xee: m->wrap = true; mouse_emit(m, ACK); break;
	case 0xf2: /* identify */
		mouse_emit(m, ACK);
		mouse_emit(m, m->type);
		break;
	case 0xf4: m->reporting = true; mouse_emit(m, ACK); break;
	case 0xf5:
		mouse_defaults(m);
		mouse_emit(m, ACK);
		break;
	case 0xf6:
		mouse_defaults(m);
		mouse_emit(m, ACK);
		break;
	case 0xfe: mouse_emit(m, m->last); break;
	case 0xff:
		mouse_reset(m);
		mouse_emit(m, ACK);
		mouse_emit(m, 0xaa);
		mouse_emit(m, 0x00);
		break;
	default:
		mouse_emit(m, RESEND);
		break;
	}
}

/* ---- controller -------------------------------------------------------------------- */

/* Returns true when the CPU reset line is pulsed. */
static bool controller_command(struct i8042 *k, uint8_t c)
{
	k->pending_cmd = 0;
	if (c >= 0x20 && c <= 0x3f) { /* read controller RAM (0x20: config) */
		ctrl_reply(k, k->ram[c - 0x20]);
		return false;
	}
	if (c >= 0x60 && c <= 0x7f) { /* write controller RAM: data follows */
		k->pending_cmd = c;
		return false;
	}
	if (c >= 0xf0) /* pulse output lines whose bit is 0 */
		return !(c & 0x01);
	switch (c) {
	case 0xa7: k->ram[0] |= CFG_AUX_DIS; break;
	case 0xa8: k->ram[0] &= (uint8_t)~CFG_AUX_DIS; break;
	case 0xa9: ctrl_reply(k, 0x00); break;  /* aux interface test: OK */
	case 0xaa:                               /* controller self-test */
		k->ram[0] |= CFG_SYS;
		ctrl_reply(k, 0x55);
		break;
	case 0xab: ctrl_reply(k, 0x00); break;  /* keyboard interface test */
	case 0xad: k->ram[0] |= CFG_KBD_DIS; break;
	case 0xae: k->ram[0] &= (uint8_t)~CFG_KBD_DIS; break;
	case 0xc0: ctrl_reply(k, 0x80); break;  /* input port: not inhibited */
	case 0xd0: {                            /* read output port */
		uint8_t v = (uint8_t)(k->out_port & ~0x30);
		if (k->obuf_full)
			v |= k->obuf_aux ? 0x20 : 0x10;
		ctrl_reply(k, v);
		break;
	}
	case 0xd1: case 0xd2: case 0xd3: case 0xd4:
		k->pending_cmd = c;
		break;
	case 0xdd: k->out_port &= (uint8_t)~OUT_A20; break;
	case 0xdf: k->out_port |= OUT_A20; break;
	case 0xe0: ctrl_reply(k, 0x00); break;  /* test inputs */
	default:
		debug("i8042: unhandled command 0x%02x", c);
		break;
	}
	return false;
}

/* A data-port write. Returns true when the CPU reset line is pulsed. */
static bool data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;
	k->pending_cmd = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		k->ram[cmd - 0x60] = v;
		return false;
	}
	switch (cmd) {
	case 0xd1:
		k->out_port = v;
		return !(v & OUT_RESET_N);
	case 0xd2: /* as if the keyboard had sent it */
		q_push(&k->ctrl, v, false);
		break;
	case 0xd3: /* as if the mouse had sent it */
		q_push(&k->ctrl, v, true);
		break;
	case 0xd4:
		mouse_command(&k->mouse, v);
		break;
	default:
		kbd_command(k, v);
		break;
	}
	return false;
}

static uint64_t data_read(void *opaque, uint64_t offset, unsigned size)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	uint8_t v = k->obuf;           /* re-reads the last byte if empty */
	if (k->obuf_full) {
		k->obuf_full = false;
		update_irqs(k);        /* drop the line so the next byte is an edge */
		sync_output(k);
	}
	pthread_mutex_unlock(&k->lock);
	return v;
}

static void data_write_op(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	k->status &= (uint8_t)~ST_A2;
	bool reset = data_write(k, (uint8_t)value);
	sync_output(k);
	void (*cb)(void *) = k->reset_request;
	void *cb_opaque = k->opaque;
	pthread_mutex_unlock(&k->lock);
	if (reset && cb) {
		debug("i8042: CPU reset pulsed");
		cb(cb_opaque);
	}
}

static uint64_t status_read(void *opaque, uint64_t offset, unsigned size)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	uint8_t v = (uint8_t)((k->status & ST_A2) | ST_UNLOCK |
			      (cfg(k) & CFG_SYS ? ST_SYS : 0));
	if (k->obuf_full)
		v |= ST_OBF | (k->obuf_aux ? ST_AUXB : 0);
	pthread_mutex_unlock(&k->lock);
	return v;
}

static void command_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct i8042 *k = opaque;
	pthread_mutex_lock(&k->lock);
	k->status |= ST_A2;
	bool reset = controller_command(k, (uint8_t)value);
	sync_output(k);
	void (*cb)(void *) = k->reset_request;
	void *cb_opaque = k->opaque;
	pthread_mutex_unlock(&k->lock);
	if (reset && cb) {
		debug("i8042: CPU reset pulsed");
		cb(cb_opaque);
	}
}

static const struct io_ops data_ops = {
	.read = data_read, .write = data_write_op, .min_size = 1, .max_size = 1,
};
static const struct io_ops cmd_ops = {
	.read = status_read, .write = command_write, .min_size = 1, .max_size = 1,
};

/* ---- host input ------------------------------------------------------------------------ */

size_t i8042_put_keycode(struct i8042 *k, const uint8_t *set2, size_t n)
{
	size_t done = 0;
	if (!n)
		return 0;
	pthread_mutex_lock(&k->lock);
	struct ps2_kbd *kb = &k->kbd;
	if (kb->scanning && q_space(&kb->q) >= n) {
		for (size_t i = 0; i < n; i++) {
			uint8_t b = set2[i];
			if (kb->set == 1) {
				/* The keyboard itself speaks set 1. */
				if (b == 0xf0) {
					kb->set1_break = true;
					continue;
				}
				b = set2_to_set1[b];
				if (kb->set1_break && b != 0xe0 && b != 0xe1) {
					b |= 0x80;
					kb->set1_break = false;
				}
			}
			kbd_emit(k, b);
		}
		done = n;
		sync_output(k);
	}
	pthread_mutex_unlock(&k->lock);
	return done;
}

void i8042_mouse_event(struct i8042 *k, int dx, int dy, int dz, unsigned buttons)
{
	pthread_mutex_lock(&k->lock);
	struct ps2_mouse *m = &k->mouse;
	m->buttons = buttons & I8042_BUTTONS_ALL;
	/* Accumulate in PS/2 orientation (y grows upwards), bounded. */
	m->dx = clamp(m->dx + dx, -4096, 4096);
	m->dy = clamp(m->dy - dy, -4096, 4096);
	m->dz = m->type != MOUSE_ID_STANDARD ? clamp(m->dz + dz, -64, 64) : 0;
	if (m->reporting && !m->remote && !m->wrap) {
		int guard = 32;
		do {
			if (!mouse_packet(m))
				break;
		} while ((m->dx || m->dy || m->dz) && --guard);
		sync_output(k);
	}
	pthread_mutex_unlock(&k->lock);
}

/* The input layer's view of the keyboard and the mouse. */
static size_t input_put_set2(void *opaque, const uint8_t *bytes, size_t n)
{
	return i8042_put_keycode(opaque, bytes, n);
}

static void input_mouse(void *opaque, int dx, int dy, int dz, unsigned buttons)
{
	unsigned b = (buttons & INPUT_BUTTON_LEFT ? I8042_BUTTON_LEFT : 0) |
		     (buttons & INPUT_BUTTON_RIGHT ? I8042_BUTTON_RIGHT : 0) |
		     (buttons & INPUT_BUTTON_MIDDLE ? I8042_BUTTON_MIDDLE : 0) |
		     (buttons & INPUT_BUTTON_SIDE ? I8042_BUTTON_SIDE : 0) |
		     (buttons & INPUT_BUTTON_EXTRA ? I8042_BUTTON_EXTRA : 0);
	i8042_mouse_event(opaque, dx, dy, dz, b);
}

static const struct input_keyboard_ops kbd_input_ops = { .put_set2 = input_put_set2 };
static const struct input_mouse_ops mouse_input_ops = { .event = input_mouse };

void i8042_connect_input(struct i8042 *k)
{
	input_attach_keyboard(&kbd_input_ops, k);
	input_attach_mouse(&mouse_input_ops, k);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void reset_locked(struct i8042 *k)
{
	memset(k->ram, 0, sizeof(k->ram));
	k->ram[0] = CFG_DEFAULT;
	k->status = 0;
	k->out_port = OUT_DEFAULT;
	k->pending_cmd = 0;
	k->obuf = 0;
	k->obuf_full = k->obuf_aux = false;
	q_init(&k->ctrl, 8);
	kbd_reset(&k->kbd);
	mouse_reset(&k->mouse);
	k->mouse.buttons = 0;
	k->kbd_level = k->aux_level = 0;
	irq_lower(&k->kbd_irq);
	irq_lower(&k->aux_irq);
}

struct i8042 *i8042_create(struct irq_line kbd_irq, struct irq_line aux_irq,
			   void (*reset_request)(void *opaque), void *opaque)
{
	pthread_once(&tables_once, init_tables);
	struct i8042 *k = xzalloc(sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->kbd_irq = kbd_irq;
	k->aux_irq = aux_irq;
	k->reset_request = reset_request;
	k->opaque = opaque;
	io_region_init(&k->data_region, "i8042-data", &data_ops, k, 1);
	io_region_init(&k->cmd_region, "i8042-cmd", &cmd_ops, k, 1);
	reset_locked(k);
	return k;
}

int i8042_map(struct i8042 *k, struct io_bus *pio)
{
	int ret = bus_map(pio, &k->data_region, I8042_DATA_PORT);
	if (ret)
		return ret;
	ret = bus_map(pio, &k->cmd_region, I8042_CMD_PORT);
	if (ret)
		bus_unmap(pio, &k->data_region);
	return ret;
}

void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	reset_locked(k);
	pthread_mutex_unlock(&k->lock);
}

/* ---- saved state -----------------------------------------------------------------
 * The controller (RAM, status, output port, pending command, output
 * buffer), its response queue, and both devices with their queued bytes,
 * oldest first. Every byte the guest has not read yet is in a queue or the
 * output buffer, so nothing is in flight. IRQ levels follow from the state
 * and are driven again after a load. */
#define I8042_STATE_VERSION 1

static void queue_save(struct ss_writer *w, const char *name, const struct queue *q, bool aux)
{
	uint8_t data[QSIZE], flags[QSIZE];
	char n[32];
	for (unsigned i = 0; i < q->count; i++) {
		data[i] = q->data[(q->head + i) % QSIZE];
		flags[i] = q->aux[(q->head + i) % QSIZE];
	}
	ss_put_bytes(w, name, data, q->count);
	if (aux) {
		snprintf(n, sizeof(n), "%s_aux", name);
		ss_put_bytes(w, n, flags, q->count);
	}
}

/* Into a queue whose limit is already the device's own. */
static void queue_load(struct ss_reader *r, const char *name, struct queue *q, bool aux)
{
	uint8_t flags[QSIZE];
	size_t n = 0, nf = 0;
	char fname[32];
	ss_get_bytes_max(r, name, q->data, q->limit, &n);
	if (aux) {
		snprintf(fname, sizeof(fname), "%s_aux", name);
		ss_get_bytes_max(r, fname, flags, QSIZE, &nf);
		if (ss_ok(r) && nf != n) {
			ss_fail(r, "saved state: i8042: %s has %zu bytes and %zu flags", name, n, nf);
			return;
		}
		for (size_t i = 0; i < nf && ss_ok(r); i++) {
			if (flags[i] > 1)
				ss_fail(r, "saved state: i8042: %s_aux[%zu] is not a boolean", name, i);
			q->aux[i] = flags[i];
		}
	}
	q->head = 0;
	q->count = (unsigned)n;
}

static void kbd_save(struct ss_writer *w, const struct ps2_kbd *kb)
{
	queue_save(w, "kbd.queue", &kb->q, false);
	ss_put_bool(w, "kbd.scanning", kb->scanning);
	ss_put_u8(w, "kbd.set", (uint8_t)kb->set);
	ss_put_u8(w, "kbd.pending", kb->pending);
	ss_put_u8(w, "kbd.leds", kb->leds);
	ss_put_u8(w, "kbd.typematic", kb->typematic);
	ss_put_u8(w, "kbd.last", kb->last);
	ss_put_bool(w, "kbd.xlate_break", kb->xlate_break);
	ss_put_bool(w, "kbd.set1_break", kb->set1_break);
}

static void kbd_load(struct ss_reader *r, struct ps2_kbd *kb)
{
	uint8_t set = 0;
	queue_load(r, "kbd.queue", &kb->q, false);
	ss_get_bool(r, "kbd.scanning", &kb->scanning);
	ss_get_u8(r, "kbd.set", &set);
	ss_get_u8(r, "kbd.pending", &kb->pending);
	ss_get_u8(r, "kbd.leds", &kb->leds);
	ss_get_u8(r, "kbd.typematic", &kb->typematic);
	ss_get_u8(r, "kbd.last", &kb->last);
	ss_get_bool(r, "kbd.xlate_break", &kb->xlate_break);
	ss_get_bool(r, "kbd.set1_break", &kb->set1_break);
	if (ss_ok(r) && (set < 1 || set > 3))
		ss_fail(r, "saved state: i8042: keyboard scan code set %u", set);
	kb->set = set;
}

static void mouse_save(struct ss_writer *w, const struct ps2_mouse *m)
{
	queue_save(w, "mouse.queue", &m->q, false);
	ss_put_bool(w, "mouse.reporting", m->reporting);
	ss_put_bool(w, "mouse.remote", m->remote);
	ss_put_bool(w, "mouse.wrap", m->wrap);
	ss_put_bool(w, "mouse.scale21", m->scale21);
	ss_put_u8(w, "mouse.pending", m->pending);
	ss_put_u8(w, "mouse.rate", m->rate);
	ss_put_u8(w, "mouse.resolution", m->resolution);
	ss_put_u8(w, "mouse.type", m->type);
	ss_put_u8(w, "mouse.last", m->last);
	ss_put_bytes(w, "mouse.rate_hist", m->rate_hist, sizeof(m->rate_hist));
	ss_put_u8(w, "mouse.buttons", (uint8_t)m->buttons);
	ss_put_u32(w, "mouse.dx", (uint32_t)m->dx);
	ss_put_u32(w, "mouse.dy", (uint32_t)m->dy);
	ss_put_u32(w, "mouse.dz", (uint32_t)m->dz);
}

static void mouse_load(struct ss_reader *r, struct ps2_mouse *m)
{
	uint8_t buttons = 0;
	uint32_t dx = 0, dy = 0, dz = 0;
	queue_load(r, "mouse.queue", &m->q, false);
	ss_get_bool(r, "mouse.reporting", &m->reporting);
	ss_get_bool(r, "mouse.remote", &m->remote);
	ss_get_bool(r, "mouse.wrap", &m->wrap);
	ss_get_bool(r, "mouse.scale21", &m->scale21);
	ss_get_u8(r, "mouse.pending", &m->pending);
	ss_get_u8(r, "mouse.rate", &m->rate);
	ss_get_u8(r, "mouse.resolution", &m->resolution);
	ss_get_u8(r, "mouse.type", &m->type);
	ss_get_u8(r, "mouse.last", &m->last);
	ss_get_bytes(r, "mouse.rate_hist", m->rate_hist, sizeof(m->rate_hist));
	ss_get_u8(r, "mouse.buttons", &buttons);
	ss_get_u32(r, "mouse.dx", &dx);
	ss_get_u32(r, "mouse.dy", &dy);
	ss_get_u32(r, "mouse.dz", &dz);
	m->buttons = buttons;
	m->dx = (int32_t)dx, m->dy = (int32_t)dy, m->dz = (int32_t)dz;
	/* The bounds i8042_mouse_event and the commands keep. */
	if (ss_ok(r) && (buttons > I8042_BUTTONS_ALL || m->resolution > 3 ||
			 (m->type != MOUSE_ID_STANDARD && m->type != MOUSE_ID_WHEEL &&
			  m->type != MOUSE_ID_EXPLORER) ||
			 m->dx < -4096 || m->dx > 4096 || m->dy < -4096 || m->dy > 4096 ||
			 m->dz < -64 || m->dz > 64))
		ss_fail(r, "saved state: i8042: mouse state out of range");
}

void i8042_save(struct i8042 *k, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&k->lock);
	ss_section_begin(w, "i8042", instance, I8042_STATE_VERSION);
	ss_put_bytes(w, "ram", k->ram, sizeof(k->ram));
	ss_put_u8(w, "status", k->status);
	ss_put_u8(w, "out_port", k->out_port);
	ss_put_u8(w, "pending_cmd", k->pending_cmd);
	ss_put_u8(w, "obuf", k->obuf);
	ss_put_bool(w, "obuf_full", k->obuf_full);
	ss_put_bool(w, "obuf_aux", k->obuf_aux);
	queue_save(w, "ctrl.queue", &k->ctrl, true);
	kbd_save(w, &k->kbd);
	mouse_save(w, &k->mouse);
	ss_section_end(w);
	pthread_mutex_unlock(&k->lock);
}

bool i8042_load(struct i8042 *k, struct ss_reader *r, uint32_t instance)
{
	struct i8042 *t = xzalloc(sizeof(*t)); /* checked here, then copied in */

	reset_locked(t); /* the queues' limits; its IRQ lines are unset: no-ops */
	if (ss_section_open(r, "i8042", instance, 1, I8042_STATE_VERSION, NULL)) {
		ss_get_bytes(r, "ram", t->ram, sizeof(t->ram));
		ss_get_u8(r, "status", &t->status);
		ss_get_u8(r, "out_port", &t->out_port);
		ss_get_u8(r, "pending_cmd", &t->pending_cmd);
		ss_get_u8(r, "obuf", &t->obuf);
		ss_get_bool(r, "obuf_full", &t->obuf_full);
		ss_get_bool(r, "obuf_aux", &t->obuf_aux);
		queue_load(r, "ctrl.queue", &t->ctrl, true);
		kbd_load(r, &t->kbd);
		mouse_load(r, &t->mouse);
		ss_section_close(r);
	}
	if (!ss_ok(r)) {
		free(t);
		return false;
	}
	pthread_mutex_lock(&k->lock);
	memcpy(k->ram, t->ram, sizeof(k->ram));
	k->status = t->status;
	k->out_port = t->out_port;
	k->pending_cmd = t->pending_cmd;
	k->obuf = t->obuf;
	k->obuf_full = t->obuf_full;
	k->obuf_aux = t->obuf_aux;
	k->ctrl = t->ctrl;
	k->kbd = t->kbd;
	k->mouse = t->mouse;
	update_irqs(k);
	pthread_mutex_unlock(&k->lock);
	free(t);
	return true;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	input_detach_keyboard(k);
	input_detach_mouse(k);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
