// SPDX-License-Identifier: GPL-2.0-or-later
/* virtio-pci transport and virtio-blk, driven through PCI config space and
 * the BARs the way a driver does: capabilities, feature negotiation, queue
 * set-up (modern and legacy), requests good and bad, INTx and MSI-X. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "device.h"
#include "hw/virtio_blk.h"
#include "memdisk.h"
#include "savestate.h"
#include "virtio_fixture.h"

#define RAM_SIZE (1024 * 1024)
#define DEVFN PCI_DEVFN(3, 0)
#define IOBASE 0xC000
#define MSIXBASE 0xFEBFF000ULL
#define QSIZE 16
#define HDR 0x8000
#define DATA 0x10000
#define STATUS 0x9000
#define DISK_SECTORS 64

struct msi {
	uint64_t addr;
	uint32_t data;
};

struct ctx {
	struct vfix f;
	struct memdisk *disk;
	struct virtio_blk *blk;
	struct msi msi[16];
	unsigned nmsi;
	bool legacy;
	char raw_path[64]; /* the disk is this raw file (io_uring path) */
};

static struct ctx *C;

/* A mock of KVM's MSI routes and irqfds. */
struct mock_kvm {
	struct msi route[8];
	unsigned nroutes, route_updates;
	int fd_of_gsi[8];
} KVMM;

/* The fixture's INTx, checking that it comes from this function's pin A. */
static void set_intx(void *opaque, uint8_t devfn, unsigned pin, int level)
{
	assert_int_equal(devfn, DEVFN);
	assert_int_equal(pin, 1);
	vfix_set_intx(opaque, devfn, pin, level);
}

static void send_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct ctx *c = opaque;
	assert_true(c->nmsi < 16);
	c->msi[c->nmsi++] = (struct msi){ addr, data };
}

static int mock_msi_route(void *opaque, int *gsi, uint64_t addr, uint32_t data)
{
	if (*gsi < 0) {
		assert_true(KVMM.nroutes < 8);
		*gsi = 24 + (int)KVMM.nroutes++;
	}
	KVMM.route[*gsi - 24] = (struct msi){ addr, data };
	KVMM.route_updates++;
	return 0;
}

static int mock_irqfd(void *opaque, int fd, int gsi, bool assign)
{
	KVMM.fd_of_gsi[gsi - 24] = assign ? fd : -1;
	return 0;
}

/* Interrupts KVM would have injected through route 'gsi' since last asked. */
static uint64_t irqfd_count(int gsi)
{
	uint64_t n = 0;
	if (KVMM.fd_of_gsi[gsi - 24] < 0 || read(KVMM.fd_of_gsi[gsi - 24], &n, sizeof(n)) < 0)
		return 0;
	return n;
}

static bool use_irqfd;

static bool use_raw_file;

static void make_device(struct ctx *c, bool read_only, bool with_msi, bool threaded)
{
	struct virtio_host host = { .send_msi = with_msi ? send_msi : NULL, .opaque = c,
				    .io_thread = threaded };
	if (use_irqfd) {
		host.msi_route = mock_msi_route;
		host.irqfd = mock_irqfd;
	}

	c->disk = memdisk_new(DISK_SECTORS * 512, read_only);
	for (unsigned i = 0; i < DISK_SECTORS * 512; i++)
		c->disk->data[i] = (uint8_t)(i * 7 + (i >> 9));
	struct block_dev *bd = &c->disk->bd;
	if (use_raw_file) {
		char err[128];
		strcpy(c->raw_path, "/var/tmp/vmm-unit-blk-XXXXXX");
		int fd = mkstemp(c->raw_path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, c->disk->data, DISK_SECTORS * 512), DISK_SECTORS * 512);
		close(fd);
		bd = block_open(c->raw_path, "raw", read_only, NULL, err, sizeof(err));
		assert_non_null(bd);
	}
	c->blk = virtio_blk_create(&c->f.pci, DEVFN, &c->f.mem, &host, bd, "SERIAL-42",
				   threaded ? 4 : 0);
	assert_non_null(c->blk);
	c->f.t = virtio_blk_transport(c->blk);
	/* Firmware places the BARs (the MSI-X table's too) and enables
	 * decoding and bus mastering. */
	vfix_cfg_wr(&c->f, PCI_BAR0 + 4, (uint32_t)MSIXBASE, 4);
	vfix_place_bars(&c->f, IOBASE);
}

static int setup_common(void **state, bool read_only, bool with_msi, bool threaded)
{
	struct ctx *c = calloc(1, sizeof(*c));
	vfix_init(&c->f, RAM_SIZE, DEVFN, QSIZE);
	c->f.pci.set_intx = set_intx;
	make_device(c, read_only, with_msi, threaded);
	C = c;
	*state = c;
	return 0;
}

static int setup(void **state) { return setup_common(state, false, false, false); }
static int setup_ro(void **state) { return setup_common(state, true, false, false); }
static int setup_msi(void **state) { return setup_common(state, false, true, false); }
static int setup_threaded(void **state) { return setup_common(state, false, true, true); }
static int setup_uring(void **state)
{
	use_raw_file = true;
	int r = setup_common(state, false, true, true);
	use_raw_file = false;
	return r;
}
static int setup_irqfd(void **state)
{
	memset(&KVMM, 0, sizeof(KVMM));
	for (unsigned i = 0; i < 8; i++)
		KVMM.fd_of_gsi[i] = -1;
	use_irqfd = true;
	int r = setup_common(state, false, true, false);
	use_irqfd = false;
	return r;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	uint8_t *data = c->disk->data;
	/* The device owns the block device; block_close() frees the memdisk
	 * (its first member). */
	virtio_blk_destroy(c->blk);
	if (c->raw_path[0]) {
		unlink(c->raw_path);
		free(c->disk); /* not the device's block_dev here */
	}
	free(data);
	vfix_destroy(&c->f);
	free(c);
	return 0;
}

/* ---- a small driver ---- */

/* Status and ISR through whichever interface the test's driver uses. */
static uint8_t status_read(struct ctx *c)
{
	return c->legacy ? (uint8_t)vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_STATUS, 1)
			 : vfix_status(&c->f);
}

static void status_write(struct ctx *c, uint8_t v)
{
	if (c->legacy)
		vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_STATUS, v, 1);
	else
		vfix_set_status(&c->f, v);
}

static uint8_t isr_read(struct ctx *c)
{
	return c->legacy ? (uint8_t)vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_ISR, 1)
			 : vfix_isr(&c->f);
}

static void modern_setup(struct ctx *c, uint64_t features)
{
	status_write(c, 0);
	status_write(c, VIRTIO_STATUS_ACKNOWLEDGE);
	vfix_negotiate(&c->f, features);
	/* Fresh rings: DRIVER_OK makes the device look at them. */
	assert_int_equal(vfix_queue_setup(&c->f, 0), VIRTIO_BLK_QUEUE_SIZE);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_Q_ENABLE, 2), 1);
}

static void modern_init(struct ctx *c, uint64_t features)
{
	modern_setup(c, features);
	vfix_driver_ok(&c->f);
}

#define BASIC_FEATURES (1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_BLK_F_FLUSH)

/* Offers chain 0 (modern driver) and kicks; returns the used length, or
 * -1 if the device did not complete it. */
