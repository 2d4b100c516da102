// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-blk. A request is one chain: a 16-byte device-readable header
 * {le32 type, le32 reserved, le64 sector}, data (readable for writes,
 * writable for reads), and a final device-writable status byte. Every
 * length and sector range is checked against the disk before any I/O; a
 * request the device cannot answer (no status byte) breaks the device
 * (NEEDS_RESET) rather than writing anywhere.
 *
 * Two ways to carry out a request. Raw images (reads, writes, flushes)
 * go to io_uring when the kernel offers it: the I/O thread turns the chain
 * into one readv/writev/fsync SQE on the guest's own buffers and submits
 * once per notify; a completion thread reaps CQEs, writes the status bytes
 * and pushes the used entries under the transport lock, one interrupt per
 * batch. Everything else (qcow2 with its synchronous metadata, discard,
 * write-zeroes, get-id, a probed raw image's sector 0, unaligned O_DIRECT
 * buffers) goes to the worker pool: a worker does the I/O through
 * block.h without the transport lock, then takes it to push the used entry
 * and interrupt. A flush SQE is IOSQE_IO_DRAIN: it starts only after every
 * request submitted before it completed, so it covers all writes the driver
 * saw complete (pool writes are complete once pwrite returned). A driver
 * reset drops queued requests and waits for running ones (ring and pool),
 * so nothing completes into a ring the driver has freed.
 */
#include "hw/virtio_blk.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "lazylib.h"
#include "savestate.h"
#include "util.h"
#include "sandbox.h"

#define SECTOR 512u
#define URING_BATCH 64

struct blk_req {
	struct blk_req *next;
	unsigned q;
	uint16_t head;
	unsigned n_out, n_in;
	uint64_t out_len, in_len;
	/* io_uring: the data buffers alone (header and status byte cut off),
	 * stored after iov[] */
	struct iovec *data;
	unsigned n_data;
	uint32_t type;
	uint64_t offset, len;
	struct iovec iov[];
};

struct virtio_blk {
	struct virtio_pci t;
	struct block_dev *bd;
	uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
	char serial[20];
	struct virtq_iov scratch;

	unsigned nworkers;
	pthread_t *workers;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct blk_req *queue_head, *queue_tail;
	bool stopping;
	/* Under t.lock. At most the queue size: virtq_pop refuses a chain
	 * while 'size' are out (a driver republishing a head we still hold)
	 * and the device goes NEEDS_RESET, as a real device whose request
	 * slots are all busy cannot take more; so a guest cannot make us
	 * allocate requests without limit. */
	unsigned inflight;
	pthread_cond_t idle;      /* with t.lock: inflight reached 0 */

	bool uring_on;            /* io_uring set up for this raw image */
	struct io_uring ring;     /* SQ: I/O thread under t.lock; CQ: reaper */
	unsigned uring_queued;    /* SQEs prepared, not yet submitted */
	pthread_t reaper;
};

/* user_data of the NOP that stops the reaper */
static char reaper_stop;

/* ---- request execution (no locks held) ----------------------------------- */

/* Reads or writes 'len' bytes at disk 'offset' from/to the iovecs, skipping
 * the first 'skip' bytes of them. */
static int blk_rw(struct virtio_blk *b, const struct iovec *iov, unsigned n, uint64_t skip,
		  uint64_t len, uint64_t offset, bool write)
{
	for (unsigned i = 0; i < n && len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		uint64_t chunk = MIN(iov[i].iov_len - skip, len);
		uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
		int r = write ? block_pwrite(b->bd, p, chunk, offset)
			      : block_pread(b->bd, p, chunk, offset);
		if (r < 0)
			return r;
		offset += chunk;
		len -= chunk;
		skip = 0;
	}
	return len ? -EINVAL : 0;
}

static bool sectors_ok(struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	return sector <= UINT64_MAX / SECTOR && range_ok(sector * SECTOR, bytes, b->bd->size);
}

