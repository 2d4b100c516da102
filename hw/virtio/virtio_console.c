// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-serial, written from the virtio 1.x specification (5.3).
 *
 * Handshake (MULTIPORT): the driver sends DEVICE_READY on the control
 * transmit queue; the device announces each port with DEVICE_ADD; the
 * driver answers PORT_READY per port, and the device then says which port
 * is a console (CONSOLE_PORT), its name (PORT_NAME) and whether the host
 * side is connected (PORT_OPEN: a socket chardev with a client, or any
 * other backend). The driver sends PORT_OPEN when a guest program opens or
 * closes the port.
 *
 * Locks: the transport lock (queue work, register accesses) is taken
 * before 'lock', which covers what the main thread shares with us: each
 * port's held input, its connection state, and the control messages
 * waiting for a control receive buffer. The main thread never takes the
 * transport lock.
 *
 * Host -> guest: the chardev's receive callback copies into the port's
 * buffer (up to VIRTIO_CONSOLE_PORT_BUF, then it refuses and the chardev
 * stops reading) and schedules the port's receive queue on the I/O
 * thread, which moves the bytes into guest buffers once the port may take
 * them (driver ready, and a named port opened by the guest: Linux throws
 * away data for a port nobody has open) and kicks the chardev for more.
 * Guest -> host: transmit chains go to chardev_write, which never blocks
 * on a socket.
 */
#include "hw/virtio_console.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "savestate.h"
#include "util.h"

#define QUEUE_SIZE 128
#define NQUEUES (2 * (VIRTIO_CONSOLE_MAX_PORTS + 1))
#define CTRL_RXQ 2
#define CTRL_TXQ 3
#define CTRL_HDR 8   /* le32 id, le16 event, le16 value */
#define CTRL_PENDING 64

struct port {
	struct virtio_console *v;
	unsigned id;
	bool present, console;
	char name[VIRTIO_CONSOLE_NAME_MAX + 1];
	struct chardev *cd;
	/* under v->lock */
	bool ready;          /* the driver sent PORT_READY */
	bool guest_open;     /* the driver sent PORT_OPEN 1 */
	bool host_connected;
	uint8_t in[VIRTIO_CONSOLE_PORT_BUF];
	size_t in_len;
};

struct ctrl_msg {
	uint32_t id;
	uint16_t event, value;
};

struct virtio_console {
	struct virtio_pci t;
	uint8_t config[12]; /* le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr */
	struct port ports[VIRTIO_CONSOLE_MAX_PORTS];
	struct virtq_iov scratch;    /* transmit and control-transmit chains */
	struct virtq_iov rx_scratch; /* receive chains: a control message may
				      * deliver held input while its chain is
				      * still being processed in 'scratch' */
	pthread_mutex_t lock;
	struct ctrl_msg ctrl[CTRL_PENDING];
	unsigned ctrl_head, ctrl_count;
	struct virtio_console_stats stats;
};

static unsigned port_rxq(unsigned id)
{
	return id == 0 ? 0 : 2 * id + 2;
}

/* The port a data queue belongs to (q is neither control queue). */
static unsigned queue_port(unsigned q)
{
	return q < 2 ? 0 : (q - 2) / 2;
}

static bool multiport(struct virtio_console *v)
{
	return virtio_pci_has_feature(&v->t, VIRTIO_CONSOLE_F_MULTIPORT);
}

