// SPDX-License-Identifier: GPL-2.0-or-later
/* Shared interrupt lines: the ISA router (several devices on one line,
 * edge- and level-triggered lines, a machine reset), PCI INTx through the
 * PIIX3 PIRQ router (functions sharing a PIRQ, PIRQs sharing a line with
 * ISA devices and the SCI, re-routing) and the INTx level handed from a
 * device thread while a vCPU writes COMMAND. */
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "bus.h"
#include "hw/chipset.h"
#include "isa_irq.h"
#include "pci.h"

/* The interrupt controller's side: each GSI's level and how many rising
 * edges it saw, and how the "guest" set each line to trigger. */
struct pic {
	int level[16];
	int edges[16];
	int calls[16];
	enum isa_irq_trigger mode[16];
};

static void pic_set(void *opaque, unsigned gsi, int level)
{
	struct pic *p = opaque;
	assert_true(gsi < 16);
	if (level && !p->level[gsi])
		p->edges[gsi]++;
	p->level[gsi] = level;
	p->calls[gsi]++;
}

static enum isa_irq_trigger pic_mode(void *opaque, unsigned line)
{
	return ((struct pic *)opaque)->mode[line];
}

static void test_two_devices_one_line(void **state)
{
	struct pic p = { 0 };
	struct isa_irq r;
	struct irq_line a, b;

	for (unsigned i = 0; i < 16; i++)
		p.mode[i] = ISA_IRQ_LEVEL;
	isa_irq_init(&r, pic_set, &p, pic_mode, &p);
	assert_int_equal(isa_irq_claim(&r, 5, &a), 0);
	assert_int_equal(isa_irq_claim(&r, 5, &b), 0);

	irq_raise(&a);
	assert_int_equal(p.level[5], 1);
	irq_raise(&b);
	assert_int_equal(p.level[5], 1);
	/* One device done: the other still holds the line. */
	irq_lower(&a);
	assert_int_equal(p.level[5], 1);
	assert_int_equal(isa_irq_level(&r, 5), 1);
	irq_lower(&b);
	assert_int_equal(p.level[5], 0);
	/* Repeats change nothing and drive the GSI once per change. */
	irq_lower(&b);
	irq_raise(&a);
	irq_raise(&a);
	assert_int_equal(p.calls[5], 3);
	assert_int_equal(p.edges[5], 2);
	/* Other lines are untouched. */
	for (unsigned i = 0; i < 16; i++)
		if (i != 5)
			assert_int_equal(p.calls[i], 0);
	isa_irq_destroy(&r);
}

static void test_level_line_makes_no_extra_edge(void **state)
{
	struct pic p = { 0 };
	struct isa_irq r;
	struct irq_line sci, nic;

	p.mode[9] = ISA_IRQ_LEVEL;
	isa_irq_init(&r, pic_set, &p, pic_mode, &p);
	assert_int_equal(isa_irq_claim(&r, 9, &sci), 0);
	assert_int_equal(isa_irq_claim(&r, 9, &nic), 0);
	irq_raise(&sci);
	irq_raise(&nic);
	/* Level-triggered: the controller keeps asking while the line is
	 * high, so the second request needs nothing more. */
	assert_int_equal(p.edges[9], 1);
	assert_int_equal(p.calls[9], 1);
	assert_int_equal(r.edges_made, 0);
	irq_lower(&sci);
	assert_int_equal(p.level[9], 1);
	isa_irq_destroy(&r);
}

static void test_edge_line_gives_each_request_an_edge(void **state)
{
	struct pic p = { 0 };
	struct isa_irq r;
	struct irq_line com1, com3;

	p.mode[4] = ISA_IRQ_EDGE;
	isa_irq_init(&r, pic_set, &p, pic_mode, &p);
	assert_int_equal(isa_irq_claim(&r, 4, &com1), 0);
	assert_int_equal(isa_irq_claim(&r, 4, &com3), 0);
	irq_raise(&com1);
	assert_int_equal(p.edges[4], 1);
	/* com3 asks while com1 still holds the line: an edge of its own. */
	irq_raise(&com3);
	assert_int_equal(p.edges[4], 2);
	assert_int_equal(p.level[4], 1);
	assert_int_equal(r.edges_made, 1);
	/* Holding the input high again is not a new request. */
	irq_raise(&com3);
	assert_int_equal(p.edges[4], 2);
	irq_lower(&com1);
	assert_int_equal(p.level[4], 1);
	irq_lower(&com3);
	assert_int_equal(p.level[4], 0);
	/* A lone device on an edge line: one edge per rise, as before. */
	irq_raise(&com1);
	irq_lower(&com1);
	irq_raise(&com1);
	assert_int_equal(p.edges[4], 4);
	assert_int_equal(r.edges_made, 1);
	isa_irq_destroy(&r);
}