static long submit(struct ctx *c)
{
	uint16_t seen = c->f.used_seen[0];

	vfix_offer(&c->f, 0, 0);
	uint16_t idx = vfix_used_idx(&c->f, 0);
	if (idx == seen)
		return -1;
	assert_int_equal((uint16_t)(idx - seen), 1);
	c->f.used_seen[0] = idx;
	assert_int_equal(vfix_used_id(&c->f, 0, seen), 0);
	return vfix_used_len(&c->f, 0, seen);
}

static void put_hdr(struct ctx *c, uint32_t type, uint64_t sector)
{
	put_le32(c->f.ram + HDR, type);
	put_le32(c->f.ram + HDR + 4, 0);
	put_le64(c->f.ram + HDR + 8, sector);
}

/* header, data (len bytes, writable for reads), status */
static long request(struct ctx *c, uint32_t type, uint64_t sector, uint32_t len, bool data_in)
{
	put_hdr(c, type, sector);
	c->f.ram[STATUS] = 0xEE;
	vfix_set_desc(&c->f, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, len ? 1 : 2);
	if (len)
		vfix_set_desc(&c->f, 0, 1, DATA, len,
			      VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0), 2);
	vfix_set_desc(&c->f, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	return submit(c);
}

/* ---- tests ---- */

static void test_pci_identity_and_caps(void **state)
{
	struct ctx *c = *state;
	bool seen[6] = { false };

	assert_int_equal(vfix_cfg_rd(&c->f, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_DEVICE_ID, 2), 0x1001); /* transitional block */
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_SUBSYSTEM_ID, 2), VIRTIO_ID_BLOCK);
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_REVISION_ID, 1), 0);
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_INTERRUPT_PIN, 1), 1);
	assert_true(vfix_cfg_rd(&c->f, PCI_STATUS, 2) & 0x10);
	/* Walk the capability list: vendor caps for all four structures, in BAR4. */
	unsigned p = vfix_cfg_rd(&c->f, PCI_CAPABILITY_LIST, 1), hops = 0;
	while (p && hops++ < 16) {
		if (vfix_cfg_rd(&c->f, p, 1) == 0x09) {
			unsigned type = vfix_cfg_rd(&c->f, p + 3, 1);
			assert_true(type >= 1 && type <= 5);
			if (type != 5)
				assert_int_equal(vfix_cfg_rd(&c->f, p + 4, 1), 4);
			seen[type] = true;
			if (type == 2)
				assert_int_equal(vfix_cfg_rd(&c->f, p + 16, 4),
						 VIRTIO_PCI_NOTIFY_MULT);
		}
		p = vfix_cfg_rd(&c->f, p + 1, 1);
	}
	assert_true(seen[1] && seen[2] && seen[3] && seen[4] && seen[5]);
	/* The capability bytes are read-only. */
	vfix_cfg_wr(&c->f, 0x4C, 0xFFFFFFFF, 4);
	assert_int_equal(vfix_cfg_rd(&c->f, 0x4C, 1), 0x09);
	/* No MSI in this set-up: no MSI-X capability. */
	assert_int_equal(vfix_cfg_rd(&c->f, PCI_CAPABILITY_LIST, 1), 0x4C);
}

/* The PCI configuration access capability: BAR4 through config space. */
static void test_pci_cfg_window(void **state)
{
	struct ctx *c = *state;
	unsigned cap = 0x90;

	assert_int_equal(vfix_cfg_rd(&c->f, cap, 1), 0x09);
	assert_int_equal(vfix_cfg_rd(&c->f, cap + 3, 1), 5);
	/* Read num_queues (2 bytes at common + 18). */
	vfix_cfg_wr(&c->f, cap + 4, 4, 1);
	vfix_cfg_wr(&c->f, cap + 8, VIRTIO_COMMON_NUMQ, 4);
	vfix_cfg_wr(&c->f, cap + 12, 2, 4);
	assert_int_equal(vfix_cfg_rd(&c->f, cap + 16, 4) & 0xFFFF, 1);
	/* Capacity, 4 bytes of the device config. */
	vfix_cfg_wr(&c->f, cap + 8, VIRTIO_PCI_DEVICE_OFF, 4);
	vfix_cfg_wr(&c->f, cap + 12, 4, 4);
	assert_int_equal(vfix_cfg_rd(&c->f, cap + 16, 4), DISK_SECTORS);
	/* Write the status byte through the window. */
	vfix_cfg_wr(&c->f, cap + 8, VIRTIO_COMMON_STATUS, 4);
	vfix_cfg_wr(&c->f, cap + 12, 1, 4);
	vfix_cfg_wr(&c->f, cap + 16, VIRTIO_STATUS_ACKNOWLEDGE, 4);
	assert_int_equal(status_read(c), VIRTIO_STATUS_ACKNOWLEDGE);
	/* Bad windows (wrong BAR, misaligned, length 3, past the BAR) do nothing. */
	vfix_cfg_wr(&c->f, cap + 4, 0, 1);
	vfix_cfg_wr(&c->f, cap + 16, 0, 4);
	vfix_cfg_wr(&c->f, cap + 4, 4, 1);
	vfix_cfg_wr(&c->f, cap + 8, VIRTIO_COMMON_STATUS + 1, 4);
	vfix_cfg_wr(&c->f, cap + 12, 2, 4);
	vfix_cfg_wr(&c->f, cap + 16, 0, 4);
	vfix_cfg_wr(&c->f, cap + 12, 3, 4);
	vfix_cfg_wr(&c->f, cap + 16, 0, 4);
	vfix_cfg_wr(&c->f, cap + 8, VIRTIO_PCI_BAR4_SIZE - 2, 4);
	vfix_cfg_wr(&c->f, cap + 12, 4, 4);
	vfix_cfg_wr(&c->f, cap + 16, 0, 4);
	(void)vfix_cfg_rd(&c->f, cap + 16, 4);
	assert_int_equal(status_read(c), VIRTIO_STATUS_ACKNOWLEDGE);
}

static void test_config_space(void **state)
{
	struct ctx *c = *state;
	uint64_t f = vfix_device_features(&c->f);

	assert_true(f & 1ULL << VIRTIO_F_VERSION_1);
	assert_true(f & 1ULL << VIRTIO_RING_F_EVENT_IDX);
	assert_true(f & 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	assert_true(f & 1ULL << VIRTIO_BLK_F_FLUSH);
	assert_true(f & 1ULL << VIRTIO_BLK_F_SEG_MAX);
	assert_true(f & 1ULL << VIRTIO_BLK_F_BLK_SIZE);
	assert_true(f & 1ULL << VIRTIO_BLK_F_DISCARD);
	assert_false(f & 1ULL << VIRTIO_BLK_F_RO);
	assert_int_equal(vfix_devcfg_rd(&c->f, 0, 4) | vfix_devcfg_rd(&c->f, 4, 4) << 32,
			 DISK_SECTORS);
	assert_int_equal(vfix_devcfg_rd(&c->f, 12, 4), VIRTIO_BLK_QUEUE_SIZE - 2);
	assert_int_equal(vfix_devcfg_rd(&c->f, 20, 4), 512);
	/* The same through the legacy BAR, after the 20 bytes of registers. */
	assert_int_equal(vfix_iord(&c->f, IOBASE + 20, 4), DISK_SECTORS);
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_HOST_FEATURES, 4), (uint32_t)f);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_NUMQ, 2), 1);
}