static uint8_t do_discard_zeroes(struct virtio_blk *b, struct blk_req *r, uint32_t type)
{
	uint64_t data = r->out_len - 16;
	uint8_t seg[16];

	if (b->bd->read_only)
		return VIRTIO_BLK_S_IOERR;
	/* One segment, as the config advertises (max_*_seg = 1). */
	if (data != 16)
		return VIRTIO_BLK_S_UNSUPP;
	iov_to_buf(r->iov, r->n_out, 16, seg, sizeof(seg));
	uint64_t sector = get_le64(seg);
	uint32_t num = get_le32(seg + 8);
	uint32_t flags = get_le32(seg + 12);
	if (num > VIRTIO_BLK_MAX_DISCARD_SECTORS || (flags & ~1u) ||
	    !sectors_ok(b, sector, (uint64_t)num * SECTOR))
		return VIRTIO_BLK_S_IOERR;
	uint64_t off = sector * SECTOR, len = (uint64_t)num * SECTOR;
	if (type == VIRTIO_BLK_T_DISCARD) {
		/* raw: a punched hole; qcow2: a hint that keeps the data */
		if (flags)
			return VIRTIO_BLK_S_UNSUPP;
		return block_discard(b->bd, len, off) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	}
	/* flag bit 0 = unmap: the range may be deallocated */
	return block_write_zeroes(b->bd, len, off, flags & 1) < 0 ? VIRTIO_BLK_S_IOERR
								   : VIRTIO_BLK_S_OK;
}

/* Carries out a request whose status byte exists; returns the status and
 * sets *data_in to the bytes written before it. */
