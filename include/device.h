/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device contract. Every device model describes itself once, in a
 * struct dev_class: its QEMU name and aliases, the bus it sits on, a
 * one-line description, typed properties (with defaults and help) and its
 * operations. src/board/device_table.c lists every class; -device, -device help,
 * -device DRIVER,help and -global all come from that table.
 *
 * A configured device is a struct dev_instance: its class and the value of
 * each property (class default, then -global, then the option's own). The
 * machine's configuration is a list of them (the board's fixed devices
 * first, then the command line's), created, reset and destroyed in list
 * order (destroyed in reverse).
 */
#ifndef VMM_DEVICE_H
#define VMM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "irq.h"

enum dev_bus {
	DEV_BUS_SYSTEM,        /* the board's own ports and memory */
	DEV_BUS_PCI,           /* bus 0: addr= and multifunction= are implied */
	DEV_BUS_ISA,
	DEV_BUS_IDE,           /* a drive on the PIIX3 IDE controller */
	DEV_BUS_VIRTIO_SERIAL, /* a port of the virtio-serial-pci device */
};

/* -device help groups devices by these, in this order (as QEMU does). */
enum dev_category {
	DEV_CAT_BRIDGE = 1u << 0,
	DEV_CAT_USB = 1u << 1,
	DEV_CAT_STORAGE = 1u << 2,
	DEV_CAT_NETWORK = 1u << 3,
	DEV_CAT_INPUT = 1u << 4,
	DEV_CAT_DISPLAY = 1u << 5,
	DEV_CAT_SOUND = 1u << 6,
	DEV_CAT_MISC = 1u << 7,
	DEV_CAT_CPU = 1u << 8,
	DEV_CAT_WATCHDOG = 1u << 9,
};

enum prop_type {
	PROP_BOOL,     /* on/off, yes/no, true/false */
	PROP_UINT,     /* decimal, 0x hex or 0 octal, within [min, max] */
	PROP_STR,
	PROP_ENUM,     /* one of 'choices' (stored as its index) */
	PROP_MAC,      /* 52:54:00:12:34:56, unicast (stored in the low 48 bits) */
	PROP_CHARDEV,  /* the id of a -chardev, which it then owns */
	PROP_NETDEV,   /* the id of a -netdev, which it then owns */
	PROP_DRIVE,    /* the id of a -drive if=none, which it then owns */
	PROP_PCI_ADDR, /* SLOT[.FN] in hex (stored as devfn; unset: placed by the board) */
	PROP_AUDIODEV, /* the id of an -audiodev (several cards may share one) */
};

struct dev_prop {
	const char *name;
	enum prop_type type;
	const char *help;         /* one line, may be NULL */
	const char *def;          /* default, in the option's own syntax; NULL: unset */
	uint64_t min, max;        /* PROP_UINT: the range; PROP_STR: its length (max 0: any) */
	const char *const *choices; /* PROP_ENUM: NULL-terminated */
	const char *type_name;    /* what help shows in <...>; NULL: from the type */
	bool required;            /* "-device X: NAME= is required" */
};

/* A property's value. given: set by -global or the option (not the default). */
struct dev_value {
	uint64_t u;        /* BOOL, UINT, ENUM index, MAC, PCI_ADDR devfn */
	char *s;           /* STR and the id types (heap) */
	bool given;
	bool set;          /* given or has a default */
};

struct dev_instance;
struct dev_board;
struct machine_config;
struct ss_writer;
struct ss_reader;

struct dev_ops {
	/* Builds the device on the board from its properties; stores what the
	 * other ops need in d->state. Returns 0, or -1 with one line in err. */
	int (*create)(struct dev_instance *d, struct dev_board *b, char *err, size_t errlen);
	/* A system reset: the state of power-on (the board has stopped every
	 * vCPU). PCI functions get their configuration header reset first. */
	void (*reset)(struct dev_instance *d);
	/* Stop (and restart) the device's own threads and in-flight I/O: for
	 * pause and for saving state. After quiesce returns, nothing of the
	 * device writes guest memory or changes its saved state until resume
	 * (work that arrives meanwhile waits: resume looks at it). NULL: the
	 * device has no threads of its own. */
	void (*quiesce)(struct dev_instance *d);
	void (*resume)(struct dev_instance *d);
	void (*destroy)(struct dev_instance *d);
	/* Saved state (include/savestate.h): the device's sections, as
	 * 'instance' (its index among the list's instances of its class).
	 * Errors are sticky in the writer. NULL: no guest-visible state of
	 * its own. load checks everything before it changes the device:
	 * false (the reason in the reader) leaves the device as it was. */
	void (*save)(struct dev_instance *d, struct ss_writer *w, uint32_t instance);
	bool (*load)(struct dev_instance *d, struct ss_reader *r, uint32_t instance);
	/* After every option is parsed: checks that need the rest of the
	 * configuration (and may fill in derived settings). NULL: none. */
	int (*check)(struct dev_instance *d, struct machine_config *cfg, char *err, size_t errlen);
	/* NICs: the cable in or out (QMP and monitor set_link; from the main
	 * thread, under the device's own lock), and its state now (info
	 * network). The guest sees it in the card's registers; it is part
	 * of the saved state and survives reset. NULL: not a NIC. */
	void (*set_link)(struct dev_instance *d, bool up);
	bool (*link_up)(struct dev_instance *d);
	/* Migration's dirty logging of guest RAM starts (before the first
	 * pass) or ends: a device whose writes to guest RAM bypass vmm (the
	 * kernel's vhost-net) routes them through vmm meanwhile. NULL: every
	 * write it makes is vmm's (marked dirty already). */
	void (*log_dirty)(struct dev_instance *d, bool on);
};

struct dev_class {
	const char *name;           /* QEMU's driver name */
	const char *const *aliases; /* NULL-terminated, or NULL; help prints the first */
	enum dev_bus bus;
	unsigned categories;        /* DEV_CAT_* bits; 0: "Uncategorized" */
	const char *desc;           /* one line, or NULL */
	const struct dev_prop *props;
	unsigned nprops;
	struct dev_ops ops;
	bool board_only;            /* part of the board: not in -device help, not for -device */
	unsigned max_instances;     /* 0: no limit */
	/* PCI devices the board places itself go in increasing order of this
	 * (the slot layout guests have known so far: their interface names
	 * follow the slot). */
	unsigned place_rank;
};

struct dev_instance {
	const struct dev_class *cls;
	char *id;                  /* id=, or NULL */
	struct dev_value *val;     /* one per dev_class_prop() index */
	int devfn;                 /* PCI: where it sits (after placement), else -1 */
	bool from_board;           /* the board's fixed device, or implied by an old option */
	bool place_last;           /* the default NIC: placed after every other device */
	void *state;               /* what create made */
};

/* What a device model may use of the board while it is created. */
struct virtio_host;
struct event_loop;
struct audio_backend;
struct i8237;
struct watchdog_host;
struct dev_board {
	struct pci_bus *pci;
	struct io_bus *pio, *mmio;
	struct guest_mem *mem;
	struct memmap *memmap;
	const struct virtio_host *virtio;
	struct kvm_vm *kvm;
	struct irq_line (*isa_irq)(struct dev_board *b, unsigned irq);
	void (*set_gsi)(void *opaque, unsigned gsi, int level);
	void *gsi_opaque;
	/* Reset, power-off and exit requests (struct board_control). */
	void (*req_reset)(void *opaque);
	void (*req_poweroff)(void *opaque);
	void (*req_exit)(void *opaque, int status);
	/* -netdev ID's backend, opened now; NULL with err set. */
	struct net_backend *(*netdev)(struct dev_board *b, const char *id, char *err, size_t errlen);
	/* A PCI option ROM file (romfile=): a bare name is looked for where
	 * firmware is (-L, then the distribution's SeaBIOS, QEMU and iPXE
	 * directories); its contents on the heap (the device owns them), or
	 * NULL with err set. */
	uint8_t *(*option_rom)(struct dev_board *b, const char *name, size_t *len, char *err,
			       size_t errlen);
	/* -audiodev ID's backend (opened by the board, which closes it after
	 * the devices); NULL with err set. */
	struct audio_backend *(*audiodev)(struct dev_board *b, const char *id, char *err,
					  size_t errlen);
	/* The ISA DMA controllers (the board's i8257, created before any
	 * -device); NULL in tests without them. */
	struct i8237 *dma;
	/* -drive ID's image, opened now; NULL with err set. */
	struct block_dev *(*drive)(struct dev_board *b, const char *id, bool *cdrom, char *err,
				   size_t errlen);
	/* The main event loop: device timers (EVENT_CLOCK_VIRTUAL). NULL in
	 * tests that run none. */
	struct event_loop *loop;
	/* What a watchdog device does when it runs out (include/watchdog.h). */
	struct watchdog_host *watchdog;
	/* The balloon's driver moved 'actual' (any thread): QMP's BALLOON_CHANGE. */
	void (*balloon_changed)(void *machine);
	struct dev_instance *devs; /* the whole list, for buses that gather their children */
	unsigned ndevs;
	void *machine;             /* struct machine: board-only classes' escape hatch */
};

/* ---- the table --------------------------------------------------------- */

extern const struct dev_class *const dev_table[];
extern const unsigned dev_table_size;

/* By name or alias; NULL if none. */
const struct dev_class *dev_class_find(const char *name);

/* A class's properties: the bus's implied ones (PCI: addr, multifunction)
 * first, then its own. */
unsigned dev_class_nprops(const struct dev_class *c);
const struct dev_prop *dev_class_prop(const struct dev_class *c, unsigned i);
int dev_class_prop_index(const struct dev_class *c, const char *name);

/* -device help and -device DRIVER,help. */
void dev_print_list(FILE *out);
void dev_print_props(FILE *out, const struct dev_class *c);
/* The type a property's help shows in <...>: "bool", "uint32", "str"... */
const char *dev_prop_type_name(const struct dev_prop *p);

/* ---- -global ----------------------------------------------------------- */

struct dev_global {
	const struct dev_class *cls;
	int prop;          /* dev_class_prop() index */
	char *value;
};

/* Parses DRIVER.PROP=VAL (checked against the table and the type). */
int dev_global_parse(const char *arg, struct dev_global *out, char *err, size_t errlen);

/* ---- instances --------------------------------------------------------- */

/* "DRIVER[,id=ID][,PROP=VAL]...": a new instance with the class defaults
 * and the option's values. Returns 0, 1 for "help" or "DRIVER,help"
 * (printed to 'out'), or -1 with one line in err. */
int dev_instance_parse(const char *arg, struct dev_instance *d, FILE *out, char *err,
		       size_t errlen);
/* An instance of 'cls' with its defaults (the board's own, and those that
 * old options imply). */
void dev_instance_init(struct dev_instance *d, const struct dev_class *cls);
/* -global values for every property the option did not give itself (so
 * that -global works wherever it sits on the command line, as QEMU). */
void dev_apply_globals(struct dev_instance *d, const struct dev_global *globals, unsigned n);
/* Sets one property from its text form. */
int dev_instance_set(struct dev_instance *d, const char *name, const char *value, char *err,
		     size_t errlen);
void dev_instance_free(struct dev_instance *d);

/* Typed reads for create ops; the property must exist (abort otherwise:
 * a typo in a model is a bug, not a user error). */
uint64_t dev_get_uint(const struct dev_instance *d, const char *name);
bool dev_get_bool(const struct dev_instance *d, const char *name);
const char *dev_get_str(const struct dev_instance *d, const char *name); /* NULL: unset */
void dev_get_mac(const struct dev_instance *d, const char *name, uint8_t mac[6]);
/* A NIC's address: its mac=, else 52:54:00:12:34:56 + the number of NICs
 * without mac= created before it, as QEMU's defaults. */
void dev_nic_mac(const struct dev_board *b, const struct dev_instance *d, uint8_t mac[6]);
bool dev_is_set(const struct dev_instance *d, const char *name);   /* a value, default or given */
bool dev_is_given(const struct dev_instance *d, const char *name); /* by the option or -global */

/* Value parsers, shared with the rest of the CLI. */
int dev_parse_bool(const char *s, bool *out);
int dev_parse_uint(const char *s, uint64_t *out);
int dev_parse_mac(const char *s, uint8_t mac[6]);
int dev_parse_pci_addr(const char *s, uint8_t *devfn);

/* ---- PCI placement ----------------------------------------------------- */

/* One devfn allocator for bus 0 of the board. */
struct devfn_alloc {
	const char *owner[256];  /* class name of what sits there, or NULL */
	bool multifunction[32];  /* function 0 of the slot said multifunction=on */
	unsigned first_auto_slot;
};

void devfn_alloc_init(struct devfn_alloc *a, unsigned first_auto_slot);
/* Takes devfn for 'owner'; -1 with one line in err if it is taken, or if
 * the slot's functions disagree on multifunction (as QEMU refuses). */
int devfn_claim(struct devfn_alloc *a, uint8_t devfn, bool multifunction, const char *owner,
		char *err, size_t errlen);
/* Function 0 of the first empty slot from first_auto_slot; -1 if full. */
int devfn_claim_free(struct devfn_alloc *a, const char *owner, char *err, size_t errlen);

/* Places every PCI instance of the list: explicit addr= first, in list
 * order, then the rest by place_rank (place_last at the very end). */
int dev_place_pci(struct devfn_alloc *a, struct dev_instance *devs, unsigned n, char *err,
		  size_t errlen);

/* ---- lifecycle --------------------------------------------------------- */

/* Creates every instance in list order; dies on the first error. */
int dev_create_all(struct dev_instance *devs, unsigned n, struct dev_board *b, char *err,
		   size_t errlen);
/* One reset order for the whole machine: list order. 'pci' resets the
 * configuration header of PCI functions first. */
void dev_reset_all(struct dev_instance *devs, unsigned n, struct pci_bus *pci);
void dev_quiesce_all(struct dev_instance *devs, unsigned n);
void dev_resume_all(struct dev_instance *devs, unsigned n);
/* Migration's dirty logging on or off, for every device with log_dirty. */
void dev_log_dirty_all(struct dev_instance *devs, unsigned n, bool on);
/* Reverse list order. */
void dev_destroy_all(struct dev_instance *devs, unsigned n);
/* Saved state of every instance, in list order, into one stream (the
 * caller has quiesced them). dev_load_all loads each instance's sections
 * from the stream: 0, or -1 at the first device that refused (the reason
 * in r->err; devices before it are loaded already). */
void dev_save_all(struct dev_instance *devs, unsigned n, struct ss_writer *w);
int dev_load_all(struct dev_instance *devs, unsigned n, struct ss_reader *r);
/* 'instance' of the saved state: d's index among the list's instances of
 * its class. */
uint32_t dev_state_instance(const struct dev_instance *devs, const struct dev_instance *d);

/* The first created instance of a class in the list, or NULL. */
struct dev_instance *dev_find(struct dev_instance *devs, unsigned n, const struct dev_class *c);

/* A class's save and load ops for a model with a kind_save/kind_load pair
 * on the model's state (d->state): defines kind_save_dev and kind_load_dev. */
#define DEV_STATE_OPS(kind, type)                                                        \
	static void kind##_save_dev(struct dev_instance *d, struct ss_writer *w,         \
				    uint32_t instance)                                   \
	{                                                                                \
		kind##_save((type *)d->state, w, instance);                              \
	}                                                                                \
	static bool kind##_load_dev(struct dev_instance *d, struct ss_reader *r,         \
				    uint32_t instance)                                   \
	{                                                                                \
		return kind##_load((type *)d->state, r, instance);                       \
	}

/* A NIC's set_link and link_up ops over kind##_set_link and kind##_link. */
#define NIC_LINK_OPS(kind, type)                                                         \
	static void kind##_set_link_dev(struct dev_instance *d, bool up)                 \
	{                                                                                \
		kind##_set_link((type *)d->state, up);                                   \
	}                                                                                \
	static bool kind##_link_up_dev(struct dev_instance *d)                           \
	{                                                                                \
		return kind##_link((type *)d->state);                                    \
	}

#endif