static void test_features_ok_needs_version_1(void **state)
{
	struct ctx *c = *state;

	status_write(c, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vfix_common_wr(&c->f, VIRTIO_COMMON_GFSELECT, 0, 4);
	vfix_common_wr(&c->f, VIRTIO_COMMON_GF, 1u << VIRTIO_BLK_F_FLUSH, 4);
	status_write(c, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			       VIRTIO_STATUS_FEATURES_OK);
	assert_false(status_read(c) & VIRTIO_STATUS_FEATURES_OK);
	/* A feature we never offered is refused too. */
	status_write(c, 0);
	status_write(c, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vfix_common_wr(&c->f, VIRTIO_COMMON_GFSELECT, 1, 4);
	vfix_common_wr(&c->f, VIRTIO_COMMON_GF, 1 | 1u << 10, 4);
	status_write(c, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			       VIRTIO_STATUS_FEATURES_OK);
	assert_false(status_read(c) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_read_write_flush(void **state)
{
	struct ctx *c = *state;

	modern_init(c, BASIC_FEATURES);
	/* Read sectors 3-4. */
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 3, 1024, true), 1025);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_memory_equal(c->f.ram + DATA, c->disk->data + 3 * 512, 1024);
	/* INTx raised, ISR says "queue", reading it lowers the line. */
	assert_int_equal(c->f.intx, 1);
	assert_int_equal(isr_read(c), VIRTIO_ISR_QUEUE);
	assert_int_equal(c->f.intx, 0);
	assert_int_equal(isr_read(c), 0);
	/* Write sector 10. */
	memset(c->f.ram + DATA, 0xA5, 512);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 10, 512, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(c->disk->data[10 * 512 + i], 0xA5);
	/* Flush. */
	assert_int_equal(request(c, VIRTIO_BLK_T_FLUSH, 0, 0, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_int_equal(c->disk->flushes, 1);
	/* Last sector is fine, one past it is not. */
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 512, true), 513);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
}

/* A request kicked before DRIVER_OK waits (the device must not use the
 * rings yet) and is served when DRIVER_OK is set. */
static void test_kick_before_driver_ok(void **state)
{
	struct ctx *c = *state;

	modern_setup(c, BASIC_FEATURES);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 3, 512, true), -1);
	assert_int_equal(c->f.intx, 0);
	vfix_driver_ok(&c->f);
	assert_int_equal(vfix_used_idx(&c->f, 0), 1);
	assert_int_equal(vfix_used_len(&c->f, 0, 0), 513);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_memory_equal(c->f.ram + DATA, c->disk->data + 3 * 512, 512);
	assert_int_equal(c->f.intx, 1);
}