static uint8_t execute(struct virtio_blk *b, struct blk_req *r, uint32_t *data_in)
{
	uint8_t hdr[16];
	const struct iovec *in = r->iov + r->n_out;
	uint64_t in_data = r->in_len - 1; /* the status byte is the last one */

	*data_in = 0;
	if (r->out_len < sizeof(hdr))
		return VIRTIO_BLK_S_IOERR;
	iov_to_buf(r->iov, r->n_out, 0, hdr, sizeof(hdr));
	uint32_t type = get_le32(hdr);
	uint64_t sector = get_le64(hdr + 8);

	switch (type) {
	case VIRTIO_BLK_T_IN:
		if (in_data % SECTOR || !sectors_ok(b, sector, in_data))
			return VIRTIO_BLK_S_IOERR;
		if (blk_rw(b, in, r->n_in, 0, in_data, sector * SECTOR, false) < 0)
			return VIRTIO_BLK_S_IOERR;
		*data_in = (uint32_t)in_data;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT: {
		uint64_t len = r->out_len - sizeof(hdr);
		if (b->bd->read_only)
			return VIRTIO_BLK_S_IOERR;
		if (len % SECTOR || !sectors_ok(b, sector, len))
			return VIRTIO_BLK_S_IOERR;
		if (blk_rw(b, r->iov, r->n_out, sizeof(hdr), len, sector * SECTOR, true) < 0)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_FLUSH:
		return block_flush(b->bd) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = (size_t)MIN(in_data, (uint64_t)sizeof(b->serial));
		*data_in = (uint32_t)buf_to_iov(in, r->n_in, 0, b->serial, n);
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return do_discard_zeroes(b, r, type);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void set_status(struct blk_req *r, uint8_t status);

static void run_request(struct virtio_blk *b, struct blk_req *r, uint32_t *written)
{
	uint32_t data_in;
	uint8_t status = execute(b, r, &data_in);

	set_status(r, status);
	*written = data_in + 1;
}

/* ---- io_uring (raw images) ---------------------------------------------- */

/* liburing, loaded when the first raw virtio disk sets up its ring
 * (lazylib.h): a machine without one does not pay for it. Only liburing's
 * exported functions are called through here; the header's inline helpers
 * (get_sqe, prep_*, cq_advance) touch the ring directly. */
static struct {
	__typeof__(io_uring_queue_init_params) *queue_init_params;
	__typeof__(io_uring_register) *register_;
	__typeof__(io_uring_queue_exit) *queue_exit;
	__typeof__(io_uring_submit) *submit;
	__typeof__(io_uring_wait_cqes) *wait_cqes;
	__typeof__(io_uring_peek_batch_cqe) *peek_batch_cqe;
} uring;

static const struct lazysym liburing_syms[] = {
	{ "io_uring_queue_init_params", (void **)&uring.queue_init_params },
	{ "io_uring_register", (void **)&uring.register_ },
	{ "io_uring_queue_exit", (void **)&uring.queue_exit },
	{ "io_uring_submit", (void **)&uring.submit },
	{ "io_uring_wait_cqes", (void **)&uring.wait_cqes },
	{ "io_uring_peek_batch_cqe", (void **)&uring.peek_batch_cqe },
	{ NULL, NULL },
};
static struct lazylib liburing = LAZYLIB_INIT("liburing.so.2", liburing_syms);

/* Fills r->data with the byte range [skip, skip+len) of the chain's
 * iovecs 'iov[0..n)'; false if a buffer is not aligned for O_DIRECT. */
static bool cut_data(struct virtio_blk *b, struct blk_req *r, const struct iovec *iov,
		     unsigned n, uint64_t skip, uint64_t len)
{
	unsigned align = b->bd->align;

	if (iov_cut(iov, n, skip, len, r->data, &r->n_data) != len || r->n_data == 0)
		return false;
	for (unsigned i = 0; i < r->n_data && align > 1; i++)
		if (((uintptr_t)r->data[i].iov_base | r->data[i].iov_len) & (align - 1))
			return false;
	return true;
}

/* Queues 'r' as one SQE if io_uring can carry it out as it is; false
 * leaves it to the pool (which also answers the malformed ones). */
static bool uring_prepare(struct virtio_blk *b, struct blk_req *r)
{
	uint8_t hdr[16];
	int fd = -1;

	if (r->out_len < sizeof(hdr))
		return false;
	iov_to_buf(r->iov, r->n_out, 0, hdr, sizeof(hdr));
	r->type = get_le32(hdr);
	uint64_t sector = get_le64(hdr + 8);
	r->data = r->iov + r->n_out + r->n_in;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		r->len = r->in_len - 1;
		if (r->len % SECTOR || !r->len || !sectors_ok(b, sector, r->len))
			return false;
		r->offset = sector * SECTOR;
		/* O_DIRECT: an unaligned range is bounced by the block layer */
		if (b->bd->align > 1 && ((r->offset | r->len) & (b->bd->align - 1)))
			return false;
		fd = block_async_fd(b->bd, r->offset, r->len, false);
		if (fd < 0 || !cut_data(b, r, r->iov + r->n_out, r->n_in, 0, r->len))
			return false;
		break;
	case VIRTIO_BLK_T_OUT:
		r->len = r->out_len - sizeof(hdr);
		/* O_DIRECT with blocks above a sector would need read-modify-write
		 * under the block layer's lock: the pool does that. */
		if (r->len % SECTOR || !r->len || !sectors_ok(b, sector, r->len) ||
		    b->bd->align > SECTOR)
			return false;
		r->offset = sector * SECTOR;
		fd = block_async_fd(b->bd, r->offset, r->len, true);
		if (fd < 0 || !cut_data(b, r, r->iov, r->n_out, sizeof(hdr), r->len))
			return false;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (b->bd->read_only || b->bd->cache == BLOCK_CACHE_UNSAFE)
			return false;
		fd = block_async_fd(b->bd, 0, 0, false);
		if (fd < 0)
			return false;
		r->len = 0;
		break;
	default:
		return false;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		uring.submit(&b->ring);
		b->uring_queued = 0;
		sqe = io_uring_get_sqe(&b->ring);
		if (!sqe)
			return false;
	}
	if (r->type == VIRTIO_BLK_T_IN)
		io_uring_prep_readv(sqe, fd, r->data, r->n_data, r->offset);
	else if (r->type == VIRTIO_BLK_T_OUT)
		io_uring_prep_writev(sqe, fd, r->data, r->n_data, r->offset);
	else {
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		sqe->flags |= IOSQE_IO_DRAIN;
	}
	io_uring_sqe_set_data(sqe, r);
	b->uring_queued++;
	/* query-blockstats counts it now: the ring bypasses block_pread/pwrite */
	block_account(b->bd, r->type == VIRTIO_BLK_T_IN ? BLOCK_ACCT_READ
			     : r->type == VIRTIO_BLK_T_OUT ? BLOCK_ACCT_WRITE : BLOCK_ACCT_FLUSH,
		      r->offset, r->len, 0, false);
	return true;
}

static void set_status(struct blk_req *r, uint8_t status)
{
	const struct iovec *last = &r->iov[r->n_out + r->n_in - 1];
	((uint8_t *)last->iov_base)[last->iov_len - 1] = status;
}

/* The status of a finished SQE; a short transfer (the file shrank under
 * us, or a signal) is finished synchronously through the block layer. */
static uint32_t uring_finish(struct virtio_blk *b, struct blk_req *r, int res)
{
	uint8_t status = VIRTIO_BLK_S_OK;
	uint32_t data_in = 0;

	if (res < 0) {
		status = VIRTIO_BLK_S_IOERR;
	} else if ((uint64_t)res < r->len) {
		bool write = r->type == VIRTIO_BLK_T_OUT;
		if (blk_rw(b, r->data, r->n_data, (uint64_t)res, r->len - (uint64_t)res,
			   r->offset + (uint64_t)res, write) < 0)
			status = VIRTIO_BLK_S_IOERR;
	}
	if (r->type == VIRTIO_BLK_T_IN && status == VIRTIO_BLK_S_OK)
		data_in = (uint32_t)r->len;
	set_status(r, status);
	return data_in + 1;
}

static void *reaper(void *opaque)
{
	struct virtio_blk *b = opaque;
	struct io_uring_cqe *cqes[URING_BATCH], *cqe;
	struct blk_req *done[URING_BATCH];
	uint32_t written[URING_BATCH];
	bool stop = false;

	sandbox_thread_start(SANDBOX_IO);

	while (!stop) {
		int ret = uring.wait_cqes(&b->ring, &cqe, 1, NULL, NULL);
		if (ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret < 0)
			die("virtio-blk: io_uring_wait_cqes: %s", strerror(-ret));
		unsigned n = uring.peek_batch_cqe(&b->ring, cqes, URING_BATCH), nd = 0;
		for (unsigned i = 0; i < n; i++) {
			struct blk_req *r = io_uring_cqe_get_data(cqes[i]);
			if ((void *)r == &reaper_stop) {
				stop = true;
				continue;
			}
			written[nd] = uring_finish(b, r, cqes[i]->res);
			done[nd++] = r;
		}
		io_uring_cq_advance(&b->ring, n);
		if (!nd)
			continue;
		pthread_mutex_lock(&b->t.lock);
		for (unsigned i = 0; i < nd; i++) {
			struct blk_req *r = done[i];
			virtq_mark_written(&b->t.vq[r->q], r->iov + r->n_out, r->n_in, written[i]);
			virtq_push(&b->t.vq[r->q], r->head, written[i]);
		}
		/* one interrupt for the batch (EVENT_IDX decides per queue) */
		for (unsigned q = 0; q < b->t.nqueues; q++)
			for (unsigned i = 0; i < nd; i++)
				if (done[i]->q == q) {
					virtio_pci_notify_queue(&b->t, q);
					break;
				}
		for (unsigned i = 0; i < nd; i++)
			free(done[i]);
		b->inflight -= nd;
		if (b->inflight == 0)
			pthread_cond_broadcast(&b->idle);
		pthread_mutex_unlock(&b->t.lock);
	}
	thread_exit_raw(); /* destroyed, at vmm's exit (util.h) */
	return NULL;
}

/* An io_uring performs its operations without system calls, out of the
 * seccomp filter's sight: the ring is created disabled, limited to the
 * operations this file submits (vectored read and write, fdatasync, the
 * stop nop; of the SQE flags only the drain a flush uses; no later
 * registration), and only then enabled.
 * A kernel without ring restrictions gets no ring: the pool does the work. */
static int uring_init_restricted(struct io_uring *ring)
{
	static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				       IORING_OP_NOP };
	struct io_uring_restriction res[ARRAY_SIZE(ops) + 1];
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };

	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	res[ARRAY_SIZE(ops)].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[ARRAY_SIZE(ops)].sqe_flags = IOSQE_IO_DRAIN;
	int ret = uring.queue_init_params(VIRTIO_BLK_QUEUE_SIZE, ring, &p);
	if (ret < 0)
		return ret;
	/* The raw register calls: Debian's liburing 2.3 does not export
	 * io_uring_register_restrictions and io_uring_enable_rings. */
	ret = uring.register_((unsigned)ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res,
				ARRAY_SIZE(res));
	if (ret == 0)
		ret = uring.register_((unsigned)ring->ring_fd, IORING_REGISTER_ENABLE_RINGS,
					NULL, 0);
	if (ret < 0)
		uring.queue_exit(ring);
	return ret;
}