static void test_claim_limits(void **state)
{
	struct pic p = { 0 };
	struct isa_irq r;
	struct irq_line l[ISA_IRQ_INPUTS + 1];

	isa_irq_init(&r, pic_set, &p, NULL, NULL);
	assert_int_equal(isa_irq_claim(&r, 16, &l[0]), -1);
	for (unsigned i = 0; i < ISA_IRQ_INPUTS; i++)
		assert_int_equal(isa_irq_claim(&r, 3, &l[i]), 0);
	assert_int_equal(isa_irq_claim(&r, 3, &l[ISA_IRQ_INPUTS]), -1);
	/* Every input counts, the last one too. */
	irq_raise(&l[ISA_IRQ_INPUTS - 1]);
	assert_int_equal(p.level[3], 1);
	irq_raise(&l[0]);
	irq_lower(&l[ISA_IRQ_INPUTS - 1]);
	assert_int_equal(p.level[3], 1);
	irq_lower(&l[0]);
	assert_int_equal(p.level[3], 0);
	/* A forged input id past the lines is ignored. */
	struct irq_line bogus = { l[0].set, l[0].opaque, ISA_IRQ_LINES * ISA_IRQ_INPUTS };
	irq_raise(&bogus);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(p.calls[i], i == 3 ? 2 : 0);
	isa_irq_destroy(&r);
}

/* A machine reset replaces the irqchip (all its lines low); a device that
 * still holds its input must be seen again, or the line would stay low
 * while the router believes it high and later requests would be lost. */
static void test_resync_after_new_irqchip(void **state)
{
	struct pic p = { 0 };
	struct isa_irq r;
	struct irq_line a, b;

	isa_irq_init(&r, pic_set, &p, NULL, NULL);
	assert_int_equal(isa_irq_claim(&r, 1, &a), 0);
	assert_int_equal(isa_irq_claim(&r, 12, &b), 0);
	irq_raise(&a);
	irq_raise(&b);
	irq_lower(&b);
	memset(&p, 0, sizeof(p)); /* the new VM */
	isa_irq_resync(&r);
	assert_int_equal(p.level[1], 1);
	assert_int_equal(p.level[12], 0);
	assert_int_equal(p.calls[12], 0);
	irq_lower(&a);
	assert_int_equal(p.level[1], 0);
	isa_irq_destroy(&r);
}

/* ---- PCI INTx through the PIIX3 ------------------------------------------ */

struct board {
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct isa_irq isa;
	struct piix3 sb;
	struct pic pic;
	struct pci_device dev[3];
};

static void no_reset(void *o) { (void)o; }
static void no_exit(void *o, int s) { (void)o; (void)s; }

static int board_setup(void **state)
{
	struct board *b = calloc(1, sizeof(*b));
	struct board_control ctl = { no_reset, no_reset, no_exit, b };

	bus_init(&b->pio, "pio");
	bus_init(&b->mmio, "mmio");
	pci_bus_init(&b->pci, &b->pio, &b->mmio);
	for (unsigned i = 0; i < 16; i++)
		b->pic.mode[i] = ISA_IRQ_LEVEL;
	isa_irq_init(&b->isa, pic_set, &b->pic, pic_mode, &b->pic);
	assert_int_equal(piix3_init(&b->sb, &b->pci, &b->isa, ctl), 0);
	/* Slot 3 functions 0 and 1 on INTA (both PIRQC), slot 4 INTA (PIRQD). */
	const uint8_t devfn[3] = { PCI_DEVFN(3, 0), PCI_DEVFN(3, 1), PCI_DEVFN(4, 0) };
	for (unsigned i = 0; i < 3; i++) {
		pci_device_init(&b->dev[i], "fn", 0x1234, (uint16_t)i, 0x020000, 0);
		pci_device_set_interrupt_pin(&b->dev[i], 1);
		assert_int_equal(pci_register(&b->pci, &b->dev[i], devfn[i]), 0);
	}
	*state = b;
	return 0;
}

