// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The device table (src/core/device.c, src/board/device_table.c): property parsing,
 * -global, PCI placement, the help output, and the machine's instance list
 * as the command line builds it (src/cli.c).
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "bus.h"
#include "pci.h"
#include "savestate.h"
#include "util.h"

/* ---- a class with every property type -------------------------------- */

static const char *const colours[] = { "red", "green", "blue", NULL };

static const struct dev_prop every_props[] = {
	{ .name = "flag", .type = PROP_BOOL, .def = "on", .help = "a switch" },
	{ .name = "count", .type = PROP_UINT, .min = 2, .max = 9, .def = "0x3" },
	{ .name = "label", .type = PROP_STR },
	{ .name = "colour", .type = PROP_ENUM, .choices = colours, .def = "green",
	  .type_name = "Colour" },
	{ .name = "mac", .type = PROP_MAC, .help = "an address" },
	{ .name = "chardev", .type = PROP_CHARDEV, .required = true },
};

static const struct dev_class every_class = {
	.name = "every",
	.bus = DEV_BUS_PCI,
	.props = every_props,
	.nprops = ARRAY_SIZE(every_props),
};

static char err[512];

static void test_defaults_and_typed_values(void **state)
{
	struct dev_instance d;
	uint8_t mac[6];

	dev_instance_init(&d, &every_class);
	assert_true(dev_get_bool(&d, "flag"));
	assert_int_equal(dev_get_uint(&d, "count"), 3);
	assert_int_equal(dev_get_uint(&d, "colour"), 1);
	assert_null(dev_get_str(&d, "label"));
	assert_false(dev_is_set(&d, "mac"));
	assert_false(dev_is_set(&d, "addr")); /* PCI: placed by the board */
	assert_false(dev_get_bool(&d, "multifunction"));

	assert_int_equal(dev_instance_set(&d, "flag", "no", err, sizeof(err)), 0);
	assert_int_equal(dev_instance_set(&d, "count", "9", err, sizeof(err)), 0);
	assert_int_equal(dev_instance_set(&d, "colour", "blue", err, sizeof(err)), 0);
	assert_int_equal(dev_instance_set(&d, "label", "a,b", err, sizeof(err)), 0);
	assert_int_equal(dev_instance_set(&d, "mac", "52:54:00:AB:cd:0f", err, sizeof(err)), 0);
	assert_int_equal(dev_instance_set(&d, "addr", "1f.7", err, sizeof(err)), 0);
	assert_false(dev_get_bool(&d, "flag"));
	assert_int_equal(dev_get_uint(&d, "count"), 9);
	assert_int_equal(dev_get_uint(&d, "colour"), 2);
	assert_string_equal(dev_get_str(&d, "label"), "a,b");
	dev_get_mac(&d, "mac", mac);
	assert_memory_equal(mac, ((uint8_t[]){ 0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f }), 6);
	assert_int_equal(dev_get_uint(&d, "addr"), PCI_DEVFN(0x1f, 7));
	dev_instance_free(&d);
}

/* Each bad value is refused with a message naming the property. */
static void test_bad_values(void **state)
{
	static const struct {
		const char *prop, *value, *needle;
	} cases[] = {
		{ "flag", "maybe", "flag: expected 'on' or 'off', got 'maybe'" },
		{ "count", "1", "count must be 2 to 9 (got 1)" },
		{ "count", "10", "count must be 2 to 9" },
		{ "count", "-3", "count: invalid number '-3'" },
		{ "count", "3x", "invalid number" },
		{ "count", "", "invalid number" },
		{ "count", "99999999999999999999999", "invalid number" },
		{ "colour", "mauve", "colour=mauve: expected red, green or blue" },
		{ "mac", "52:54:00:12:34", "six hex bytes" },
		{ "mac", "52:54:00:12:34:56:78", "six hex bytes" },
		{ "mac", "52:54:00:12:34:5g", "six hex bytes" },
		{ "mac", "152:54:00:12:34:56", "six hex bytes" },
		{ "mac", "01:00:00:00:00:01", "multicast" },
		{ "chardev", "", "chardev: empty id" },
		{ "addr", "20", "expected a PCI slot" },
		{ "addr", "3.8", "expected a PCI slot" },
		{ "addr", "3.", "expected a PCI slot" },
		{ "addr", "x", "expected a PCI slot" },
		{ "nosuch", "1", "unknown parameter 'nosuch'" },
	};
	struct dev_instance d;

	dev_instance_init(&d, &every_class);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err[0] = 0;
		assert_int_equal(dev_instance_set(&d, cases[i].prop, cases[i].value, err,
						  sizeof(err)), -1);
		if (!strstr(err, cases[i].needle))
			fail_msg("%s=%s: '%s' lacks '%s'", cases[i].prop, cases[i].value, err,
				 cases[i].needle);
	}
	/* Nothing was changed by a refused value. */
	assert_int_equal(dev_get_uint(&d, "count"), 3);
	assert_true(dev_get_bool(&d, "flag"));
	dev_instance_free(&d);
}

static void test_parse_option(void **state)
{
	struct dev_instance d;

	assert_int_equal(dev_instance_parse("isa-debugcon,iobase=0x402,chardev=c,,1,id=dbg", &d,
					    stdout, err, sizeof(err)), 0);
	assert_ptr_equal(d.cls, dev_class_find("isa-debugcon"));
	assert_int_equal(dev_get_uint(&d, "iobase"), 0x402);
	assert_int_equal(dev_get_uint(&d, "readback"), 0xe9);
	assert_string_equal(dev_get_str(&d, "chardev"), "c,1");
	assert_string_equal(d.id, "dbg");
	dev_instance_free(&d);

	/* driver= and an alias name the same class; a bare flag is "on". */
	assert_int_equal(dev_instance_parse("driver=virtio-balloon,deflate-on-oom", &d, stdout,
					    err, sizeof(err)), 0);
	assert_string_equal(d.cls->name, "virtio-balloon-pci");
	assert_true(dev_get_bool(&d, "deflate-on-oom"));
	dev_instance_free(&d);
}