/* io_uring for a raw image, unless the kernel (or a seccomp filter, or
 * VMM_BLK_URING=0) refuses it: then the pool does everything. */
static void uring_setup(struct virtio_blk *b)
{
	static bool warned;
	const char *env = getenv("VMM_BLK_URING");

	if (b->nworkers == 0 || block_async_fd(b->bd, 0, 0, false) < 0 ||
	    (env && !strcmp(env, "0")))
		return;
	char why[160];
	if (lazylib_load(&liburing, why, sizeof(why)) < 0) {
		if (!warned)
			warn("virtio-blk: %s; using worker threads", why);
		warned = true;
		return;
	}
	int ret = uring_init_restricted(&b->ring);
	if (ret < 0) {
		if (!warned)
			warn("virtio-blk: io_uring unavailable (%s); using worker threads",
			     strerror(-ret));
		warned = true;
		return;
	}
	if (pthread_create(&b->reaper, NULL, reaper, b) != 0)
		die("virtio-blk: cannot start the io_uring completion thread");
	b->uring_on = true;
}

static void uring_teardown(struct virtio_blk *b)
{
	if (!b->uring_on)
		return;
	/* every request is answered first (the I/O thread has stopped) */
	pthread_mutex_lock(&b->t.lock);
	while (b->inflight)
		pthread_cond_wait(&b->idle, &b->t.lock);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		uring.submit(&b->ring);
		sqe = io_uring_get_sqe(&b->ring);
	}
	pthread_mutex_unlock(&b->t.lock);
	if (!sqe)
		die("virtio-blk: io_uring: no SQE to stop the completion thread");
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, &reaper_stop);
	uring.submit(&b->ring);
	pthread_join(b->reaper, NULL);
	uring.queue_exit(&b->ring);
	b->uring_on = false;
}