static void test_get_id_discard_zeroes(void **state)
{
	struct ctx *c = *state;

	modern_init(c, BASIC_FEATURES | 1ULL << VIRTIO_BLK_F_DISCARD |
			       1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	assert_int_equal(request(c, VIRTIO_BLK_T_GET_ID, 0, 20, true), 21);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_memory_equal(c->f.ram + DATA, "SERIAL-42\0", 10);

	/* Write zeroes over sectors 5-6. */
	put_le64(c->f.ram + DATA, 5);
	put_le32(c->f.ram + DATA + 8, 2);
	put_le32(c->f.ram + DATA + 12, 0);
	assert_int_equal(request(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(c->disk->data[5 * 512 + i], 0);
	assert_int_not_equal(c->disk->data[7 * 512 + 1], 0);
	/* Discard (a hint; succeeds). */
	assert_int_equal(request(c, VIRTIO_BLK_T_DISCARD, 0, 16, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	/* A discard range past the end fails. */
	put_le64(c->f.ram + DATA, DISK_SECTORS - 1);
	assert_int_equal(request(c, VIRTIO_BLK_T_DISCARD, 0, 16, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);
	/* Unknown request type. */
	assert_int_equal(request(c, 0x77, 0, 0, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_UNSUPP);
}

static void test_bad_requests(void **state)
{
	struct ctx *c = *state;
	uint8_t before[512];

	modern_init(c, BASIC_FEATURES);
	/* Sector past the end, and a range that overflows when scaled. */
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, DISK_SECTORS, 512, true), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1024, true), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, 512, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);
	/* Not a whole number of sectors. */
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 100, true), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);
	/* Short header: 8 bytes only. */
	memcpy(before, c->disk->data, 512);
	put_hdr(c, VIRTIO_BLK_T_OUT, 0);
	vfix_set_desc(&c->f, 0, 0, HDR, 8, VIRTQ_DESC_F_NEXT, 2);
	vfix_set_desc(&c->f, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(submit(c), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);
	assert_memory_equal(before, c->disk->data, 512);
	assert_false(status_read(c) & VIRTIO_STATUS_NEEDS_RESET);
	/* Status byte missing: nothing can report it; the device needs a reset. */
	vfix_set_desc(&c->f, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	vfix_set_desc(&c->f, 0, 1, DATA, 512, 0, 0);
	assert_int_equal(submit(c), 0);
	assert_memory_equal(before, c->disk->data, 512);
	assert_true(status_read(c) & VIRTIO_STATUS_NEEDS_RESET);
	/* Config-change interrupt (DRIVER_OK was set). */
	assert_true(isr_read(c) & VIRTIO_ISR_CONFIG);
	/* A reset brings it back. */
	modern_init(c, BASIC_FEATURES);
	assert_false(status_read(c) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
}

static void test_read_only(void **state)
{
	struct ctx *c = *state;
	uint8_t before[512];

	assert_true(vfix_device_features(&c->f) & 1ULL << VIRTIO_BLK_F_RO);
	assert_false(vfix_device_features(&c->f) & 1ULL << VIRTIO_BLK_F_DISCARD);
	modern_init(c, BASIC_FEATURES | 1ULL << VIRTIO_BLK_F_RO);
	memcpy(before, c->disk->data, 512);
	memset(c->f.ram + DATA, 0x11, 512);
	assert_int_equal(request(c, VIRTIO_BLK_T_OUT, 0, 512, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);
	assert_memory_equal(before, c->disk->data, 512);
	put_le64(c->f.ram + DATA, 0);
	put_le32(c->f.ram + DATA + 8, 1);
	put_le32(c->f.ram + DATA + 12, 0);
	assert_int_equal(request(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false), 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);
	assert_memory_equal(before, c->disk->data, 512);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
}

static void test_malformed_ring_needs_reset(void **state)
{
	struct ctx *c = *state;

	modern_init(c, BASIC_FEATURES);
	/* Data buffer outside guest RAM. */
	put_hdr(c, VIRTIO_BLK_T_IN, 0);
	vfix_set_desc(&c->f, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	vfix_set_desc(&c->f, 0, 1, RAM_SIZE - 256, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	vfix_set_desc(&c->f, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(submit(c), -1);
	assert_true(status_read(c) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(isr_read(c) & VIRTIO_ISR_CONFIG);
	/* Further kicks do nothing. */
	vfix_set_desc(&c->f, 0, 1, DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	assert_int_equal(submit(c), -1);
	/* A queue whose rings lie outside RAM is refused at enable. */
	status_write(c, 0);
	status_write(c, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_DESCLO, 0, 4);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_DESCHI, 0x10, 4);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_ENABLE, 1, 2);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_Q_ENABLE, 2), 0);
	assert_true(status_read(c) & VIRTIO_STATUS_NEEDS_RESET);
	/* Selecting a queue that does not exist reads size 0 and ignores writes. */
	status_write(c, 0);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 5, 2);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_Q_SIZE, 2), 0);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_ENABLE, 1, 2);
	vfix_notify(&c->f, 5);
	vfix_mwr(&c->f, c->f.bar4 + VIRTIO_PCI_NOTIFY_OFF + 0x800, 0, 2);
}

static void test_indirect_and_event_idx(void **state)
{
	struct ctx *c = *state;
	uint8_t *t = c->f.ram + 0x5000;

	modern_init(c, BASIC_FEATURES | 1ULL << VIRTIO_RING_F_INDIRECT_DESC |
			       1ULL << VIRTIO_RING_F_EVENT_IDX);
	put_hdr(c, VIRTIO_BLK_T_IN, 1);
	/* header, data in two pieces, status: all in an indirect table */
	put_le64(t, HDR); put_le32(t + 8, 16); put_le16(t + 12, VIRTQ_DESC_F_NEXT); put_le16(t + 14, 1);
	put_le64(t + 16, DATA); put_le32(t + 24, 100);
	put_le16(t + 28, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE); put_le16(t + 30, 2);
	put_le64(t + 32, DATA + 0x1000); put_le32(t + 40, 412);
	put_le16(t + 44, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE); put_le16(t + 46, 3);
	put_le64(t + 48, STATUS); put_le32(t + 56, 1); put_le16(t + 60, VIRTQ_DESC_F_WRITE);
	vfix_set_desc(&c->f, 0, 0, 0x5000, 64, VIRTQ_DESC_F_INDIRECT, 0);
	/* used_event = 0: the first completion interrupts. */
	assert_int_equal(submit(c), 513);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_memory_equal(c->f.ram + DATA, c->disk->data + 512, 100);
	assert_memory_equal(c->f.ram + DATA + 0x1000, c->disk->data + 512 + 100, 412);
	assert_int_equal(isr_read(c), VIRTIO_ISR_QUEUE);
	/* The device published avail_event = 1 (where it will look next). */
	assert_int_equal(get_le16(c->f.ram + VFIX_USED(0) + 4 + 8 * QSIZE), 1);
	/* used_event = 5: no interrupt for the next completions until 5 -> 6. */
	put_le16(c->f.ram + VFIX_AVAIL(0) + 4 + 2 * QSIZE, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(submit(c), 513);
		assert_int_equal(isr_read(c), i == 4 ? VIRTIO_ISR_QUEUE : 0);
	}
}

static void test_legacy_driver(void **state)
{
	struct ctx *c = *state;

	c->legacy = true;
	status_write(c, 0);
	status_write(c, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint32_t f = (uint32_t)vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_HOST_FEATURES, 4);
	assert_true(f & 1u << VIRTIO_BLK_F_FLUSH);
	vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_GUEST_FEATURES, 1u << VIRTIO_BLK_F_FLUSH, 4);
	vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SEL, 0, 2);
	/* Legacy drivers take the device's queue size. */
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_SIZE, 2),
			 VIRTIO_BLK_QUEUE_SIZE);
	vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_PFN, 0x20, 4);
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_PFN, 4), 0x20);
	status_write(c, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			       VIRTIO_STATUS_DRIVER_OK);
	/* With the real queue size 256: descriptors at 0x20000, avail after them,
	 * used at 0x22000. Our helpers assume QSIZE=16 slots; use slot 0 only. */
	put_hdr(c, VIRTIO_BLK_T_IN, 2);
	uint8_t *d = c->f.ram + 0x20000;
	put_le64(d, HDR); put_le32(d + 8, 16); put_le16(d + 12, VIRTQ_DESC_F_NEXT); put_le16(d + 14, 1);
	put_le64(d + 16, DATA); put_le32(d + 24, 512);
	put_le16(d + 28, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE); put_le16(d + 30, 2);
	put_le64(d + 32, STATUS); put_le32(d + 40, 1); put_le16(d + 44, VIRTQ_DESC_F_WRITE);
	uint64_t avail = 0x20000 + 256 * 16, used = 0x22000;
	put_le16(c->f.ram + avail + 4, 0);
	put_le16(c->f.ram + avail + 2, 1);
	vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_NOTIFY, 0, 2);
	assert_int_equal(get_le16(c->f.ram + used + 2), 1);
	assert_int_equal(get_le32(c->f.ram + used + 8), 513);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_memory_equal(c->f.ram + DATA, c->disk->data + 1024, 512);
	assert_int_equal(c->f.intx, 1);
	assert_int_equal(isr_read(c), VIRTIO_ISR_QUEUE);
	assert_int_equal(c->f.intx, 0);
	/* A PFN outside RAM: NEEDS_RESET, nothing touched. */
	vfix_iowr(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_PFN, 0xFFFFF, 4);
	assert_true(status_read(c) & VIRTIO_STATUS_NEEDS_RESET);
	status_write(c, 0);
	assert_int_equal(status_read(c), 0);
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_QUEUE_PFN, 4), 0);
}

/* MSI-X table entry v: message address and data, unmasked. */
static void msix_entry(struct ctx *c, unsigned v, uint32_t addr, uint32_t data)
{
	vfix_mwr(&c->f, MSIXBASE + 16 * v + 0, addr, 4);
	vfix_mwr(&c->f, MSIXBASE + 16 * v + 4, 0, 4);
	vfix_mwr(&c->f, MSIXBASE + 16 * v + 8, data, 4);
	vfix_mwr(&c->f, MSIXBASE + 16 * v + 12, 0, 4);
}

static void test_msix(void **state)
{
	struct ctx *c = *state;
	unsigned cap = vfix_cfg_rd(&c->f, PCI_CAPABILITY_LIST, 1);

	assert_int_equal(cap, 0x40);
	assert_int_equal(vfix_cfg_rd(&c->f, cap, 1), 0x11);
	assert_int_equal(vfix_cfg_rd(&c->f, cap + 2, 2) & 0x7FF, 1); /* 2 vectors */
	assert_int_equal(vfix_cfg_rd(&c->f, cap + 4, 4), 1);         /* table in BAR1 at 0 */
	assert_int_equal(vfix_cfg_rd(&c->f, cap + 8, 4), 0x801);     /* PBA in BAR1 at 0x800 */
	/* Vector 0: config, vector 1: queue 0. */
	msix_entry(c, 0, 0xFEE00000, 0x41);
	msix_entry(c, 1, 0xFEE01000, 0x42);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2); /* enable */
	modern_init(c, BASIC_FEATURES);
	vfix_common_wr(&c->f, VIRTIO_COMMON_MSIX, 0, 2);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_MSIX, 2), 0);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_MSIX, 1, 2);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_Q_MSIX, 2), 1);
	/* A vector beyond the table reads back as NO_VECTOR. */
	vfix_common_wr(&c->f, VIRTIO_COMMON_MSIX, 7, 2);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	vfix_common_wr(&c->f, VIRTIO_COMMON_MSIX, 0, 2);

	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(c->nmsi, 1);
	assert_int_equal(c->msi[0].addr, 0xFEE01000);
	assert_int_equal(c->msi[0].data, 0x42);
	assert_int_equal(c->f.intx, 0);
	/* Masked: the message waits in the PBA and goes out on unmask. */
	vfix_mwr(&c->f, MSIXBASE + 28, 1, 4);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(c->nmsi, 1);
	assert_int_equal(vfix_mrd(&c->f, MSIXBASE + 0x800, 4), 2);
	vfix_mwr(&c->f, MSIXBASE + 28, 0, 4);
	assert_int_equal(c->nmsi, 2);
	assert_int_equal(vfix_mrd(&c->f, MSIXBASE + 0x800, 4), 0);
	/* Function mask works the same way. */
	vfix_cfg_wr(&c->f, cap + 2, 0xC000, 2);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(c->nmsi, 2);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2);
	assert_int_equal(c->nmsi, 3);
	/* A broken queue raises the config vector. */
	vfix_set_desc(&c->f, 0, 1, RAM_SIZE, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	assert_int_equal(submit(c), -1);
	assert_int_equal(c->nmsi, 4);
	assert_int_equal(c->msi[3].data, 0x41);
	/* With the legacy interface and MSI-X on, device config moves to 24. */
	assert_int_equal(vfix_iord(&c->f, IOBASE + 24, 4), DISK_SECTORS);
	assert_int_equal(vfix_iord(&c->f, IOBASE + VIRTIO_LEGACY_CONFIG_VECTOR, 2), 0);
}