static bool running(struct virtio_console *v)
{
	return (v->t.status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(v->t.status & VIRTIO_STATUS_NEEDS_RESET);
}

/* ---- control messages to the driver -------------------------------------- */

/* v->lock held. */
static void queue_ctrl(struct virtio_console *v, uint32_t id, uint16_t event, uint16_t value)
{
	if (v->ctrl_count == CTRL_PENDING) {
		v->stats.ctrl_dropped++;
		return;
	}
	v->ctrl[(v->ctrl_head + v->ctrl_count++) % CTRL_PENDING] =
		(struct ctrl_msg){ id, event, value };
}

/* Transport lock held: as many pending control messages as there are
 * control receive buffers. PORT_NAME carries the name after the header. */
static void ctrl_rx(struct virtio_console *v)
{
	struct virtio_pci *t = &v->t;
	struct virtqueue *vq = &t->vq[CTRL_RXQ];
	struct virtq_iov *iov = &v->rx_scratch;
	bool pushed = false;

	if (!running(v) || !multiport(v) || !vq->ready)
		return;
	pthread_mutex_lock(&v->lock);
	while (v->ctrl_count && virtio_pci_pop(t, CTRL_RXQ, iov) > 0) {
		struct ctrl_msg m = v->ctrl[v->ctrl_head];
		uint8_t msg[CTRL_HDR + VIRTIO_CONSOLE_NAME_MAX];
		size_t len = CTRL_HDR;
		uint32_t written = 0;
		put_le32(msg, m.id);
		put_le16(msg + 4, m.event);
		put_le16(msg + 6, m.value);
		if (m.event == VIRTIO_CONSOLE_PORT_NAME) {
			size_t n = strlen(v->ports[m.id].name);
			memcpy(msg + CTRL_HDR, v->ports[m.id].name, n);
			len += n;
		}
		/* A buffer too small even for the header gets nothing; a name is
		 * cut to what fits. */
		if (iov->in_len >= CTRL_HDR)
			written = (uint32_t)buf_to_iov(iov->iov + iov->n_out, iov->n_in, 0, msg,
						       (size_t)MIN((uint64_t)len, iov->in_len));
		virtq_mark_written(vq, iov->iov + iov->n_out, iov->n_in, written);
		virtq_push(vq, iov->head, written);
		pushed = true;
		v->ctrl_head = (v->ctrl_head + 1) % CTRL_PENDING;
		v->ctrl_count--;
	}
	pthread_mutex_unlock(&v->lock);
	if (pushed)
		virtio_pci_notify_queue(t, CTRL_RXQ);
}

/* ---- host -> guest data ---------------------------------------------------- */

/* v->lock held: may bytes go into this port's receive queue now? */
static bool deliverable(struct virtio_console *v, struct port *p)
{
	if (!running(v))
		return false;
	if (!multiport(v))
		return p->id == 0;
	return p->ready && (p->guest_open || p->console);
}

/* Transport lock held. */
static void port_rx(struct virtio_console *v, struct port *p)
{
	struct virtio_pci *t = &v->t;
	struct virtqueue *vq = &t->vq[port_rxq(p->id)];
	struct virtq_iov *iov = &v->rx_scratch;
	bool pushed = false, freed = false;

	if (!p->present || !vq->ready)
		return;
	pthread_mutex_lock(&v->lock);
	while (p->in_len && deliverable(v, p) && virtio_pci_pop(t, port_rxq(p->id), iov) > 0) {
		size_t n = buf_to_iov(iov->iov + iov->n_out, iov->n_in, 0, p->in, p->in_len);
		memmove(p->in, p->in + n, p->in_len - n);
		p->in_len -= n;
		freed |= n > 0;
		virtq_mark_written(vq, iov->iov + iov->n_out, iov->n_in, n);
		virtq_push(vq, iov->head, (uint32_t)n);
		pushed = true;
	}
	pthread_mutex_unlock(&v->lock);
	if (pushed)
		virtio_pci_notify_queue(t, port_rxq(p->id));
	if (freed)
		chardev_kick(p->cd);
}

/* Main thread (chardev frontend): keep what fits, have it delivered. */
static size_t port_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct port *p = opaque;
	struct virtio_console *v = p->v;

	pthread_mutex_lock(&v->lock);
	size_t n = MIN(len, sizeof(p->in) - p->in_len);
	memcpy(p->in + p->in_len, buf, n);
	p->in_len += n;
	pthread_mutex_unlock(&v->lock);
	if (n)
		virtio_pci_schedule(&v->t, port_rxq(p->id));
	return n;
}

/* Main thread: a socket client came or went. */
static void port_event(void *opaque, bool connected)
{
	struct port *p = opaque;
	struct virtio_console *v = p->v;

	pthread_mutex_lock(&v->lock);
	p->host_connected = connected;
	if (p->ready)
		queue_ctrl(v, p->id, VIRTIO_CONSOLE_PORT_OPEN, connected);
	pthread_mutex_unlock(&v->lock);
	virtio_pci_schedule(&v->t, CTRL_RXQ);
}