/* ---- queue side (transport lock held) ------------------------------------ */

static void complete_locked(struct virtio_blk *b, struct blk_req *r, uint32_t written)
{
	virtq_mark_written(&b->t.vq[r->q], r->iov + r->n_out, r->n_in, written);
	virtq_push(&b->t.vq[r->q], r->head, written);
	virtio_pci_notify_queue(&b->t, r->q);
	free(r);
}

static void submit(struct virtio_pci *t, unsigned q, struct virtq_iov *iov)
{
	struct virtio_blk *b = t->dev;
	unsigned n = iov->n_out + iov->n_in;

	if (iov->n_in == 0) {
		/* No status byte: nothing can tell the driver it is wrong. */
		virtq_push(&t->vq[q], iov->head, 0);
		virtio_pci_set_needs_reset(t);
		return;
	}
	/* room for the chain, then for its data buffers alone (io_uring) */
	struct blk_req *r = xzalloc(sizeof(*r) + 2 * n * sizeof(r->iov[0]));
	r->q = q;
	r->head = iov->head;
	r->n_out = iov->n_out;
	r->n_in = iov->n_in;
	r->out_len = iov->out_len;
	r->in_len = iov->in_len;
	memcpy(r->iov, iov->iov, n * sizeof(r->iov[0]));
	if (b->nworkers == 0) {
		uint32_t written;
		run_request(b, r, &written);
		complete_locked(b, r, written);
		return;
	}
	b->inflight++;
	if (b->uring_on && uring_prepare(b, r))
		return;
	pthread_mutex_lock(&b->pool_lock);
	if (b->queue_tail)
		b->queue_tail->next = r;
	else
		b->queue_head = r;
	b->queue_tail = r;
	pthread_cond_signal(&b->pool_cond);
	pthread_mutex_unlock(&b->pool_lock);
}

static void blk_queue_notify(struct virtio_pci *t, unsigned q)
{
	struct virtio_blk *b = t->dev;
	virtio_pci_drain(t, q, &b->scratch, submit);
	/* one system call for everything this notify brought */
	if (b->uring_queued) {
		uring.submit(&b->ring);
		b->uring_queued = 0;
	}
}

static void blk_reset(struct virtio_pci *t)
{
	struct virtio_blk *b = t->dev;

	/* Requests not started yet are dropped... */
	pthread_mutex_lock(&b->pool_lock);
	while (b->queue_head) {
		struct blk_req *r = b->queue_head;
		b->queue_head = r->next;
		free(r);
		b->inflight--;
	}
	b->queue_tail = NULL;
	pthread_mutex_unlock(&b->pool_lock);
	/* ...running ones finish before the rings go away. */
	while (b->inflight)
		pthread_cond_wait(&b->idle, &t->lock);
}

static void *worker(void *opaque)
{
	struct virtio_blk *b = opaque;

	sandbox_thread_start(SANDBOX_WORKER);

	for (;;) {
		pthread_mutex_lock(&b->pool_lock);
		while (!b->queue_head && !b->stopping)
			pthread_cond_wait(&b->pool_cond, &b->pool_lock);
		if (!b->queue_head) {
			pthread_mutex_unlock(&b->pool_lock);
			thread_exit_raw(); /* destroyed, at vmm's exit (util.h) */
			return NULL;
		}
		struct blk_req *r = b->queue_head;
		b->queue_head = r->next;
		if (!b->queue_head)
			b->queue_tail = NULL;
		pthread_mutex_unlock(&b->pool_lock);

		uint32_t written;
		run_request(b, r, &written);

		pthread_mutex_lock(&b->t.lock);
		complete_locked(b, r, written);
		if (--b->inflight == 0)
			pthread_cond_broadcast(&b->idle);
		pthread_mutex_unlock(&b->t.lock);
	}
}