static void test_pci_reset(void **state)
{
	struct ctx *c = *state;

	modern_init(c, BASIC_FEATURES);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(c->f.intx, 1);
	pci_bus_reset(&c->f.pci);
	assert_int_equal(c->f.intx, 0);
	/* BARs unmapped by the reset. */
	assert_null(bus_find(&c->f.mmio, c->f.bar4));
	vfix_cfg_wr(&c->f, PCI_BAR0 + 16, (uint32_t)c->f.bar4, 4);
	vfix_cfg_wr(&c->f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_int_equal(status_read(c), 0);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_Q_ENABLE, 2), 0);
	assert_int_equal(vfix_common_rd(&c->f, VIRTIO_COMMON_Q_SIZE, 2), VIRTIO_BLK_QUEUE_SIZE);
}

/* MSI-X through KVM irqfds: each vector gets a route that follows its
 * table entry, and an interrupt is an eventfd write, not an ioctl. */
static void test_msix_irqfd(void **state)
{
	struct ctx *c = *state;
	unsigned cap = 0x40;

	msix_entry(c, 1, 0xFEE00000, 0x51);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2);
	modern_init(c, BASIC_FEATURES);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_MSIX, 1, 2);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(c->nmsi, 0); /* not through KVM_SIGNAL_MSI */
	assert_int_equal(KVMM.nroutes, 1);
	assert_int_equal(KVMM.route[0].addr, 0xFEE00000);
	assert_int_equal(KVMM.route[0].data, 0x51);
	assert_int_equal(irqfd_count(24), 1);
	/* Same entry: no new route update, just the eventfd. */
	unsigned updates = KVMM.route_updates;
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(KVMM.route_updates, updates);
	assert_int_equal(irqfd_count(24), 1);
	/* The guest moves the interrupt: the route follows. */
	vfix_mwr(&c->f, MSIXBASE + 24, 0x52, 4);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(KVMM.nroutes, 1);
	assert_int_equal(KVMM.route[0].data, 0x52);
	assert_int_equal(irqfd_count(24), 1);
	/* Masked: nothing through the irqfd until unmasked. */
	vfix_mwr(&c->f, MSIXBASE + 28, 1, 4);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(irqfd_count(24), 0);
	vfix_mwr(&c->f, MSIXBASE + 28, 0, 4);
	assert_int_equal(irqfd_count(24), 1);
	/* A system reset (new VM) forgets the routes; they come back on use. */
	pci_bus_reset(&c->f.pci);
	vfix_cfg_wr(&c->f, PCI_BAR0 + 4, (uint32_t)MSIXBASE, 4);
	vfix_cfg_wr(&c->f, PCI_BAR0 + 16, (uint32_t)c->f.bar4, 4);
	vfix_cfg_wr(&c->f, PCI_COMMAND,
		    PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	msix_entry(c, 1, 0xFEE00000, 0x53);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2);
	modern_init(c, BASIC_FEATURES);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_MSIX, 1, 2);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(KVMM.nroutes, 2);
	assert_int_equal(KVMM.route[1].data, 0x53);
	assert_int_equal(irqfd_count(25), 1);
	/* A load into the same VM (loadvm) keeps the route and its irqfd:
	 * KVM refuses a second route for a bound eventfd (EBUSY), and new
	 * routes would pile up with every load. */
	struct ss_writer w;
	struct ss_reader r;
	ss_writer_init(&w);
	virtio_blk_save(c->blk, &w, 0);
	assert_int_equal(ss_writer_finish(&w), 0);
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_true(virtio_blk_load(c->blk, &r, 0));
	ss_reader_close(&r);
	ss_writer_free(&w);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 0, 512, true), 513);
	assert_int_equal(KVMM.nroutes, 2);
	assert_int_equal(KVMM.route[1].data, 0x53);
	assert_int_equal(irqfd_count(25), 1);
}

/* Waits (5000 polls at most, 'poll_us' apart) for the I/O thread to have
 * used every chain offered. */
static void wait_used(struct ctx *c, unsigned poll_us)
{
	for (int spin = 0; spin < 5000; spin++) {
		if (vfix_used_idx(&c->f, 0) == c->f.avail_idx[0])
			break;
		usleep(poll_us);
	}
	assert_int_equal(vfix_used_idx(&c->f, 0), c->f.avail_idx[0]);
}

/* Offers chains 0..4 (descriptors 3r..3r+2) again and resets at once: the
 * I/O thread may be working on them, but nothing may complete after. */
static void reset_with_chains_offered(struct ctx *c)
{
	for (unsigned r = 0; r < 5; r++)
		vfix_avail_push(&c->f, 0, (uint16_t)(3 * r));
	vfix_avail_publish(&c->f, 0);
	vfix_notify(&c->f, 0);
	status_write(c, 0);
	uint16_t used = vfix_used_idx(&c->f, 0);
	usleep(20000);
	assert_int_equal(vfix_used_idx(&c->f, 0), used);
}

/* The runtime path: notify -> eventfd -> I/O thread -> worker pool, with
 * many requests in flight, then a reset while requests may still run. */