/* Default MACs count every NIC without mac= before the card, whatever its
 * kind (QEMU's numbering): e1000, then rtl8139 with mac=, then ne2k_pci and
 * virtio-net get :56, (given), :57 and :58. */
static void test_default_macs_count_every_nic(void **state)
{
	static const char *const opts[] = {
		"e1000,netdev=a", "rtl8139,netdev=b,mac=02:00:00:00:00:01",
		"isa-debugcon,chardev=c", "ne2k_pci,netdev=c", "virtio-net-pci,netdev=d",
	};
	static const uint8_t last[] = { 0x56, 0x01, 0, 0x57, 0x58 };
	struct dev_instance devs[ARRAY_SIZE(opts)];
	struct dev_board b = { .devs = devs, .ndevs = ARRAY_SIZE(opts) };
	uint8_t mac[6];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		assert_int_equal(dev_instance_parse(opts[i], &devs[i], stdout, err, sizeof(err)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		if (!(devs[i].cls->categories & DEV_CAT_NETWORK))
			continue;
		dev_nic_mac(&b, &devs[i], mac);
		assert_int_equal(mac[5], last[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		dev_instance_free(&devs[i]);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *arg, *msg;
	} cases[] = {
		{ "vmxnet3", "-device vmxnet3: unsupported device 'vmxnet3' (vmm -device help lists them)" },
		{ "virtio-rng-pci,max-bytes=5", "-device virtio-rng-pci: unknown parameter 'max-bytes'" },
		{ "isa-debugcon,iobase=0x10000", "-device isa-debugcon: iobase must be 0 to 65535 "
		  "(got 65536)" },
		{ "ide-hd,drive=d,bus=ide.2", "-device ide-hd: bus=ide.2: expected ide.0 or ide.1" },
		{ "i8042", "-device i8042: this device is part of the board and cannot be added" },
		{ "", "-device : expected DRIVER[,PROPERTY=VALUE]... (vmm -device help)" },
	};
	struct dev_instance d;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(dev_instance_parse(cases[i].arg, &d, stdout, err, sizeof(err)), -1);
		assert_string_equal(err, cases[i].msg);
	}
	/* A NIC without netdev= is QEMU's NIC without a peer: it parses, and
	 * runs unconnected (the command line warns). */
	static const char *const peerless[] = { "e1000", "virtio-net-pci", "rtl8139", "ne2k_isa" };
	for (size_t i = 0; i < ARRAY_SIZE(peerless); i++) {
		assert_int_equal(dev_instance_parse(peerless[i], &d, stdout, err, sizeof(err)), 0);
		assert_null(dev_get_str(&d, "netdev"));
		dev_instance_free(&d);
	}
}

/* ---- -global ---------------------------------------------------------- */

static void test_global(void **state)
{
	struct dev_global g;
	struct dev_instance d;

	assert_int_equal(dev_global_parse("isa-debugcon.iobase=0x402", &g, err, sizeof(err)), 0);
	assert_ptr_equal(g.cls, dev_class_find("isa-debugcon"));

	/* A global is a default: what the option gives itself wins. */
	assert_int_equal(dev_instance_parse("isa-debugcon", &d, stdout, err, sizeof(err)), 0);
	dev_apply_globals(&d, &g, 1);
	assert_int_equal(dev_get_uint(&d, "iobase"), 0x402);
	dev_instance_free(&d);
	assert_int_equal(dev_instance_parse("isa-debugcon,iobase=0xe9", &d, stdout, err,
					    sizeof(err)), 0);
	dev_apply_globals(&d, &g, 1);
	assert_int_equal(dev_get_uint(&d, "iobase"), 0xe9);
	dev_instance_free(&d);
	free(g.value);

	/* Board-only classes take globals too (an alias names the class). */
	assert_int_equal(dev_global_parse("fw_cfg_io.dma_enabled=off", &g, err, sizeof(err)), 0);
	free(g.value);
	assert_int_equal(dev_global_parse("virtio-net.mac=52:54:00:00:00:01", &g, err,
					  sizeof(err)), 0);
	assert_string_equal(g.cls->name, "virtio-net-pci");
	free(g.value);

	static const struct {
		const char *arg, *needle;
	} bad[] = {
		{ "isa-debugcon", "expected DRIVER.PROPERTY=VALUE" },
		{ "isa-debugcon.iobase", "expected DRIVER.PROPERTY=VALUE" },
		{ ".iobase=1", "expected DRIVER.PROPERTY=VALUE" },
		{ "isa-debugcon.=1", "expected DRIVER.PROPERTY=VALUE" },
		{ "nosuch.x=1", "unknown device 'nosuch'" },
		{ "isa-debugcon.foo=1", "isa-debugcon has no property 'foo'" },
		{ "isa-debugcon.iobase=zz", "iobase: invalid number 'zz'" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(dev_global_parse(bad[i].arg, &g, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].needle))
			fail_msg("-global %s: '%s' lacks '%s'", bad[i].arg, err, bad[i].needle);
	}
}

/* ---- PCI placement ---------------------------------------------------- */

static void test_devfn_claims(void **state)
{
	struct devfn_alloc a;

	devfn_alloc_init(&a, 3);
	assert_int_equal(devfn_claim(&a, PCI_DEVFN(0, 0), false, "host", err, sizeof(err)), 0);
	assert_int_equal(devfn_claim(&a, PCI_DEVFN(1, 0), true, "isa", err, sizeof(err)), 0);
	assert_int_equal(devfn_claim(&a, PCI_DEVFN(1, 1), false, "ide", err, sizeof(err)), 0);
	/* A taken function. */
	assert_int_equal(devfn_claim(&a, PCI_DEVFN(1, 1), false, "disk", err, sizeof(err)), -1);
	assert_string_equal(err, "disk: PCI slot 01.1 is already in use by ide");
	/* Function 1 of a single-function slot. */
	assert_int_equal(devfn_claim(&a, PCI_DEVFN(0, 1), false, "x", err, sizeof(err)), -1);
	assert_string_equal(err, "x: PCI slot 00.1: function 0 (host) is not multifunction=on");
	/* Function 0 without multifunction where other functions sit. */
	assert_int_equal(devfn_claim(&a, PCI_DEVFN(5, 2), false, "f2", err, sizeof(err)), 0);
	assert_int_equal(devfn_claim(&a, PCI_DEVFN(5, 0), false, "f0", err, sizeof(err)), -1);
	assert_string_equal(err, "f0: PCI slot 05 has function 2 (f2): function 0 needs "
			    "multifunction=on");
	assert_int_equal(devfn_claim(&a, PCI_DEVFN(5, 0), true, "f0", err, sizeof(err)), 0);
	/* Free slots: from 3, whole slots only (5 is partly taken). */
	assert_int_equal(devfn_claim_free(&a, "a", err, sizeof(err)), PCI_DEVFN(3, 0));
	assert_int_equal(devfn_claim_free(&a, "b", err, sizeof(err)), PCI_DEVFN(4, 0));
	assert_int_equal(devfn_claim_free(&a, "c", err, sizeof(err)), PCI_DEVFN(6, 0));
	for (unsigned slot = 7; slot < 32; slot++)
		assert_int_equal(devfn_claim_free(&a, "n", err, sizeof(err)), PCI_DEVFN(slot, 0));
	assert_int_equal(devfn_claim_free(&a, "full", err, sizeof(err)), -1);
	assert_string_equal(err, "full: no free PCI slot left");
}

/* ---- the command line's instance list --------------------------------- */

static enum cli_result parse(struct machine_config *cfg, const char *const *args)
{
	char *argv[32] = { "vmm" };
	int argc = 1;
	while (*args)
		argv[argc++] = (char *)*args++;
	return cli_parse(argc, argv, cfg, err, sizeof(err));
}

static struct dev_instance *find_dev(struct machine_config *cfg, const char *name, unsigned nth)
{
	for (unsigned i = 0; i < cfg->ndevs; i++)
		if (!strcmp(cfg->devs[i].cls->name, name) && nth-- == 0)
			return &cfg->devs[i];
	return NULL;
}

static void free_config(struct machine_config *cfg)
{
	cli_config_free(cfg);
}

/* The board's devices come first, in their places; the rest fill slots
 * from 3 in vmm's historic order, explicit addr= first. */
/* -fda, -fdb and -drive if=floppy: drives floppy0/floppy1 for the
 * board's controller, which is there without them too (no drives). */
static void test_floppy_options(void **state)
{
	struct machine_config cfg;
	static const char *const none[] = { "-nodefaults", NULL };
	static const char *const both[] = {
		"-nodefaults", "-fda", "a.img", "-drive", "if=floppy,file=b.img,format=raw,readonly=on",
		NULL,
	};
	static const char *const twice[] = {
		"-nodefaults", "-drive", "if=floppy,file=b.img", "-fda", "a.img", NULL,
	};

	assert_int_equal(parse(&cfg, none), CLI_RUN);
	struct dev_instance *fdc = find_dev(&cfg, "isa-fdc", 0);
	assert_non_null(fdc);
	assert_true(fdc->from_board);
	assert_null(dev_get_str(fdc, "driveA"));
	assert_null(dev_get_str(fdc, "driveB"));
	assert_false(cfg.floppy[0] || cfg.floppy[1]);
	free_config(&cfg);

	assert_int_equal(parse(&cfg, both), CLI_RUN);
	fdc = find_dev(&cfg, "isa-fdc", 0);
	assert_string_equal(dev_get_str(fdc, "driveA"), "floppy0");
	assert_string_equal(dev_get_str(fdc, "driveB"), "floppy1");
	assert_true(cfg.floppy[0] && cfg.floppy[1]);
	for (unsigned i = 0; i < cfg.ndrives; i++) {
		const struct named_drive *nd = &cfg.drives[i];
		assert_string_equal(nd->user, "isa-fdc");
		if (!strcmp(nd->id, "floppy1")) {
			assert_string_equal(nd->d.path, "b.img");
			assert_string_equal(nd->d.format, "raw");
			assert_true(nd->d.read_only);
		} else {
			assert_string_equal(nd->id, "floppy0");
			assert_string_equal(nd->d.path, "a.img");
			assert_false(nd->d.read_only);
		}
	}
	assert_int_equal(cfg.ndrives, 2);
	free_config(&cfg);

	/* if=floppy without index= took A: */
	assert_int_equal(parse(&cfg, twice), CLI_ERROR);
	assert_string_equal(err, "-fda: floppy drive A: is already in use");
	free_config(&cfg);
}

static void test_machine_list_and_slots(void **state)
{
	struct machine_config cfg;
	static const char *const args[] = {
		"-nodefaults", "-chardev", "null,id=c0", "-device", "virtio-rng-pci",
		"-device", "virtconsole,chardev=c0", "-drive", "file=x.img,if=virtio",
		"-device", "virtio-balloon,addr=03", "-global", "isa-serial.iobase=0x2f8",
		"-global", "virtio-balloon-pci.deflate-on-oom=on", NULL,
	};

	assert_int_equal(parse(&cfg, args), CLI_RUN);
	static const char *const board[] = { "i440FX", "PIIX3", "piix3-ide", "PIIX4_PM",
					     "mc146818rtc", "kvm-pit", "i8042", "fw_cfg_io",
					     "port92", "ioport80", "i8257", "isa-fdc" };
	for (size_t i = 0; i < ARRAY_SIZE(board); i++)
		assert_string_equal(cfg.devs[i].cls->name, board[i]);
	/* Then the -serial ports (COM1's default here), before any -device. */
	assert_string_equal(cfg.devs[ARRAY_SIZE(board)].cls->name, "isa-serial");
	assert_true(cfg.devs[ARRAY_SIZE(board)].from_board);
	assert_int_equal(dev_get_uint(&cfg.devs[ARRAY_SIZE(board)], "index"), 0);
	assert_int_equal(find_dev(&cfg, "i440FX", 0)->devfn, PCI_DEVFN(0, 0));
	assert_int_equal(find_dev(&cfg, "PIIX3", 0)->devfn, PCI_DEVFN(1, 0));
	assert_int_equal(find_dev(&cfg, "piix3-ide", 0)->devfn, PCI_DEVFN(1, 1));
	assert_int_equal(find_dev(&cfg, "PIIX4_PM", 0)->devfn, PCI_DEVFN(1, 3));
	assert_int_equal(find_dev(&cfg, "virtio-balloon-pci", 0)->devfn, PCI_DEVFN(3, 0));
	assert_int_equal(find_dev(&cfg, "virtio-blk-pci", 0)->devfn, PCI_DEVFN(4, 0));
	assert_int_equal(find_dev(&cfg, "virtio-rng-pci", 0)->devfn, PCI_DEVFN(5, 0));
	/* The ports' bus was implied; the console got port 0. */
	assert_int_equal(find_dev(&cfg, "virtio-serial-pci", 0)->devfn, PCI_DEVFN(6, 0));
	assert_int_equal(dev_get_uint(find_dev(&cfg, "virtconsole", 0), "nr"), 0);
	/* -global reached a board device and a -device given before it. */
	assert_int_equal(dev_get_uint(find_dev(&cfg, "isa-serial", 0), "iobase"), 0x2f8);
	assert_true(dev_get_bool(find_dev(&cfg, "virtio-balloon-pci", 0), "deflate-on-oom"));
	assert_int_equal(find_dev(&cfg, "isa-serial", 0)->devfn, -1);
	free_config(&cfg);
}

static void test_machine_list_errors(void **state)
{
	static const struct {
		const char *args[12];
		const char *msg;
	} cases[] = {
		{ { "-device", "virtio-rng-pci,addr=1", NULL },
		  "-device virtio-rng-pci: PCI slot 01.0 is already in use by PIIX3" },
		{ { "-device", "virtio-rng-pci,addr=0.1", NULL },
		  "-device virtio-rng-pci: PCI slot 00.1: function 0 (i440FX) is not "
		  "multifunction=on" },
		{ { "-device", "virtio-rng-pci,addr=5", "-device", "virtio-balloon,addr=05.0", NULL },
		  "-device virtio-balloon-pci: PCI slot 05.0 is already in use by virtio-rng-pci" },
		{ { "-device", "virtio-rng-pci,addr=5.1", "-device", "virtio-balloon,addr=5", NULL },
		  "-device virtio-balloon-pci: PCI slot 05 has function 1 (virtio-rng-pci): "
		  "function 0 needs multifunction=on" },
		{ { "-device", "virtio-rng-pci", "-device", "virtio-rng", NULL },
		  "-device virtio-rng-pci: only one virtio-rng-pci device is supported" },
		{ { "-device", "virtio-rng-pci,id=x", "-device", "virtio-balloon,id=x", NULL },
		  "-device virtio-balloon-pci: duplicate id 'x'" },
		{ { "-chardev", "null,id=c", "-device", "virtconsole,chardev=c,name=", NULL },
		  "-device virtconsole: name must be 1 to 127 bytes long" },
		{ { "-global", "isa-debugcon.iobase=0x402", "-device", "isa-debugcon",
		    "-device", "isa-debugcon", NULL },
		  "-device isa-debugcon: port 0x402 already has a debug console" },
		{ { "-device", "isa-serial,index=0", NULL },
		  "-device isa-serial: index 0 (COM1) is already taken by -serial" },
		{ { "-serial", "none", "-device", "isa-serial,index=0,iobase=0x2f8", "-serial",
		    "null", NULL },
		  "-device isa-serial: ports 0x2f8-0x2ff overlap COM2's (0x2f8-0x2ff)" },
		{ { "-global", "isa-serial.iobase=0x2f8", "-serial", "null", "-serial", "null", NULL },
		  "-serial: ports 0x2f8-0x2ff overlap COM1's (0x2f8-0x2ff)" },
		{ { "-serial", "null", "-serial", "null", "-serial", "null", "-serial", "null",
		    "-serial", "null", NULL },
		  "-serial: at most 4 serial ports (COM1-COM4) are supported" },
		{ { "-serial", "none", "-serial", "none", "-serial", "none", "-serial", "none",
		    "-serial", "null", NULL },
		  "-serial: at most 4 serial ports (COM1-COM4) are supported" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct machine_config cfg;
		assert_int_equal(parse(&cfg, cases[i].args), CLI_ERROR);
		assert_string_equal(err, cases[i].msg);
		free_config(&cfg);
	}
}

/* -serial N times is COM1..COMN at QEMU's defaults by index, "none"
 * leaving its index out; -device isa-serial takes the first index no
 * other UART has (one a later -device names included), or index= /
 * iobase= / irq= as given. The -serial ports come first, in index order. */
static void test_serial_ports_by_index(void **state)
{
	struct machine_config cfg;
	static const char *const args[] = {
		"-chardev", "null,id=a", "-device", "isa-serial,chardev=a",
		"-device", "isa-serial,index=3,irq=7,iobase=0x2e0",
		"-serial", "null", "-serial", "none", "-serial", "file:com3.log", NULL,
	};
	static const struct {
		unsigned index, iobase, irq;
		bool from_serial;
	} want[] = { { 0, 0x3f8, 4, true }, { 2, 0x3e8, 4, true }, { 1, 0x2f8, 3, false },
		     { 3, 0x2e0, 7, false } };

	assert_int_equal(parse(&cfg, args), CLI_RUN);
	assert_int_equal(cfg.serial_ports, 0x5);
	assert_int_equal(cfg.serial[0].kind, CHARDEV_NULL);
	assert_int_equal(cfg.serial[2].kind, CHARDEV_FILE);
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		const struct dev_instance *d = find_dev(&cfg, "isa-serial", i);
		assert_non_null(d);
		assert_int_equal(dev_get_uint(d, "index"), want[i].index);
		assert_int_equal(dev_get_uint(d, "iobase"), want[i].iobase);
		assert_int_equal(dev_get_uint(d, "irq"), want[i].irq);
		assert_int_equal(d->from_board, want[i].from_serial);
	}
	assert_null(find_dev(&cfg, "isa-serial", ARRAY_SIZE(want)));
	assert_string_equal(dev_get_str(find_dev(&cfg, "isa-serial", 2), "chardev"), "a");
	assert_null(dev_get_str(find_dev(&cfg, "isa-serial", 0), "chardev"));
	free_config(&cfg);

	/* The first free index skips one that a later -device names. */
	static const char *const later[] = { "-device", "isa-serial", "-device",
					     "isa-serial,index=1", NULL };
	assert_int_equal(parse(&cfg, later), CLI_RUN);
	assert_int_equal(dev_get_uint(find_dev(&cfg, "isa-serial", 1), "index"), 2);
	assert_int_equal(dev_get_uint(find_dev(&cfg, "isa-serial", 1), "iobase"), 0x3e8);
	assert_int_equal(dev_get_uint(find_dev(&cfg, "isa-serial", 2), "index"), 1);
	free_config(&cfg);

	/* COM1's default is as before; -serial none leaves even that out. */
	static const char *const nographic[] = { "-nographic", NULL };
	static const char *const none[] = { "-nographic", "-serial", "none", NULL };
	assert_int_equal(parse(&cfg, nographic), CLI_RUN);
	assert_int_equal(cfg.serial_ports, 0x1);
	assert_int_equal(cfg.serial[0].kind, CHARDEV_STDIO);
	assert_non_null(find_dev(&cfg, "isa-serial", 0));
	free_config(&cfg);
	assert_int_equal(parse(&cfg, none), CLI_RUN);
	assert_int_equal(cfg.serial_ports, 0);
	assert_int_equal(cfg.serial[0].kind, CHARDEV_NONE);
	assert_null(find_dev(&cfg, "isa-serial", 0));
	free_config(&cfg);
}

/* An IDE drive without bus= takes the first free slot; unit= alone is
 * refused (unit's default must not count as given). */
static void test_ide_drive_slots(void **state)
{
	struct machine_config cfg;
	static const char *const args[] = {
		"-nodefaults", "-hda", "a.img", "-drive", "if=none,id=d,file=b.img",
		"-device", "ide-hd,drive=d", "-drive", "if=none,id=c,media=cdrom",
		"-device", "ide-cd,drive=c,bus=ide.1,unit=1", NULL,
	};
	static const char *const bad[] = {
		"-drive", "if=none,id=d,file=b.img", "-device", "ide-hd,drive=d,unit=1", NULL,
	};

	assert_int_equal(parse(&cfg, args), CLI_RUN);
	assert_true(cfg.ide[0].present && !cfg.ide[0].cdrom);
	assert_true(cfg.ide[1].present && !cfg.ide[1].cdrom);
	assert_string_equal(cfg.ide[1].path, "b.img");
	assert_false(cfg.ide[2].present);
	assert_true(cfg.ide[3].present && cfg.ide[3].cdrom && cfg.ide[3].read_only);
	free_config(&cfg);
	assert_int_equal(parse(&cfg, bad), CLI_ERROR);
	assert_string_equal(err, "-device ide-hd: unit= needs bus=");
	free_config(&cfg);
}

/* -hda, -cdrom and -drive if=ide are ide-hd / ide-cd instances on the one
 * list, on drives named as QEMU names them, at their bus and unit; a
 * -device ide-hd without bus= that comes first leaves their slots alone. */
static void test_legacy_drives_are_instances(void **state)
{
	struct machine_config cfg;
	static const char *const args[] = {
		"-nodefaults", "-drive", "if=none,id=d,file=b.img", "-device", "ide-hd,drive=d",
		"-hda", "a.img", "-cdrom", "c.iso", "-drive", "file=e.img,if=ide,format=raw", NULL,
	};
	static const char *const taken[] = { "-hdc", "x.img", "-cdrom", "c.iso", NULL };

	assert_int_equal(parse(&cfg, args), CLI_RUN);
	struct dev_instance *hda = find_dev(&cfg, "ide-hd", 1), *cd = find_dev(&cfg, "ide-cd", 0);
	struct dev_instance *hdx = find_dev(&cfg, "ide-hd", 2);
	assert_non_null(hda);
	assert_non_null(cd);
	assert_non_null(hdx);
	assert_string_equal(dev_get_str(hda, "drive"), "ide0-hd0");
	assert_int_equal(dev_get_uint(hda, "bus"), 0);
	assert_int_equal(dev_get_uint(hda, "unit"), 0);
	assert_string_equal(dev_get_str(cd, "drive"), "ide1-cd0");
	assert_int_equal(dev_get_uint(cd, "bus"), 1);
	assert_int_equal(dev_get_uint(cd, "unit"), 0);
	/* if=ide without index: the first slot no earlier option took */
	assert_string_equal(dev_get_str(hdx, "drive"), "ide0-hd1");
	assert_true(cfg.ide[0].present && !strcmp(cfg.ide[0].path, "a.img"));
	assert_true(cfg.ide[1].present && !strcmp(cfg.ide[1].path, "e.img"));
	assert_string_equal(cfg.ide[1].format, "raw");
	assert_true(cfg.ide[2].present && cfg.ide[2].cdrom && cfg.ide[2].read_only);
	/* the -device ide-hd without bus= got the slot nobody named */
	assert_true(cfg.ide[3].present && !strcmp(cfg.ide[3].path, "b.img"));
	free_config(&cfg);
	assert_int_equal(parse(&cfg, taken), CLI_ERROR);
	assert_string_equal(err, "-cdrom: IDE drive 2 (secondary master, the -cdrom slot) is "
			    "already in use");
	free_config(&cfg);
}

/* A function 1 in a slot whose function 0 says multifunction=on. */
static void test_machine_multifunction(void **state)
{
	struct machine_config cfg;
	static const char *const args[] = {
		"-nodefaults", "-device", "virtio-rng-pci,addr=6.1",
		"-device", "virtio-balloon,addr=6,multifunction=on", NULL,
	};

	assert_int_equal(parse(&cfg, args), CLI_RUN);
	assert_int_equal(find_dev(&cfg, "virtio-rng-pci", 0)->devfn, PCI_DEVFN(6, 1));
	assert_int_equal(find_dev(&cfg, "virtio-balloon-pci", 0)->devfn, PCI_DEVFN(6, 0));
	free_config(&cfg);
}

/* ---- lifecycle: one order for create, reset and (reversed) destroy ------ */

static char journal[256];

static void note(const struct dev_instance *d, const char *what)
{
	size_t n = strlen(journal);
	snprintf(journal + n, sizeof(journal) - n, "%s %s;", what, d->id);
}

struct fake_pci {
	struct pci_device pci;
	bool header_was_reset; /* seen by the op: the core's reset comes first */
};

static int fake_create(struct dev_instance *d, struct dev_board *b, char *e, size_t elen)
{
	note(d, "create");
	if (d->cls->bus == DEV_BUS_PCI) {
		struct fake_pci *f = calloc(1, sizeof(*f));
		pci_device_init(&f->pci, d->id, 0x1234, 0x5678, 0xff0000, 0);
		assert_int_equal(pci_register(b->pci, &f->pci, (uint8_t)d->devfn), 0);
		d->state = f;
	} else {
		d->state = d; /* anything but NULL */
	}
	return strcmp(d->id, "broken") ? 0 : set_err(e, elen, "%s: cannot", d->id);
}

static void fake_reset(struct dev_instance *d)
{
	note(d, "reset");
	if (d->cls->bus == DEV_BUS_PCI) {
		struct fake_pci *f = d->state;
		/* the guest's write below was undone before this op ran */
		f->header_was_reset = pci_get_word(&f->pci, PCI_COMMAND) == 0;
	}
}

static void fake_destroy(struct dev_instance *d)
{
	note(d, "destroy");
	if (d->cls->bus == DEV_BUS_PCI)
		free(d->state);
}

static const struct dev_class fake_isa = {
	.name = "fake-isa", .bus = DEV_BUS_ISA,
	.ops = { .create = fake_create, .reset = fake_reset, .destroy = fake_destroy },
};

static const struct dev_class fake_pci_class = {
	.name = "fake-pci", .bus = DEV_BUS_PCI,
	.ops = { .create = fake_create, .reset = fake_reset, .destroy = fake_destroy },
};

static void test_lifecycle_order(void **state)
{
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct dev_instance devs[3];
	struct dev_board b = { .pci = &pci, .pio = &pio, .mmio = &mmio };
	struct devfn_alloc slots;

	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	pci_bus_init(&pci, &pio, &mmio);
	dev_instance_init(&devs[0], &fake_isa);
	dev_instance_init(&devs[1], &fake_pci_class);
	dev_instance_init(&devs[2], &fake_pci_class);
	devs[0].id = strdup("a");
	devs[1].id = strdup("b");
	devs[2].id = strdup("c");
	assert_int_equal(dev_instance_set(&devs[2], "addr", "7", err, sizeof(err)), 0);
	assert_int_equal(dev_instance_set(&devs[2], "multifunction", "on", err, sizeof(err)), 0);
	devfn_alloc_init(&slots, 3);
	assert_int_equal(dev_place_pci(&slots, devs, 3, err, sizeof(err)), 0);
	assert_int_equal(devs[0].devfn, -1);
	assert_int_equal(devs[1].devfn, PCI_DEVFN(3, 0));
	assert_int_equal(devs[2].devfn, PCI_DEVFN(7, 0));

	journal[0] = 0;
	assert_int_equal(dev_create_all(devs, 3, &b, err, sizeof(err)), 0);
	assert_string_equal(journal, "create a;create b;create c;");
	/* multifunction=on reached the header, and survives a reset */
	assert_int_equal(pci.dev[PCI_DEVFN(7, 0)]->config[PCI_HEADER_TYPE], 0x80);
	assert_int_equal(pci.dev[PCI_DEVFN(3, 0)]->config[PCI_HEADER_TYPE], 0);

	pci_config_write(&pci, PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(pci_get_word(pci.dev[PCI_DEVFN(3, 0)], PCI_COMMAND), PCI_COMMAND_MEMORY);
	journal[0] = 0;
	dev_reset_all(devs, 3, &pci);
	assert_string_equal(journal, "reset a;reset b;reset c;");
	assert_true(((struct fake_pci *)devs[1].state)->header_was_reset);
	assert_int_equal(pci.dev[PCI_DEVFN(7, 0)]->config[PCI_HEADER_TYPE], 0x80);

	journal[0] = 0;
	dev_destroy_all(devs, 3);
	assert_string_equal(journal, "destroy c;destroy b;destroy a;");
	for (int i = 0; i < 3; i++) {
		assert_null(devs[i].state);
		dev_instance_free(&devs[i]);
	}
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

/* A device that cannot be created stops the walk with its message. */
static void test_create_failure_stops(void **state)
{
	struct dev_instance devs[2];
	struct dev_board b = { 0 };

	dev_instance_init(&devs[0], &fake_isa);
	dev_instance_init(&devs[1], &fake_isa);
	devs[0].id = strdup("broken");
	devs[1].id = strdup("never");
	journal[0] = 0;
	assert_int_equal(dev_create_all(devs, 2, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "broken: cannot");
	assert_string_equal(journal, "create broken;");
	dev_instance_free(&devs[0]);
	dev_instance_free(&devs[1]);
}

/* ---- help --------------------------------------------------------------- */

static char *capture(void (*fn)(FILE *, const struct dev_class *), const struct dev_class *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	fn(f, c);
	fclose(f);
	return buf;
}

static void print_list(FILE *f, const struct dev_class *c)
{
	dev_print_list(f);
}

static void test_help_props(void **state)
{
	char *out = capture(dev_print_props, &every_class);

	assert_string_equal(out,
		"every options:\n"
		"  addr=<str>             - PCI slot and function, hex SLOT[.FN] such as 05 or "
		"05.0 (default: the first free slot)\n"
		"  chardev=<str>\n"
		"  colour=<Colour>        - red/green/blue (default: green)\n"
		"  count=<uint32>         -  (default: 3)\n"
		"  flag=<bool>            - a switch (default: on)\n"
		"  label=<str>\n"
		"  mac=<str>              - an address\n"
		"  multifunction=<bool>   - function 0 of a slot with other functions "
		"(default: off)\n");
	free(out);
}

/* QEMU's layout: categories in QEMU's order, names sorted, one line each;
 * the board's own devices are not offered. */
static void test_help_list(void **state)
{
	char *out = capture(print_list, NULL);

	assert_non_null(strstr(out, "Storage devices:\nname \"ide-cd\", bus IDE, desc \""));
	assert_non_null(strstr(out, "name \"virtio-net-pci\", bus PCI, alias \"virtio-net\", "
				    "desc \""));
	assert_non_null(strstr(out, "\n\nMisc devices:\nname \"isa-debug-exit\", bus ISA, "));
	assert_non_null(strstr(out, "name \"virtconsole\", bus virtio-serial-bus, desc "));
	assert_true(strstr(out, "Storage devices:") < strstr(out, "Network devices:"));
	assert_true(strstr(out, "Network devices:") < strstr(out, "Input devices:"));
	assert_true(strstr(out, "Input devices:") < strstr(out, "Display devices:"));
	assert_true(strstr(out, "Display devices:") < strstr(out, "Misc devices:"));
	assert_non_null(strstr(out, "Display devices:\nname \"VGA\", bus PCI, desc \""));
	assert_null(strstr(out, "i8042"));
	assert_null(strstr(out, "PIIX3"));
	/* sorted without regard to case, as QEMU's list */
	assert_non_null(strstr(out, "Sound devices:\nname \"ES1370\", bus PCI, desc \"ENSONIQ "
				    "AudioPCI ES1370\"\nname \"cs4231a\", bus ISA, desc \"Crystal "
				    "Semiconductor CS4231A\"\nname \"gus\", bus ISA, desc \"Gravis "
				    "Ultrasound GF1\"\nname \"sb16\", bus ISA, desc \""));
	assert_true(strstr(out, "Display devices:") < strstr(out, "Sound devices:"));
	assert_true(strstr(out, "Sound devices:") < strstr(out, "Misc devices:"));
	assert_null(strstr(out, "USB devices:")); /* no empty categories */
	assert_int_equal(out[0], 'S');
	free(out);
}

/* Every entry of the table is well-formed: unique names, defaults that
 * parse, typed reads that match. */
static void test_table_entries(void **state)
{
	for (unsigned i = 0; i < dev_table_size; i++) {
		const struct dev_class *c = dev_table[i];
		struct dev_instance d;
		assert_ptr_equal(dev_class_find(c->name), c);
		for (const char *const *a = c->aliases; a && *a; a++)
			assert_ptr_equal(dev_class_find(*a), c);
		dev_instance_init(&d, c); /* dies on a bad default */
		for (unsigned k = 0; k < dev_class_nprops(c); k++) {
			const struct dev_prop *p = dev_class_prop(c, k);
			assert_int_equal(dev_class_prop_index(c, p->name), (int)k);
			if (p->type == PROP_UINT)
				assert_true(p->min <= p->max);
		}
		dev_instance_free(&d);
	}
}

/* ---- saved state through the table ---- */

static void fake_save(struct dev_instance *d, struct ss_writer *w, uint32_t instance)
{
	ss_section_begin(w, d->cls->name, instance, 1);
	ss_put_bytes(w, "id", d->id, strlen(d->id));
	ss_section_end(w);
}

static bool fake_load(struct dev_instance *d, struct ss_reader *r, uint32_t instance)
{
	char id[32] = { 0 };
	size_t len = 0;

	if (!ss_section_open(r, d->cls->name, instance, 1, 1, NULL))
		return false;
	ss_get_bytes_max(r, "id", id, sizeof(id) - 1, &len);
	if (!ss_section_close(r))
		return false;
	if (strcmp(id, d->id))
		return ss_fail(r, "%s: saved as %s", d->id, id);
	note(d, "load");
	return true;
}

static const struct dev_class fake_a = {
	.name = "fake-a", .bus = DEV_BUS_ISA, .ops = { .save = fake_save, .load = fake_load },
};
static const struct dev_class fake_b = {
	.name = "fake-b", .bus = DEV_BUS_ISA, .ops = { .save = fake_save, .load = fake_load },
};
static const struct dev_class fake_stateless = { .name = "fake-none", .bus = DEV_BUS_ISA };

/* One stream for the list: each instance a section under its class's name,
 * numbered among its class's instances in list order; the load gives each
 * instance its own section back, and a list that differs from the saved
 * one (an instance missing) fails naming the section. */
static void test_save_load_all(void **state)
{
	const struct dev_class *cls[] = { &fake_a, &fake_b, &fake_stateless, &fake_a, &fake_b };
	const char *ids[] = { "a0", "b0", "n0", "a1", "b1" };
	struct dev_instance devs[5];
	struct ss_writer w;
	struct ss_reader r;

	memset(devs, 0, sizeof(devs));
	for (unsigned i = 0; i < 5; i++)
		devs[i] = (struct dev_instance){ .cls = cls[i], .id = (char *)ids[i], .state = &devs[i],
						  .devfn = -1 };
	assert_int_equal(dev_state_instance(devs, &devs[3]), 1);
	assert_int_equal(dev_state_instance(devs, &devs[1]), 0);
	ss_writer_init(&w);
	dev_save_all(devs, 5, &w);
	assert_int_equal(ss_writer_finish(&w), 0);

	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	journal[0] = 0;
	assert_int_equal(dev_load_all(devs, 5, &r), 0);
	assert_string_equal(journal, "load a0;load b0;load a1;load b1;");
	assert_null(ss_unclaimed_section(&r));
	ss_reader_close(&r);

	/* The machine on the loading side has no second fake-b: its section
	 * is left over; with one fake-a less, a1's section is a0's data. */
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_int_equal(dev_load_all(devs, 3, &r), 0);
	assert_non_null(ss_unclaimed_section(&r));
	ss_reader_close(&r);
	struct dev_instance swapped[2] = { devs[3], devs[0] };
	assert_int_equal(ss_reader_open(&r, w.buf, w.len), 0);
	assert_int_equal(dev_load_all(swapped, 2, &r), -1);
	assert_non_null(strstr(r.err, "a1: saved as a0"));
	ss_reader_close(&r);
	ss_writer_free(&w);
}

/* Every device with guest-visible state saves and loads it through the
 * table, and every device with threads of its own can be quiesced. */
static void test_table_lifecycle_ops(void **state)
{
	/* No state of their own: a POST port, output-only debug ports, the
	 * kernel's PIT (saved with the VM's, src/core/kvm_state.c), and the
	 * drives and serial ports whose controller saves them. */
	static const char *const stateless[] = { "ioport80", "kvm-pit", "isa-debugcon",
						 "isa-debug-exit",
						 "ide-hd", "ide-cd", "virtconsole",
						 "virtserialport", NULL };
	for (unsigned i = 0; i < dev_table_size; i++) {
		const struct dev_class *c = dev_table[i];
		bool none = false;
		for (const char *const *n = stateless; *n; n++)
			none |= !strcmp(*n, c->name);
		if (none)
			continue;
		print_message("%s\n", c->name);
		assert_non_null(c->ops.save);
		assert_non_null(c->ops.load);
		if (!strncmp(c->name, "virtio-", 7)) {
			assert_non_null(c->ops.quiesce);
			assert_non_null(c->ops.resume);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_typed_values),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_parse_option),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_global),
		cmocka_unit_test(test_devfn_claims),
		cmocka_unit_test(test_machine_list_and_slots),
		cmocka_unit_test(test_floppy_options),
		cmocka_unit_test(test_machine_list_errors),
		cmocka_unit_test(test_serial_ports_by_index),
		cmocka_unit_test(test_machine_multifunction),
		cmocka_unit_test(test_ide_drive_slots),
		cmocka_unit_test(test_legacy_drives_are_instances),
		cmocka_unit_test(test_lifecycle_order),
		cmocka_unit_test(test_create_failure_stops),
		cmocka_unit_test(test_help_props),
		cmocka_unit_test(test_help_list),
		cmocka_unit_test(test_table_entries),
		cmocka_unit_test(test_save_load_all),
		cmocka_unit_test(test_table_lifecycle_ops),
		cmocka_unit_test(test_default_macs_count_every_nic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
