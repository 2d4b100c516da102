// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Races on the legacy devices that more than one thread reaches: the
 * 16550 (two vCPUs on its registers while the main thread feeds host
 * input) and the PIIX IDE (two vCPUs on one channel's registers and the
 * bus-master block, a third on the other channel). Neither has an I/O
 * thread of its own. Built under ASan/UBSan (`make unit`) and under
 * ThreadSanitizer (`make tsan`), which reports shared state touched
 * without a common lock.
 */
#include "unit.h"
#include "bus_access.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "bus.h"
#include "guest_mem.h"
#include "hw/ide.h"
#include "hw/serial.h"
#include "irq.h"
#include "memdisk.h"
#include "pci.h"
#include "util.h"

#define COM1 0x3f8
#define CMD0 0x1F0
#define CTL0 0x3F6
#define CMD1 0x170
#define BM 0xC000
#define RAM_SIZE (1024 * 1024)
#define STREAM_LEN 20000
#define RUN_MS 300

struct fx {
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct guest_mem mem;
	uint8_t *ram;
	struct serial *s;
	struct piix_ide *ide;
	struct memdisk *disk0, *disk1;
	atomic_int level[16];
	atomic_uint tx_bytes;
	atomic_bool stop;
	atomic_uint bad; /* checks failed on a thread (cmocka asserts only on the main one) */
};

static void set_irq(void *opaque, unsigned line, int level)
{
	struct fx *x = opaque;
	atomic_store(&x->level[line & 15], level);
}

static void serial_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct fx *x = opaque;
	atomic_fetch_add(&x->tx_bytes, (unsigned)len);
}

static uint8_t inb(struct fx *x, uint16_t port) { return (uint8_t)bus_rd(&x->pio, port, 1); }
static uint16_t inw(struct fx *x, uint16_t port) { return (uint16_t)bus_rd(&x->pio, port, 2); }
static void outb(struct fx *x, uint16_t port, uint8_t v) { bus_wr(&x->pio, port, v, 1); }
static void outl(struct fx *x, uint16_t port, uint32_t v) { bus_wr(&x->pio, port, v, 4); }

