/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The iBASE IB700 watchdog (hw/ib700.c): ISA ports 0x441 (stop) and 0x443
 * (set the timeout and start). */
#ifndef VMM_HW_IB700_H
#define VMM_HW_IB700_H

#include <stdbool.h>
#include <stdint.h>

#define IB700_STOP_PORT 0x441
#define IB700_START_PORT 0x443

struct io_bus;
struct event_loop;
struct watchdog_host;
struct ss_writer;
struct ss_reader;
struct ib700;

/* The timeout a byte written to 0x443 sets: 30 s - 2 s * (value & 0xF). */
int64_t ib700_timeout_ns(uint8_t value);

/* Maps both ports; NULL if they are taken. With a NULL loop the count
 * never runs out (fuzzers); the action goes to 'host'. */
struct ib700 *ib700_create(struct io_bus *pio, struct event_loop *loop,
			   struct watchdog_host *host);
void ib700_reset(struct ib700 *s);
/* Whether the count runs; *left_ns (may be NULL) gets the time left. */
bool ib700_armed(struct ib700 *s, int64_t *left_ns);
void ib700_save(struct ib700 *s, struct ss_writer *w, uint32_t instance);
bool ib700_load(struct ib700 *s, struct ss_reader *r, uint32_t instance);
void ib700_destroy(struct ib700 *s);

#endif