static int board_teardown(void **state)
{
	struct board *b = *state;
	isa_irq_destroy(&b->isa);
	bus_destroy(&b->pio);
	bus_destroy(&b->mmio);
	free(b);
	return 0;
}

static void pirq_route(struct board *b, unsigned pirq, uint8_t irq)
{
	pci_config_write(&b->pci, PCI_DEVFN(1, 0), 0x60 + pirq, irq, 1);
}

static void test_functions_share_a_pirq(void **state)
{
	struct board *b = *state;

	pirq_route(b, 2, 11); /* PIRQC */
	pci_set_irq(&b->dev[0], 1);
	pci_set_irq(&b->dev[1], 1);
	assert_int_equal(b->pic.level[11], 1);
	pci_set_irq(&b->dev[0], 0);
	assert_int_equal(b->pic.level[11], 1); /* function 1 still asks */
	pci_set_irq(&b->dev[1], 0);
	assert_int_equal(b->pic.level[11], 0);
	/* INTx disable on one function takes only its level away. */
	pci_set_irq(&b->dev[0], 1);
	pci_set_irq(&b->dev[1], 1);
	pci_config_write(&b->pci, PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
	assert_int_equal(b->pic.level[11], 1);
	pci_set_irq(&b->dev[1], 0);
	assert_int_equal(b->pic.level[11], 0);
	pci_config_write(&b->pci, PCI_DEVFN(3, 0), PCI_COMMAND, 0, 2);
	assert_int_equal(b->pic.level[11], 1);
}

static void test_pirqs_share_a_line_with_isa_devices(void **state)
{
	struct board *b = *state;
	struct irq_line sci, isa_nic;

	/* The SCI and an ISA card on IRQ 9, and PIRQC and PIRQD routed there. */
	assert_int_equal(isa_irq_claim(&b->isa, 9, &sci), 0);
	assert_int_equal(isa_irq_claim(&b->isa, 9, &isa_nic), 0);
	pirq_route(b, 2, 9);
	pirq_route(b, 3, 9);
	irq_raise(&sci);
	pci_set_irq(&b->dev[0], 1);
	pci_set_irq(&b->dev[0], 0);
	assert_int_equal(b->pic.level[9], 1); /* the SCI is still pending */
	pci_set_irq(&b->dev[2], 1);
	irq_lower(&sci);
	assert_int_equal(b->pic.level[9], 1); /* PIRQD still asks */
	irq_raise(&isa_nic);
	pci_set_irq(&b->dev[2], 0);
	assert_int_equal(b->pic.level[9], 1);
	irq_lower(&isa_nic);
	assert_int_equal(b->pic.level[9], 0);
}

static void test_rerouting_moves_the_level(void **state)
{
	struct board *b = *state;
	struct irq_line sb16;

	assert_int_equal(isa_irq_claim(&b->isa, 5, &sb16), 0);
	pirq_route(b, 2, 11);
	pci_set_irq(&b->dev[0], 1);
	assert_int_equal(b->pic.level[11], 1);
	/* To IRQ 5, where an ISA card is already asking. */
	irq_raise(&sb16);
	pirq_route(b, 2, 5);
	assert_int_equal(b->pic.level[11], 0);
	assert_int_equal(b->pic.level[5], 1);
	/* Moving away again leaves the card's level in place. */
	pirq_route(b, 2, 10);
	assert_int_equal(b->pic.level[5], 1);
	assert_int_equal(b->pic.level[10], 1);
	irq_lower(&sb16);
	assert_int_equal(b->pic.level[5], 0);
	/* Disabled (bit 7) and reserved routes (0-2, 8, 13) lead nowhere;
	 * IRQ 0 and 8 are the timer and the RTC. */
	const uint8_t nowhere[] = { 0x8A, 0, 1, 2, 8, 13 };
	for (unsigned i = 0; i < sizeof(nowhere); i++) {
		pirq_route(b, 2, nowhere[i]);
		for (unsigned irq = 0; irq < 16; irq++)
			assert_int_equal(b->pic.level[irq], 0);
	}
	pirq_route(b, 2, 14);
	assert_int_equal(b->pic.level[14], 1);
	pci_set_irq(&b->dev[0], 0);
	assert_int_equal(b->pic.level[14], 0);
	/* A PIIX3 reset drops the PIRQ levels it drove. */
	pirq_route(b, 2, 11);
	pci_set_irq(&b->dev[0], 1);
	b->sb.pci.reset(&b->sb.pci);
	assert_int_equal(b->pic.level[11], 0);
}

/* A vCPU writes the device's COMMAND register (route_intx reads the
 * level) while a device thread raises INTx. Before the fix the vCPU could
 * read level 0, the thread raise the line, and the vCPU then hand its
 * stale 0 to the router: the interrupt was lost. The recorder below opens
 * exactly that window: on the vCPU's call it lets the device thread run
 * (waiting up to 200 ms for it) before recording. */
struct race {
	struct pci_bus pci;
	struct io_bus pio, mmio;
	struct pci_device dev;
	int level;
	int opened;
	pthread_mutex_t m;
	pthread_cond_t done_cond;
	int done;
};

static void *device_thread(void *arg)
{
	struct race *r = arg;
	pci_set_irq(&r->dev, 1);
	pthread_mutex_lock(&r->m);
	r->done = 1;
	pthread_cond_signal(&r->done_cond);
	pthread_mutex_unlock(&r->m);
	return NULL;
}

static void race_set_intx(void *opaque, uint8_t devfn, unsigned pin, int level)
{
	struct race *r = opaque;

	if (!r->opened && !level) {
		pthread_t t;
		struct timespec until;
		r->opened = 1;
		assert_int_equal(pthread_create(&t, NULL, device_thread, r), 0);
		pthread_detach(t);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&r->m);
		while (!r->done && pthread_cond_timedwait(&r->done_cond, &r->m, &until) == 0)
			;
		pthread_mutex_unlock(&r->m);
	}
	__atomic_store_n(&r->level, level, __ATOMIC_SEQ_CST);
}