static bool past(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static struct timespec deadline_in(long ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += ms * 1000000L;
	t.tv_sec += t.tv_nsec / 1000000000L;
	t.tv_nsec %= 1000000000L;
	return t;
}

/* ---- 16550 ------------------------------------------------------------------ */

static int setup_serial(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	bus_init(&x->pio, "pio");
	x->s = serial_create((struct irq_line){ set_irq, x, 4 }, serial_tx, x);
	assert_int_equal(serial_map(x->s, &x->pio, COM1), 0);
	*state = x;
	return 0;
}

static int teardown_serial(void **state)
{
	struct fx *x = *state;
	serial_destroy(x->s);
	bus_destroy(&x->pio);
	free(x);
	return 0;
}

/* The main thread's chardev side: a byte stream into the receiver. */
static void *serial_feeder(void *arg)
{
	struct fx *x = arg;
	unsigned sent = 0;
	while (sent < STREAM_LEN && !atomic_load(&x->stop)) {
		uint8_t buf[37];
		unsigned n = 0;
		while (n < sizeof(buf) && sent + n < STREAM_LEN) {
			buf[n] = (uint8_t)((sent + n) * 31 + 7);
			n++;
		}
		size_t took = serial_receive(x->s, buf, n);
		sent += (unsigned)took;
		if (!took) {
			struct timespec ts = { 0, 10000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* vCPU 1: the status side of the UART, and the transmitter. */
static void *serial_poker(void *arg)
{
	struct fx *x = arg;
	struct timespec deadline = deadline_in(RUN_MS);
	unsigned i = 0;
	while (!atomic_load(&x->stop) && !past(&deadline)) {
		inb(x, COM1 + 2); /* IIR */
		inb(x, COM1 + 6); /* MSR */
		outb(x, COM1 + 1, (i & 1) ? 0x0F : 0x01); /* IER */
		outb(x, COM1 + 4, (i & 2) ? 0x0B : 0x08); /* MCR, OUT2 */
		if (inb(x, COM1 + 5) & 0x20)
			outb(x, COM1, (uint8_t)i); /* THR */
		i++;
	}
	return NULL;
}

/* vCPU 0 drains RBR in order while vCPU 1 plays with the other registers
 * and the main thread feeds input: every byte once, in order. */
static void test_serial_three_threads(void **state)
{
	struct fx *x = *state;
	pthread_t feeder, poker;

	outb(x, COM1 + 2, 0x81); /* FIFO, trigger 8 */
	assert_int_equal(pthread_create(&feeder, NULL, serial_feeder, x), 0);
	assert_int_equal(pthread_create(&poker, NULL, serial_poker, x), 0);
	unsigned got = 0;
	struct timespec deadline = deadline_in(5000);
	while (got < STREAM_LEN && !past(&deadline)) {
		uint8_t lsr = inb(x, COM1 + 5);
		if (lsr & 0x01) {
			if (inb(x, COM1) != (uint8_t)(got * 31 + 7))
				atomic_fetch_add(&x->bad, 1);
			got++;
		}
	}
	atomic_store(&x->stop, true);
	pthread_join(feeder, NULL);
	pthread_join(poker, NULL);
	assert_int_equal(got, STREAM_LEN);
	assert_int_equal(atomic_load(&x->bad), 0);
	assert_true(atomic_load(&x->tx_bytes) > 0);
}

/* ---- PIIX IDE ----------------------------------------------------------------- */

static int setup_ide(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	x->ram = calloc(1, RAM_SIZE);
	guest_mem_init_buffer(&x->mem, x->ram, RAM_SIZE);
	bus_init(&x->pio, "pio");
	bus_init(&x->mmio, "mmio");
	pci_bus_init(&x->pci, &x->pio, &x->mmio);
	x->ide = piix_ide_create(&x->pci, &x->pio, &x->mem, (struct irq_line){ set_irq, x, 14 },
				 (struct irq_line){ set_irq, x, 15 });
	assert_non_null(x->ide);
	x->disk0 = memdisk_patterned(64 * 512, 1, false);
	x->disk1 = memdisk_patterned(64 * 512, 2, false);
	assert_int_equal(piix_ide_attach_disk(x->ide, 0, 0, &x->disk0->bd), 0);
	assert_int_equal(piix_ide_attach_disk(x->ide, 1, 0, &x->disk1->bd), 0);
	pci_config_write(&x->pci, PIIX_IDE_DEVFN, 0x20, BM, 4);
	pci_config_write(&x->pci, PIIX_IDE_DEVFN, PCI_COMMAND,
			 PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
	*state = x;
	return 0;
}

static int teardown_ide(void **state)
{
	struct fx *x = *state;
	piix_ide_destroy(x->ide);
	bus_destroy(&x->pio);
	bus_destroy(&x->mmio);
	memdisk_free(x->disk0);
	memdisk_free(x->disk1);
	free(x->ram);
	free(x);
	return 0;
}

/* A driver on one channel: READ SECTORS (PIO) of 2 sectors at a moving
 * LBA, checked against the disk, until time is up. */
struct ide_driver {
	struct fx *x;
	uint16_t cmd;
	const struct memdisk *disk;
};

static void *ide_reader(void *arg)
{
	struct ide_driver *d = arg;
	struct fx *x = d->x;
	struct timespec deadline = deadline_in(RUN_MS);
	uint8_t buf[1024];

	for (unsigned r = 0; !atomic_load(&x->stop) && !past(&deadline); r++) {
		unsigned lba = r % 60;
		outb(x, d->cmd + 6, 0xE0); /* master, LBA */
		outb(x, d->cmd + 2, 2);
		outb(x, d->cmd + 3, (uint8_t)lba);
		outb(x, d->cmd + 4, 0);
		outb(x, d->cmd + 5, 0);
		outb(x, d->cmd + 7, 0x20);
		for (unsigned s = 0; s < 2; s++) {
			if ((inb(x, d->cmd + 7) & 0x89) != 0x08) {
				atomic_fetch_add(&x->bad, 1);
				return NULL;
			}
			for (unsigned i = 0; i < 256; i++) {
				uint16_t w = inw(x, d->cmd);
				buf[s * 512 + 2 * i] = (uint8_t)w;
				buf[s * 512 + 2 * i + 1] = (uint8_t)(w >> 8);
			}
		}
		if (memcmp(buf, d->disk->data + lba * 512, sizeof(buf)))
			atomic_fetch_add(&x->bad, 1);
	}
	return NULL;
}

/* vCPU 1 on channel 0's side registers: alternate status, the bus-master
 * command and status of both channels (stopped engine, W1C bits), and
 * PCI config reads of the function. Nothing it does may disturb a PIO
 * transfer. */
static void *ide_poker(void *arg)
{
	struct fx *x = arg;
	struct timespec deadline = deadline_in(RUN_MS);
	while (!atomic_load(&x->stop) && !past(&deadline)) {
		inb(x, CTL0);
		inb(x, BM + 2);
		outb(x, BM + 2, 0x06);
		inb(x, BM + 8 + 2);
		outb(x, BM + 8 + 2, 0x06);
		outb(x, BM, 0x00);
		pci_config_read(&x->pci, PIIX_IDE_DEVFN, PCI_COMMAND, 2);
	}
	return NULL;
}

static void test_ide_three_vcpus(void **state)
{
	struct fx *x = *state;
	struct ide_driver d0 = { x, CMD0, x->disk0 }, d1 = { x, CMD1, x->disk1 };
	pthread_t t0, t1, tp;

	assert_int_equal(pthread_create(&t0, NULL, ide_reader, &d0), 0);
	assert_int_equal(pthread_create(&t1, NULL, ide_reader, &d1), 0);
	assert_int_equal(pthread_create(&tp, NULL, ide_poker, x), 0);
	pthread_join(t0, NULL);
	pthread_join(t1, NULL);
	pthread_join(tp, NULL);
	assert_int_equal(atomic_load(&x->bad), 0);
	assert_int_equal(inb(x, CMD0 + 7) & 0x89, 0); /* idle, no error */
}

/* A driver of channel 1 doing READ DMA (2 sectors at a moving LBA into one
 * PRD buffer), waiting for the engine to stop and the drive to leave BSY
 * by polling, as the transfer runs on the channel's worker. */
static atomic_uint dma_rounds;

static void *ide_dma_reader(void *arg)
{
	struct ide_driver *d = arg;
	struct fx *x = d->x;
	struct timespec deadline = deadline_in(RUN_MS);
	uint8_t *prd = x->ram + 0x1000, *buf = x->ram + 0x20000;

	put_le32(prd, 0x20000);
	put_le16(prd + 4, 1024);
	put_le16(prd + 6, 0x8000);
	for (unsigned r = 0; !atomic_load(&x->stop) && !past(&deadline); r++) {
		unsigned lba = r % 60;
		outl(x, BM + 8 + 4, 0x1000);
		outb(x, BM + 8, 0x08);
		outb(x, d->cmd + 6, 0xE0);
		outb(x, d->cmd + 2, 2);
		outb(x, d->cmd + 3, (uint8_t)lba);
		outb(x, d->cmd + 4, 0);
		outb(x, d->cmd + 5, 0);
		outb(x, d->cmd + 7, 0xC8);
		outb(x, BM + 8, 0x09);
		while ((inb(x, BM + 8 + 2) & 0x01) || (inb(x, d->cmd + 7) & 0x80))
			sched_yield();
		if (inb(x, d->cmd + 7) != 0x50 || memcmp(buf, d->disk->data + lba * 512, 1024))
			atomic_fetch_add(&x->bad, 1);
		outb(x, BM + 8, 0x08);
		atomic_fetch_add(&dma_rounds, 1);
	}
	return NULL;
}

/* The main loop pausing and resuming the machine (quiesce, resume) while
 * the drivers run. */
static void *ide_pauser(void *arg)
{
	struct fx *x = arg;
	struct timespec deadline = deadline_in(RUN_MS);
	while (!atomic_load(&x->stop) && !past(&deadline)) {
		piix_ide_quiesce(x->ide);
		sched_yield();
		piix_ide_resume(x->ide);
	}
	return NULL;
}

/* PIO on channel 0, DMA on channel 1 through its worker, the side
 * registers poked and the machine paused and resumed, all at once. */
static void test_ide_dma_beside_pio_and_pauses(void **state)
{
	struct fx *x = *state;
	struct ide_driver d0 = { x, CMD0, x->disk0 }, d1 = { x, CMD1, x->disk1 };
	pthread_t t0, t1, tp, tq;

	assert_int_equal(pthread_create(&t0, NULL, ide_reader, &d0), 0);
	assert_int_equal(pthread_create(&t1, NULL, ide_dma_reader, &d1), 0);
	assert_int_equal(pthread_create(&tp, NULL, ide_poker, x), 0);
	assert_int_equal(pthread_create(&tq, NULL, ide_pauser, x), 0);
	pthread_join(t0, NULL);
	pthread_join(t1, NULL);
	pthread_join(tp, NULL);
	pthread_join(tq, NULL);
	assert_int_equal(atomic_load(&x->bad), 0);
	assert_true(atomic_load(&dma_rounds) >= 10);
	assert_int_equal(inb(x, CMD1 + 7) & 0x89, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serial_three_threads, setup_serial,
						teardown_serial),
		cmocka_unit_test_setup_teardown(test_ide_three_vcpus, setup_ide, teardown_ide),
		cmocka_unit_test_setup_teardown(test_ide_dma_beside_pio_and_pauses, setup_ide,
						teardown_ide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