/* ---- guest -> host ----------------------------------------------------------- */

/* One chain's readable part may name guest RAM many times over (1024
 * descriptors of up to 4 GiB: terabytes), and a file chardev writes
 * synchronously, with the transport lock held. So a chain passes on at
 * most TX_CHAIN_MAX bytes (Linux sends at most 32 KiB per buffer; what is
 * cut is counted in the stats), and one pass over a queue stops after
 * TX_PASS_MAX bytes and has the I/O thread come back: between passes it
 * sees a stop request (quit) and vCPUs get the lock. */
#define TX_CHAIN_MAX (1u << 20)
#define TX_PASS_MAX (4u << 20)

/* Returns the bytes passed to the chardev. */
static size_t port_tx_one(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_console *v = t->dev;
	struct port *p = &v->ports[queue_port(q)];
	size_t passed = 0;

	/* Only the readable part carries data; writable descriptors are ignored. */
	if (p->present) {
		for (unsigned i = 0; i < iov->n_out && passed < TX_CHAIN_MAX; i++) {
			size_t n = MIN(iov->iov[i].iov_len, TX_CHAIN_MAX - passed);
			chardev_write(p->cd, iov->iov[i].iov_base, n);
			passed += n;
		}
		v->stats.tx_cut_bytes += iov->out_len - passed;
	}
	virtq_push(&t->vq[q], iov->head, 0);
	virtio_pci_notify_queue(t, q);
	return passed;
}

static void port_tx(struct virtio_console *v, unsigned q)
{
	struct virtio_pci *t = &v->t;
	uint64_t passed = 0;

	if (!running(v))
		return;
	while (virtio_pci_pop(t, q, &v->scratch) > 0) {
		passed += port_tx_one(t, q, &v->scratch);
		if (passed >= TX_PASS_MAX) {
			virtio_pci_schedule(t, q); /* the rest in the next pass */
			return;
		}
	}
}

/* v->lock held: the driver accepted port p. */
static void port_ready(struct virtio_console *v, struct port *p)
{
	p->ready = true;
	if (p->console)
		queue_ctrl(v, p->id, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	if (p->name[0])
		queue_ctrl(v, p->id, VIRTIO_CONSOLE_PORT_NAME, 1);
	if (p->host_connected)
		queue_ctrl(v, p->id, VIRTIO_CONSOLE_PORT_OPEN, 1);
}

/* Transport lock held: one message from the driver. Malformed ones (short,
 * port id out of range or not present, an event the driver may not send)
 * are counted and ignored: they can confuse only the guest's own ports. */
static void ctrl_tx_one(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_console *v = t->dev;
	uint8_t msg[CTRL_HDR];
	struct port *p = NULL;
	struct port *rx_port = NULL;

	if (iov_to_buf(iov->iov, iov->n_out, 0, msg, sizeof(msg)) < sizeof(msg)) {
		v->stats.bad_control++;
		goto done;
	}
	uint32_t id = get_le32(msg);
	uint16_t event = get_le16(msg + 4), value = get_le16(msg + 6);
	if (id < VIRTIO_CONSOLE_MAX_PORTS && v->ports[id].present)
		p = &v->ports[id];

	pthread_mutex_lock(&v->lock);
	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (value != 1)
			break; /* the driver failed to set up: nothing to announce */
		for (unsigned i = 0; i < VIRTIO_CONSOLE_MAX_PORTS; i++)
			if (v->ports[i].present)
				queue_ctrl(v, i, VIRTIO_CONSOLE_DEVICE_ADD, 1);
		break;
	case VIRTIO_CONSOLE_PORT_READY:
		if (!p)
			v->stats.bad_control++;
		else if (value == 1 && !p->ready)
			port_ready(v, p);
		break;
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (!p) {
			v->stats.bad_control++;
			break;
		}
		p->guest_open = value != 0;
		rx_port = p; /* held input may go now */
		break;
	default:
		v->stats.bad_control++;
		break;
	}
	pthread_mutex_unlock(&v->lock);
	if (rx_port)
		port_rx(v, rx_port);
done:
	virtq_push(&t->vq[q], iov->head, 0);
	virtio_pci_notify_queue(t, q);
}