static void test_threaded_pool(void **state)
{
	struct ctx *c = *state;
	enum { N = 12 };
	unsigned cap = 0x40;

	msix_entry(c, 1, 0xFEE00000, 0x30);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2);
	modern_init(c, BASIC_FEATURES | 1ULL << VIRTIO_RING_F_EVENT_IDX);
	pthread_mutex_lock(&c->f.t->lock);
	c->f.t->queue_vector[0] = 1;
	pthread_mutex_unlock(&c->f.t->lock);
	for (unsigned r = 0; r < N; r++) {
		/* Chain r uses descriptors 3r..3r+2 (QSIZE 16 holds 5 chains at a
		 * time: offer in two rounds). */
		unsigned d = 3 * (r % 5);
		uint64_t hdr = HDR + 32 * r, data = DATA + 0x1000 * r, st = STATUS + r;
		put_le32(c->f.ram + hdr, VIRTIO_BLK_T_IN);
		put_le64(c->f.ram + hdr + 8, r);
		vfix_set_desc(&c->f, 0, d, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
		vfix_set_desc(&c->f, 0, d + 1, data, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
			      (uint16_t)(d + 2));
		vfix_set_desc(&c->f, 0, d + 2, st, 1, VIRTQ_DESC_F_WRITE, 0);
		c->f.ram[st] = 0xEE;
		vfix_offer(&c->f, 0, (uint16_t)d);
		if (r % 5 == 4 || r == N - 1)
			wait_used(c, 1000); /* this round */
	}
	for (unsigned r = 0; r < N; r++) {
		assert_int_equal(c->f.ram[STATUS + r], VIRTIO_BLK_S_OK);
		assert_memory_equal(c->f.ram + DATA + 0x1000 * r, c->disk->data + 512 * r, 512);
	}
	pthread_mutex_lock(&c->f.t->lock);
	assert_true(c->nmsi >= 1);
	pthread_mutex_unlock(&c->f.t->lock);
	/* Offer more, then reset at once: nothing may complete afterwards. */
	reset_with_chains_offered(c);
	assert_int_equal(status_read(c), 0);
}

/* Offers chains 0..n-1 (descriptors 3r..3r+2, all at once: n <= 5) and
 * waits until the device used them all. */
static void offer_and_wait(struct ctx *c, unsigned n)
{
	for (unsigned r = 0; r < n; r++)
		vfix_avail_push(&c->f, 0, (uint16_t)(3 * r));
	vfix_avail_publish(&c->f, 0);
	vfix_notify(&c->f, 0);
	wait_used(c, 1000);
}

/* chain r: header, one data buffer (writable for reads), status byte */
static void rw_chain(struct ctx *c, unsigned r, uint32_t type, uint64_t sector, uint64_t data,
		     uint32_t len)
{
	unsigned d = 3 * r;
	uint64_t hdr = HDR + 32 * r, st = STATUS + r;
	put_le32(c->f.ram + hdr, type);
	put_le32(c->f.ram + hdr + 4, 0);
	put_le64(c->f.ram + hdr + 8, sector);
	bool in = type == VIRTIO_BLK_T_IN;
	if (len) {
		vfix_set_desc(&c->f, 0, d, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
		vfix_set_desc(&c->f, 0, d + 1, data, len,
			      VIRTQ_DESC_F_NEXT | (in ? VIRTQ_DESC_F_WRITE : 0), (uint16_t)(d + 2));
	} else {
		vfix_set_desc(&c->f, 0, d, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 2));
	}
	vfix_set_desc(&c->f, 0, d + 2, st, 1, VIRTQ_DESC_F_WRITE, 0);
	c->f.ram[st] = 0xEE;
}

extern const struct dev_class virtio_blk_class;

/* ---- dirty logging of the device's writes ---- */

/* Pages of guest RAM the device reported writing (guest_mem hooks, as the
 * memory map installs them in vmm). */
static struct {
	pthread_mutex_t lock;
	uint8_t page[RAM_SIZE / 4096];
} marks = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void record_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
	pthread_mutex_lock(&marks.lock);
	for (uint64_t p = gpa / 4096; p <= (gpa + len - 1) / 4096 && p < RAM_SIZE / 4096; p++)
		marks.page[p] = 1;
	pthread_mutex_unlock(&marks.lock);
}

static const struct guest_mem_hooks recorder = { .mark_dirty = record_dirty };

static bool marked(uint64_t gpa)
{
	pthread_mutex_lock(&marks.lock);
	bool m = marks.page[gpa / 4096];
	pthread_mutex_unlock(&marks.lock);
	return m;
}

/* A read request: its data buffer, its status byte and the used ring are
 * reported (KVM does not log what the host writes); a write request's
 * data buffer, which the device only reads, is not. */
static void dirty_marks(struct ctx *c)
{
	unsigned cap = 0x40;

	msix_entry(c, 1, 0xFEE00000, 0x30);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2);
	modern_init(c, BASIC_FEATURES);
	memset(marks.page, 0, sizeof(marks.page));
	c->f.mem.hooks = &recorder;
	rw_chain(c, 0, VIRTIO_BLK_T_IN, 1, DATA, 512);
	rw_chain(c, 1, VIRTIO_BLK_T_OUT, 2, DATA + 0x3000, 512);
	offer_and_wait(c, 2);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_int_equal(c->f.ram[STATUS + 1], VIRTIO_BLK_S_OK);
	assert_true(marked(DATA));
	assert_true(marked(STATUS));
	assert_true(marked(VFIX_USED(0)));
	assert_false(marked(DATA + 0x3000));
	assert_false(marked(HDR));
	assert_false(marked(VFIX_DESC(0)));
	c->f.mem.hooks = NULL;
}

static void test_dirty_marks(void **state)
{
	dirty_marks(*state);
}

static void test_dirty_marks_uring(void **state)
{
	struct ctx *c = *state;
	assert_true(virtio_blk_uses_uring(c->blk));
	dirty_marks(c);
}

/* Pause through the device table: once the class's quiesce op returns, the
 * device's threads (I/O thread, workers, io_uring completions) write
 * nothing into guest memory, whatever the driver offers and notifies;
 * what waited is carried out after resume. */
static void quiesce_holds_requests(struct ctx *c)
{
	struct dev_instance d = { .cls = &virtio_blk_class, .devfn = DEVFN, .state = c->blk };
	uint8_t *before = malloc(RAM_SIZE);
	unsigned cap = 0x40;

	msix_entry(c, 1, 0xFEE00000, 0x30);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2);
	modern_init(c, BASIC_FEATURES);
	for (unsigned r = 0; r < 4; r++) {
		memset(c->f.ram + DATA + 0x1000 * r, 0, 512);
		rw_chain(c, r, VIRTIO_BLK_T_IN, r, DATA + 0x1000 * r, 512);
	}
	/* One request is on its way when the pause comes: it is finished
	 * or held, never left half done. */
	vfix_avail_push(&c->f, 0, 0);
	vfix_avail_publish(&c->f, 0);
	vfix_notify(&c->f, 0);
	dev_quiesce_all(&d, 1);
	/* The driver offers more and notifies while paused. */
	for (unsigned r = 1; r < 4; r++)
		vfix_avail_push(&c->f, 0, (uint16_t)(3 * r));
	vfix_avail_publish(&c->f, 0);
	vfix_notify(&c->f, 0);
	memcpy(before, c->f.ram, RAM_SIZE);
	usleep(100000);
	assert_memory_equal(before, c->f.ram, RAM_SIZE);
	assert_int_not_equal(vfix_used_idx(&c->f, 0), c->f.avail_idx[0]);
	dev_resume_all(&d, 1);
	wait_used(c, 1000);
	for (unsigned r = 0; r < 4; r++) {
		assert_int_equal(c->f.ram[STATUS + r], VIRTIO_BLK_S_OK);
		assert_memory_equal(c->f.ram + DATA + 0x1000 * r, c->disk->data + 512 * r, 512);
	}
	free(before);
}

static void test_quiesce_pool(void **state)
{
	quiesce_holds_requests(*state);
}

static void test_quiesce_uring(void **state)
{
	struct ctx *c = *state;
	assert_true(virtio_blk_uses_uring(c->blk));
	quiesce_holds_requests(c);
}