static void test_intx_command_write_races_device(void **state)
{
	struct race *r = calloc(1, sizeof(*r));

	pthread_mutex_init(&r->m, NULL);
	pthread_cond_init(&r->done_cond, NULL);
	bus_init(&r->pio, "pio");
	bus_init(&r->mmio, "mmio");
	pci_bus_init(&r->pci, &r->pio, &r->mmio);
	r->pci.set_intx = race_set_intx;
	r->pci.intx_opaque = r;
	pci_device_init(&r->dev, "nic", 0x1234, 1, 0x020000, 0);
	pci_device_set_interrupt_pin(&r->dev, 1);
	assert_int_equal(pci_register(&r->pci, &r->dev, PCI_DEVFN(3, 0)), 0);

	/* The driver turns on memory decoding, as at probe. */
	pci_config_write(&r->pci, PCI_DEVFN(3, 0), PCI_COMMAND, 0x2, 2);
	pthread_mutex_lock(&r->m);
	while (!r->done)
		pthread_cond_wait(&r->done_cond, &r->m);
	pthread_mutex_unlock(&r->m);
	/* The device thread's own call may still be on its way out. */
	for (int i = 0; i < 1000 && !__atomic_load_n(&r->level, __ATOMIC_SEQ_CST); i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	assert_int_equal(r->dev.intx_level, 1);
	assert_int_equal(__atomic_load_n(&r->level, __ATOMIC_SEQ_CST), 1);
	bus_destroy(&r->pio);
	bus_destroy(&r->mmio);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_devices_one_line),
		cmocka_unit_test(test_level_line_makes_no_extra_edge),
		cmocka_unit_test(test_edge_line_gives_each_request_an_edge),
		cmocka_unit_test(test_claim_limits),
		cmocka_unit_test(test_resync_after_new_irqchip),
		cmocka_unit_test_setup_teardown(test_functions_share_a_pirq, board_setup,
						board_teardown),
		cmocka_unit_test_setup_teardown(test_pirqs_share_a_line_with_isa_devices,
						board_setup, board_teardown),
		cmocka_unit_test_setup_teardown(test_rerouting_moves_the_level, board_setup,
						board_teardown),
		cmocka_unit_test(test_intx_command_write_races_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