static void console_queue_notify(struct virtio_pci *t, unsigned q)
{
	struct virtio_console *v = t->dev;

	if (q == CTRL_TXQ) {
		virtio_pci_drain(t, q, &v->scratch, ctrl_tx_one);
		ctrl_rx(v);
	} else if (q == CTRL_RXQ) {
		ctrl_rx(v);
	} else if (q % 2 == 0) {
		port_rx(v, &v->ports[queue_port(q)]);
	} else {
		port_tx(v, q);
	}
}

/* The driver reset the device: the handshake starts over. Host input held
 * for a port stays, for the next driver. */
static void console_reset(struct virtio_pci *t)
{
	struct virtio_console *v = t->dev;

	pthread_mutex_lock(&v->lock);
	v->ctrl_head = v->ctrl_count = 0;
	for (unsigned i = 0; i < VIRTIO_CONSOLE_MAX_PORTS; i++)
		v->ports[i].ready = v->ports[i].guest_open = false;
	pthread_mutex_unlock(&v->lock);
}

static const struct virtio_device_ops console_ops = {
	.queue_notify = console_queue_notify,
	.reset = console_reset,
};

struct virtio_console *virtio_console_create(struct pci_bus *bus, uint8_t devfn,
					     const struct guest_mem *mem,
					     const struct virtio_host *host,
					     const struct virtio_console_port_config *ports,
					     unsigned nports)
{
	struct virtio_console *v = xzalloc(sizeof(*v));

	pthread_mutex_init(&v->lock, NULL);
	put_le32(v->config + 4, VIRTIO_CONSOLE_MAX_PORTS);
	for (unsigned i = 0; i < VIRTIO_CONSOLE_MAX_PORTS; i++) {
		v->ports[i].v = v;
		v->ports[i].id = i;
	}
	virtio_pci_init(&v->t, "virtio-serial", VIRTIO_ID_CONSOLE, 0x078000, mem, host,
			&console_ops, v, 1ULL << VIRTIO_CONSOLE_F_MULTIPORT, NQUEUES, QUEUE_SIZE,
			v->config, sizeof(v->config));
	for (unsigned i = 0; i < nports; i++) {
		const struct virtio_console_port_config *pc = &ports[i];
		if (pc->nr >= VIRTIO_CONSOLE_MAX_PORTS || v->ports[pc->nr].present || !pc->cd)
			goto fail;
		struct port *p = &v->ports[pc->nr];
		p->present = true;
		p->console = pc->console;
		p->cd = pc->cd;
		snprintf(p->name, sizeof(p->name), "%s", pc->name ? pc->name : "");
		struct chardev_frontend fe = { .receive = port_receive, .event = port_event, .opaque = p };
		if (chardev_attach(pc->cd, &fe) < 0)
			goto fail;
	}
	if (virtio_pci_start(&v->t, bus, devfn) < 0)
		goto fail;
	return v;
fail:
	virtio_console_destroy(v);
	return NULL;
}

struct virtio_pci *virtio_console_transport(struct virtio_console *v)
{
	return &v->t;
}

struct virtio_console_stats virtio_console_stats(struct virtio_console *v)
{
	pthread_mutex_lock(&v->t.lock);
	struct virtio_console_stats s = v->stats;
	pthread_mutex_unlock(&v->t.lock);
	return s;
}