/* A raw file disk: reads, writes and flushes go through io_uring (the
 * completion thread pushes them, MSI-X with EVENT_IDX), discard and
 * write-zeroes through the pool, and the file shows all of it. */
static void test_uring_raw(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[DISK_SECTORS * 512];
	struct stat st;
	unsigned cap = 0x40;

	assert_true(virtio_blk_uses_uring(c->blk));
	msix_entry(c, 1, 0xFEE00000, 0x30);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2);
	modern_init(c, BASIC_FEATURES | 1ULL << VIRTIO_RING_F_EVENT_IDX |
			       1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	pthread_mutex_lock(&c->f.t->lock);
	c->f.t->queue_vector[0] = 1;
	pthread_mutex_unlock(&c->f.t->lock);

	/* five reads in flight; one starts mid-buffer (no alignment needed) */
	for (unsigned r = 0; r < 5; r++)
		rw_chain(c, r, VIRTIO_BLK_T_IN, 2 * r, DATA + 0x1000 * r + (r == 3 ? 8 : 0), 1024);
	offer_and_wait(c, 5);
	for (unsigned r = 0; r < 5; r++) {
		assert_int_equal(c->f.ram[STATUS + r], VIRTIO_BLK_S_OK);
		assert_memory_equal(c->f.ram + DATA + 0x1000 * r + (r == 3 ? 8 : 0),
				    c->disk->data + 1024 * r, 1024);
	}
	/* four writes and a flush behind them (the flush drains the ring) */
	for (unsigned r = 0; r < 4; r++) {
		memset(c->f.ram + DATA + 0x1000 * r, 0x40 + (int)r, 512);
		rw_chain(c, r, VIRTIO_BLK_T_OUT, 20 + r, DATA + 0x1000 * r, 512);
	}
	rw_chain(c, 4, VIRTIO_BLK_T_FLUSH, 0, 0, 0);
	offer_and_wait(c, 5);
	int fd = open(c->raw_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), sizeof(buf));
	for (unsigned r = 0; r < 5; r++)
		assert_int_equal(c->f.ram[STATUS + r], VIRTIO_BLK_S_OK);
	for (unsigned r = 0; r < 4; r++)
		for (unsigned i = 0; i < 512; i++)
			assert_int_equal(buf[(20 + r) * 512 + i], 0x40 + r);
	/* a write past the end: the pool answers IOERR */
	rw_chain(c, 0, VIRTIO_BLK_T_OUT, DISK_SECTORS, DATA, 512);
	offer_and_wait(c, 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_IOERR);

	/* discard sectors 32-63: a hole, reads as zeros, blocks freed */
	assert_int_equal(fstat(fd, &st), 0);
	blkcnt_t before = st.st_blocks;
	put_le64(c->f.ram + DATA, 32);
	put_le32(c->f.ram + DATA + 8, 32);
	put_le32(c->f.ram + DATA + 12, 0);
	rw_chain(c, 0, VIRTIO_BLK_T_DISCARD, 0, DATA, 16);
	offer_and_wait(c, 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_blocks <= before - 32);
	assert_int_equal(st.st_size, DISK_SECTORS * 512);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), sizeof(buf));
	for (unsigned i = 32 * 512; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	/* write-zeroes without unmap over sectors 0-7: zeros, still allocated */
	put_le64(c->f.ram + DATA, 0);
	put_le32(c->f.ram + DATA + 8, 8);
	put_le32(c->f.ram + DATA + 12, 0);
	rw_chain(c, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA, 16);
	offer_and_wait(c, 1);
	assert_int_equal(c->f.ram[STATUS], VIRTIO_BLK_S_OK);
	assert_int_equal(pread(fd, buf, 4096, 0), 4096);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(lseek(fd, 0, SEEK_DATA), 0);
	close(fd);
	/* reads again through io_uring, then a reset with requests offered */
	for (unsigned r = 0; r < 5; r++)
		rw_chain(c, r, VIRTIO_BLK_T_IN, 8 + r, DATA + 0x1000 * r, 512);
	offer_and_wait(c, 5);
	assert_memory_equal(c->f.ram + DATA + 0x1000 * 1, c->disk->data + 9 * 512, 512);
	reset_with_chains_offered(c);
}

/* Many rounds of three multi-segment reads in flight through io_uring
 * (QSIZE 16 holds three chains of up to 5 descriptors), at random sectors
 * into scattered buffers: every byte must be the file's. */
static void test_uring_random_chains(void **state)
{
	struct ctx *c = *state;
	uint32_t seed = 1;
	enum { n = 3 };

	assert_true(virtio_blk_uses_uring(c->blk));
	modern_init(c, BASIC_FEATURES | 1ULL << VIRTIO_RING_F_EVENT_IDX);
	for (unsigned round = 0; round < 200; round++) {
		uint64_t sec[n];
		unsigned nseg[n], seglen[n][3], next = 0;
		for (unsigned r = 0; r < n; r++) {
			unsigned total = 0;
			seed = seed * 1103515245 + 12345;
			nseg[r] = 1 + (seed >> 16) % 3;
			for (unsigned k = 0; k < nseg[r]; k++) {
				seed = seed * 1103515245 + 12345;
				seglen[r][k] = 512 * (1 + (seed >> 16) % 2);
				total += seglen[r][k];
			}
			seed = seed * 1103515245 + 12345;
			sec[r] = (seed >> 16) % (DISK_SECTORS - total / 512 + 1);
		}
		for (unsigned r = 0; r < n; r++) {
			uint64_t hdr = HDR + 32 * r, data = DATA + 0x4000 * r;
			unsigned head = next;
			put_le32(c->f.ram + hdr, VIRTIO_BLK_T_IN);
			put_le32(c->f.ram + hdr + 4, 0);
			put_le64(c->f.ram + hdr + 8, sec[r]);
			vfix_set_desc(&c->f, 0, next, hdr, 16, VIRTQ_DESC_F_NEXT,
				      (uint16_t)(next + 1));
			next++;
			for (unsigned k = 0; k < nseg[r]; k++) {
				/* segments scattered, in reverse order in memory */
				uint64_t a = data + 0x1000 * (2 - k) + 8 * k;
				vfix_set_desc(&c->f, 0, next, a, seglen[r][k],
					      VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
					      (uint16_t)(next + 1));
				memset(c->f.ram + a, 0xEE, seglen[r][k]);
				next++;
			}
			vfix_set_desc(&c->f, 0, next, STATUS + r, 1, VIRTQ_DESC_F_WRITE, 0);
			c->f.ram[STATUS + r] = 0xEE;
			next++;
			vfix_avail_push(&c->f, 0, (uint16_t)head);
		}
		vfix_avail_publish(&c->f, 0);
		vfix_notify(&c->f, 0);
		wait_used(c, 200);
		for (unsigned r = 0; r < n; r++) {
			assert_int_equal(c->f.ram[STATUS + r], VIRTIO_BLK_S_OK);
			uint64_t off = sec[r] * 512;
			for (unsigned k = 0; k < nseg[r]; k++) {
				uint64_t a = DATA + 0x4000 * r + 0x1000 * (2 - k) + 8 * k;
				assert_memory_equal(c->f.ram + a, c->disk->data + off,
						    seglen[r][k]);
				off += seglen[r][k];
			}
		}
	}
}