static const struct virtio_device_ops blk_ops = {
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
};

struct virtio_blk *virtio_blk_create(struct pci_bus *bus, uint8_t devfn,
				     const struct guest_mem *mem, const struct virtio_host *host,
				     struct block_dev *bd, const char *serial, unsigned workers)
{
	struct virtio_blk *b = xzalloc(sizeof(*b));
	uint8_t *c = b->config;
	uint64_t features = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
			    1ULL << VIRTIO_BLK_F_FLUSH;

	b->bd = bd;
	if (serial)
		memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
	if (bd->read_only)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		features |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;

	put_le64(c + 0, bd->size / SECTOR);             /* capacity */
	put_le32(c + 12, VIRTIO_BLK_QUEUE_SIZE - 2);    /* seg_max */
	put_le32(c + 20, SECTOR);                       /* blk_size */
	put_le16(c + 34, 1);                            /* num_queues */
	put_le32(c + 36, VIRTIO_BLK_MAX_DISCARD_SECTORS); /* max_discard_sectors */
	put_le32(c + 40, 1);                            /* max_discard_seg */
	put_le32(c + 44, 1);                            /* discard_sector_alignment */
	put_le32(c + 48, VIRTIO_BLK_MAX_DISCARD_SECTORS); /* max_write_zeroes_sectors */
	put_le32(c + 52, 1);                            /* max_write_zeroes_seg */

	pthread_mutex_init(&b->pool_lock, NULL);
	pthread_cond_init(&b->pool_cond, NULL);
	pthread_cond_init(&b->idle, NULL);
	virtio_pci_init(&b->t, "virtio-blk", VIRTIO_ID_BLOCK, 0x010000, mem, host, &blk_ops, b,
			features, 1, VIRTIO_BLK_QUEUE_SIZE, b->config, sizeof(b->config));
	b->nworkers = workers;
	if (workers) {
		b->workers = xzalloc(workers * sizeof(*b->workers));
		for (unsigned i = 0; i < workers; i++)
			if (pthread_create(&b->workers[i], NULL, worker, b) != 0)
				die("virtio-blk: cannot start worker threads");
	}
	uring_setup(b);
	if (virtio_pci_start(&b->t, bus, devfn) < 0) {
		virtio_blk_destroy(b);
		return NULL;
	}
	return b;
}

bool virtio_blk_uses_uring(const struct virtio_blk *b)
{
	return b->uring_on;
}

struct virtio_pci *virtio_blk_transport(struct virtio_blk *b)
{
	return &b->t;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_pci_stop(&b->t);
	uring_teardown(b);
	pthread_mutex_lock(&b->pool_lock);
	b->stopping = true;
	pthread_cond_broadcast(&b->pool_cond);
	pthread_mutex_unlock(&b->pool_lock);
	for (unsigned i = 0; i < b->nworkers; i++)
		pthread_join(b->workers[i], NULL);
	free(b->workers);
	block_close(b->bd);
	free(b);
}

void virtio_blk_quiesce(struct virtio_blk *b)
{
	virtio_pci_quiesce(&b->t);
	pthread_mutex_lock(&b->t.lock);
	while (b->inflight)
		pthread_cond_wait(&b->idle, &b->t.lock);
	pthread_mutex_unlock(&b->t.lock);
}

/* Saved state: requests in flight are completed first (the workers and
 * io_uring finish them; nothing new starts while the VM is paused), then
 * the transport and queues are saved. The disk's contents are the block
 * layer's, not part of this state. */
void virtio_blk_save(struct virtio_blk *b, struct ss_writer *w, uint32_t instance)
{
	pthread_mutex_lock(&b->t.lock);
	while (b->inflight)
		pthread_cond_wait(&b->idle, &b->t.lock);
	pthread_mutex_unlock(&b->t.lock);
	virtio_pci_save(&b->t, w, instance);
}

bool virtio_blk_load(struct virtio_blk *b, struct ss_reader *r, uint32_t instance)
{
	return virtio_pci_load(&b->t, r, instance);
}