void virtio_console_destroy(struct virtio_console *v)
{
	if (!v)
		return;
	virtio_pci_stop(&v->t);
	for (unsigned i = 0; i < VIRTIO_CONSOLE_MAX_PORTS; i++)
		if (v->ports[i].present)
			chardev_detach(v->ports[i].cd);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* ---- saved state ------------------------------------------------------------
 * The transport (hw/virtio_pci.h, section "virtio-serial"), then the ports
 * (section "virtio-serial-ports"): what the driver said about each port
 * (PORT_READY, PORT_OPEN), what the guest was last told about the host
 * side, host input held for the guest, and control messages not yet
 * delivered. Transmit chains go to the chardev as they are popped, so
 * nothing is in flight. The ports themselves (which exist, console, name)
 * are the machine's configuration: the loading side must have the same. */
#define PORTS_SECTION "virtio-serial-ports"

void virtio_console_save(struct virtio_console *v, struct ss_writer *w, uint32_t instance)
{
	virtio_pci_save(&v->t, w, instance);
	pthread_mutex_lock(&v->t.lock);
	pthread_mutex_lock(&v->lock);
	ss_section_begin(w, PORTS_SECTION, instance, 1);
	ss_put_array(w, "port", VIRTIO_CONSOLE_MAX_PORTS);
	for (unsigned i = 0; i < VIRTIO_CONSOLE_MAX_PORTS; i++) {
		const struct port *p = &v->ports[i];
		ss_put_elem_begin(w, "port", i);
		ss_put_bool(w, "present", p->present);
		ss_put_bool(w, "console", p->console);
		ss_put_bytes(w, "name", p->name, strlen(p->name));
		ss_put_bool(w, "ready", p->ready);
		ss_put_bool(w, "guest_open", p->guest_open);
		ss_put_bool(w, "host_connected", p->host_connected);
		ss_put_bytes(w, "in", p->in, p->in_len);
		ss_put_elem_end(w);
	}
	ss_put_array(w, "ctrl", v->ctrl_count);
	for (unsigned i = 0; i < v->ctrl_count; i++) {
		const struct ctrl_msg *m = &v->ctrl[(v->ctrl_head + i) % CTRL_PENDING];
		ss_put_elem_begin(w, "ctrl", i);
		ss_put_u32(w, "id", m->id);
		ss_put_u16(w, "event", m->event);
		ss_put_u16(w, "value", m->value);
		ss_put_elem_end(w);
	}
	ss_section_end(w);
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_unlock(&v->t.lock);
}

struct ports_saved {
	struct {
		bool ready, guest_open, host_connected;
		uint8_t in[VIRTIO_CONSOLE_PORT_BUF];
		size_t in_len;
	} port[VIRTIO_CONSOLE_MAX_PORTS];
	struct ctrl_msg ctrl[CTRL_PENDING];
	uint32_t nctrl;
};

/* Reads the ports section and checks it against this device's ports. */
static bool ports_get(struct virtio_console *v, struct ss_reader *r, struct ports_saved *ps,
		      uint32_t instance)
{
	uint32_t n = 0;
	if (!ss_section_open(r, PORTS_SECTION, instance, 1, 1, NULL))
		return false;
	ss_get_array(r, "port", VIRTIO_CONSOLE_MAX_PORTS, &n);
	if (ss_ok(r) && n != VIRTIO_CONSOLE_MAX_PORTS)
		ss_fail(r, "saved state: virtio-serial: %u ports", n);
	for (unsigned i = 0; i < n && ss_ok(r); i++) {
		const struct port *p = &v->ports[i];
		bool present = false, console = false;
		char name[VIRTIO_CONSOLE_NAME_MAX + 1] = { 0 };
		size_t name_len = 0;
		ss_get_elem_begin(r, "port", i);
		ss_get_bool(r, "present", &present);
		ss_get_bool(r, "console", &console);
		ss_get_bytes_max(r, "name", name, VIRTIO_CONSOLE_NAME_MAX, &name_len);
		ss_get_bool(r, "ready", &ps->port[i].ready);
		ss_get_bool(r, "guest_open", &ps->port[i].guest_open);
		ss_get_bool(r, "host_connected", &ps->port[i].host_connected);
		ss_get_bytes_max(r, "in", ps->port[i].in, sizeof(ps->port[i].in), &ps->port[i].in_len);
		ss_get_elem_end(r);
		if (ss_ok(r) && (present != p->present || console != p->console ||
				 strcmp(name, p->name)))
			ss_fail(r, "saved state: virtio-serial port %u is not this machine's", i);
	}
	ss_get_array(r, "ctrl", CTRL_PENDING, &ps->nctrl);
	for (unsigned i = 0; i < ps->nctrl && ss_ok(r); i++) {
		struct ctrl_msg *m = &ps->ctrl[i];
		ss_get_elem_begin(r, "ctrl", i);
		ss_get_u32(r, "id", &m->id);
		ss_get_u16(r, "event", &m->event);
		ss_get_u16(r, "value", &m->value);
		ss_get_elem_end(r);
		/* delivering PORT_NAME reads the port's name */
		if (ss_ok(r) && (m->id >= VIRTIO_CONSOLE_MAX_PORTS || !v->ports[m->id].present))
			ss_fail(r, "saved state: virtio-serial: a control message for port %u",
				m->id);
	}
	return ss_section_close(r);
}

/* Under both locks: what the device holds now, into ps. */
static void ports_capture(struct virtio_console *v, struct ports_saved *ps)
{
	for (unsigned i = 0; i < VIRTIO_CONSOLE_MAX_PORTS; i++) {
		const struct port *p = &v->ports[i];
		ps->port[i].ready = p->ready;
		ps->port[i].guest_open = p->guest_open;
		ps->port[i].host_connected = p->host_connected;
		memcpy(ps->port[i].in, p->in, p->in_len);
		ps->port[i].in_len = p->in_len;
	}
	ps->nctrl = v->ctrl_count;
	for (unsigned i = 0; i < v->ctrl_count; i++)
		ps->ctrl[i] = v->ctrl[(v->ctrl_head + i) % CTRL_PENDING];
}

/* Under both locks: ps into the device (host_connected stays this side's). */
static void ports_install(struct virtio_console *v, const struct ports_saved *ps)
{
	for (unsigned i = 0; i < VIRTIO_CONSOLE_MAX_PORTS; i++) {
		struct port *p = &v->ports[i];
		if (!p->present)
			continue;
		p->ready = ps->port[i].ready;
		p->guest_open = ps->port[i].guest_open;
		memcpy(p->in, ps->port[i].in, ps->port[i].in_len);
		p->in_len = ps->port[i].in_len;
	}
	v->ctrl_head = 0;
	v->ctrl_count = ps->nctrl;
	memcpy(v->ctrl, ps->ctrl, sizeof(v->ctrl[0]) * ps->nctrl);
}

/* The ports go in before the transport; if the transport is refused,
 * they are put back. Held input and control messages are delivered at
 * virtio_pci_resume(), not by the load. */
bool virtio_console_load(struct virtio_console *v, struct ss_reader *r, uint32_t instance)
{
	struct ports_saved *ps = xzalloc(sizeof(*ps)), *old = xzalloc(sizeof(*old));
	bool ok = ports_get(v, r, ps, instance), installed = ok;

	if (ok) {
		pthread_mutex_lock(&v->t.lock);
		pthread_mutex_lock(&v->lock);
		ports_capture(v, old);
		ports_install(v, ps);
		pthread_mutex_unlock(&v->lock);
		pthread_mutex_unlock(&v->t.lock);
		ok = virtio_pci_load(&v->t, r, instance);
	}
	if (ok) {
		pthread_mutex_lock(&v->t.lock);
		pthread_mutex_lock(&v->lock);
		/* The host side here may differ from what the guest was told. */
		for (unsigned i = 0; i < VIRTIO_CONSOLE_MAX_PORTS; i++) {
			struct port *p = &v->ports[i];
			if (p->present && p->ready && p->host_connected != ps->port[i].host_connected)
				queue_ctrl(v, p->id, VIRTIO_CONSOLE_PORT_OPEN, p->host_connected);
		}
		pthread_mutex_unlock(&v->lock);
		pthread_mutex_unlock(&v->t.lock);
	} else if (installed) {
		pthread_mutex_lock(&v->t.lock);
		pthread_mutex_lock(&v->lock);
		ports_install(v, old);
		pthread_mutex_unlock(&v->lock);
		pthread_mutex_unlock(&v->t.lock);
	}
	free(ps);
	free(old);
	return ok;
}
