/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MC146818 real-time clock and 128-byte CMOS RAM at ports 0x70/0x71, IRQ 8.
 *
 * The clock is the host's UTC time plus an offset the guest changes by
 * setting the time (it survives rtc_reset). Periodic, alarm and
 * update-ended interrupts come from two timers on the event loop's virtual
 * clock (include/event.h), armed only while the guest enables them: they
 * stop while the VM is paused and owe nothing afterwards. Register C flags
 * are also brought up to date lazily when C is read. The IRQ output is a
 * level: raised with C.IRQF, lowered when C is read.
 */
#ifndef VMM_HW_RTC_H
#define VMM_HW_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "event.h"
#include "irq.h"

#define RTC_PORT_BASE 0x70
#define RTC_IRQ       8

/* CMOS register indices. */
#define RTC_SECONDS        0x00
#define RTC_SECONDS_ALARM  0x01
#define RTC_MINUTES        0x02
#define RTC_MINUTES_ALARM  0x03
#define RTC_HOURS          0x04
#define RTC_HOURS_ALARM    0x05
#define RTC_DAY_OF_WEEK    0x06
#define RTC_DAY_OF_MONTH   0x07
#define RTC_MONTH          0x08
#define RTC_YEAR           0x09
#define RTC_REG_A          0x0a
#define RTC_REG_B          0x0b
#define RTC_REG_C          0x0c
#define RTC_REG_D          0x0d
#define RTC_SHUTDOWN       0x0f
#define RTC_CENTURY        0x32

#define RTC_A_UIP   0x80
#define RTC_B_SET   0x80
#define RTC_B_PIE   0x40
#define RTC_B_AIE   0x20
#define RTC_B_UIE   0x10
#define RTC_B_SQWE  0x08
#define RTC_B_DM    0x04 /* 1 = binary, 0 = BCD */
#define RTC_B_24H   0x02
#define RTC_B_DSE   0x01
#define RTC_C_IRQF  0x80
#define RTC_C_PF    0x40
#define RTC_C_AF    0x20
#define RTC_C_UF    0x10
#define RTC_D_VRT   0x80

struct rtc;

/* Power-on state: A=0x26, B=0x02 (24 h, BCD), C=0, D=0x80, rest zero.
 * The timers run on 'loop' (its thread calls the IRQ line); with a NULL
 * loop only reads of C see time pass (the fuzzers). */
struct rtc *rtc_create(struct irq_line irq8, struct event_loop *loop);
/* On the loop's thread, or with the loop not running. */
void rtc_destroy(struct rtc *r);

/* Maps ports 0x70-0x71. Returns 0 or -errno from bus_map(). */
int rtc_map(struct rtc *r, struct io_bus *pio);

/* Raw CMOS access for the machine (memory sizes, boot order, ...). Index
 * is taken modulo 128. The clock registers are regenerated from the clock
 * whenever the guest reads them, so setting them here has no lasting
 * effect; rtc_get_cmos returns the stored byte without refreshing. */
void rtc_set_cmos(struct rtc *r, uint8_t index, uint8_t value);
uint8_t rtc_get_cmos(struct rtc *r, uint8_t index);

/* Replaces the host clock (default CLOCK_REALTIME) for tests: 'now_ns'
 * returns UTC nanoseconds since the epoch. Resets the guest offset. */
void rtc_set_clock(struct rtc *r, int64_t (*now_ns)(void *opaque), void *opaque);

/* Makes the clock read 'sec' (seconds since 1970, as the registers show
 * the date: no time zone) now; it runs on from there. -rtc base=. */
void rtc_set_time(struct rtc *r, int64_t sec);

/* System reset: clears PIE/AIE/UIE/SQWE and the C flags, lowers IRQ 8,
 * clears the shutdown byte 0x0F unless it is 0xFE (S3 resume); the rest of
 * CMOS and the guest's time offset stay. */
void rtc_reset(struct rtc *r);

/* Saved state (section "rtc", include/savestate.h): CMOS, index and the
 * guest's offset from the host clock. rtc_load checks every value before
 * it replaces the device's; false (reason in r->err) leaves it as it was. */
struct ss_writer;
struct ss_reader;
void rtc_save(struct rtc *r, struct ss_writer *w, uint32_t instance);
bool rtc_load(struct rtc *r, struct ss_reader *rd, uint32_t instance);

#endif