/* A disk whose reads wait at a gate the test opens, counting the reads
 * that reached it: requests stay in flight as long as the test wants. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	unsigned reads;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };

static int gated_pread(struct block_dev *bd, void *buf, size_t len, uint64_t off)
{
	pthread_mutex_lock(&gate.lock);
	gate.reads++;
	while (!gate.open)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
	return md_driver.pread(bd, buf, len, off);
}

static void gate_set(bool open)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = open;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* Issue 12, hole 3: a driver republishes one head (a 1-sector read) again
 * and again, each time after the device took the last one, while the
 * disk holds every request. The device may hold at most the queue's size
 * in flight; then it says NEEDS_RESET instead of taking (and allocating
 * for) more. Before the fix every one of the 64 was taken. */
static void test_inflight_bounded(void **state)
{
	struct ctx *c = *state;
	static struct block_driver gated;
	enum { OFFERS = 64 };
	uint8_t *avail_event = c->f.ram + VFIX_USED(0) + 4 + 8 * QSIZE;

	gated = md_driver;
	gated.pread = gated_pread;
	c->disk->bd.drv = &gated;
	gate_set(false);
	gate.reads = 0;
	modern_init(c, BASIC_FEATURES | 1ULL << VIRTIO_RING_F_EVENT_IDX);
	put_hdr(c, VIRTIO_BLK_T_IN, 0);
	vfix_set_desc(&c->f, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	vfix_set_desc(&c->f, 0, 1, DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	vfix_set_desc(&c->f, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	unsigned offered = 0;
	while (offered < OFFERS && !(status_read(c) & VIRTIO_STATUS_NEEDS_RESET)) {
		vfix_offer(&c->f, 0, 0);
		offered++;
		/* Wait until the I/O thread took it (it then asks to be
		 * notified at the next index) or gave up on the queue. */
		for (int spin = 0; spin < 2000; spin++) {
			if (__atomic_load_n((uint16_t *)(void *)avail_event, __ATOMIC_ACQUIRE) ==
				    c->f.avail_idx[0] ||
			    (status_read(c) & VIRTIO_STATUS_NEEDS_RESET))
				break;
			usleep(100);
		}
	}
	bool needs_reset = status_read(c) & VIRTIO_STATUS_NEEDS_RESET;
	/* Open before any assert: teardown waits for what is in flight. */
	gate_set(true);
	/* The QSIZE taken complete; nothing more was allocated or read. */
	for (int spin = 0; spin < 5000 && vfix_used_idx(&c->f, 0) < QSIZE; spin++)
		usleep(200);
	usleep(10000);
	pthread_mutex_lock(&gate.lock);
	unsigned reads = gate.reads;
	pthread_mutex_unlock(&gate.lock);
	assert_true(needs_reset);
	assert_int_equal(offered, QSIZE + 1);
	assert_int_equal(reads, QSIZE);
	assert_int_equal(vfix_used_idx(&c->f, 0), QSIZE);
}

static void save_blk(struct ctx *c, struct ss_writer *w)
{
	ss_writer_init(w);
	virtio_blk_save(c->blk, w, 0);
	assert_int_equal(ss_writer_finish(w), 0);
}

/* MSI-X on, a request done: saved, loaded into a fresh device (same disk,
 * a copy of guest RAM), saved again (the same bytes); the new device
 * serves the next request on the ring and interrupts through the vector
 * the driver programmed in the old one. */
static void test_save_load(void **state)
{
	struct ctx *c = *state;
	struct ss_writer w1, w2;
	struct ss_reader r;
	unsigned cap = 0x40;

	msix_entry(c, 0, 0xFEE00000, 0x41);
	msix_entry(c, 1, 0xFEE01000, 0x42);
	vfix_cfg_wr(&c->f, cap + 2, 0x8000, 2);
	modern_init(c, BASIC_FEATURES);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_SELECT, 0, 2);
	vfix_common_wr(&c->f, VIRTIO_COMMON_Q_MSIX, 1, 2);
	assert_int_equal(request(c, VIRTIO_BLK_T_IN, 1, 512, true), 513);
	assert_int_equal(c->nmsi, 1);
	save_blk(c, &w1);

	struct ctx *d = calloc(1, sizeof(*d));
	uint8_t *ram = malloc(RAM_SIZE);
	memcpy(ram, c->f.ram, RAM_SIZE);
	vfix_init_ram(&d->f, ram, RAM_SIZE, DEVFN, QSIZE);
	d->f.own_ram = true;
	d->f.pci.set_intx = set_intx;
	memcpy(d->f.avail_idx, c->f.avail_idx, sizeof(d->f.avail_idx));
	memcpy(d->f.used_seen, c->f.used_seen, sizeof(d->f.used_seen));
	make_device(d, false, true, false); /* BARs placed again by its firmware: the same */
	assert_int_equal(ss_reader_open(&r, w1.buf, w1.len), 0);
	assert_true(virtio_blk_load(d->blk, &r, 0));
	ss_reader_close(&r);
	save_blk(d, &w2);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.buf, w2.buf, w1.len);

	assert_int_equal(vfix_common_rd(&d->f, VIRTIO_COMMON_Q_MSIX, 2), 1);
	assert_int_equal(request(d, VIRTIO_BLK_T_IN, 3, 512, true), 513);
	assert_memory_equal(d->f.ram + DATA, d->disk->data + 3 * 512, 512);
	assert_int_equal(d->nmsi, 1);
	assert_int_equal(d->msi[0].addr, 0xFEE01000);
	assert_int_equal(d->msi[0].data, 0x42);
	teardown((void **)&d);
	ss_writer_free(&w2);
	ss_writer_free(&w1);
}

/* A chain the device has taken and not answered: the transport refuses
 * to save (the device must complete it first), with the reason. */
static void test_save_refuses_inflight(void **state)
{
	struct ctx *c = *state;
	struct ss_writer w;
	struct virtq_iov iov;

	modern_init(c, BASIC_FEATURES);
	put_hdr(c, VIRTIO_BLK_T_IN, 0);
	vfix_set_desc(&c->f, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	vfix_set_desc(&c->f, 0, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	vfix_avail_push(&c->f, 0, 0);
	put_le16(c->f.ram + VFIX_AVAIL(0) + 2, c->f.avail_idx[0]);
	pthread_mutex_lock(&c->f.t->lock);
	assert_int_equal(virtio_pci_pop(c->f.t, 0, &iov), 1);
	pthread_mutex_unlock(&c->f.t->lock);
	ss_writer_init(&w);
	virtio_pci_save(c->f.t, &w, 0);
	assert_int_equal(ss_writer_finish(&w), -1);
	assert_non_null(strstr(w.err, "queue 0 has 1 requests in flight"));
	ss_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_identity_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features_ok_needs_version_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_before_driver_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_id_discard_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_ring_needs_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_and_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix, setup_msi, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup_msi, teardown),
		cmocka_unit_test_setup_teardown(test_save_refuses_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threaded_pool, setup_threaded, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_bounded, setup_threaded, teardown),
		cmocka_unit_test_setup_teardown(test_msix_irqfd, setup_irqfd, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_pool, setup_threaded, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_marks, setup_threaded, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_marks_uring, setup_uring, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_uring, setup_uring, teardown),
		cmocka_unit_test_setup_teardown(test_uring_raw, setup_uring, teardown),
		cmocka_unit_test_setup_teardown(test_uring_random_chains, setup_uring, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
