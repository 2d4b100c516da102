// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The device contract (include/device.h): looking classes up, parsing and
 * printing their properties, -global, PCI placement and the lifecycle
 * walks over the machine's instance list.
 */
#include "device.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pci.h"
#include "util.h"

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- the table --------------------------------------------------------- */

/* Every PCI function has these (QEMU's names and syntax). */
static const struct dev_prop pci_props[] = {
	{ .name = "addr", .type = PROP_PCI_ADDR, .type_name = "str",
	  .help = "PCI slot and function, hex SLOT[.FN] such as 05 or 05.0 "
		  "(default: the first free slot)" },
	{ .name = "multifunction", .type = PROP_BOOL, .def = "off",
	  .help = "function 0 of a slot with other functions" },
};

static unsigned implied_nprops(const struct dev_class *c)
{
	return c->bus == DEV_BUS_PCI ? ARRAY_SIZE(pci_props) : 0;
}

unsigned dev_class_nprops(const struct dev_class *c)
{
	return implied_nprops(c) + c->nprops;
}

const struct dev_prop *dev_class_prop(const struct dev_class *c, unsigned i)
{
	unsigned implied = implied_nprops(c);
	return i < implied ? &pci_props[i] : &c->props[i - implied];
}

int dev_class_prop_index(const struct dev_class *c, const char *name)
{
	for (unsigned i = 0; i < dev_class_nprops(c); i++)
		if (!strcmp(dev_class_prop(c, i)->name, name))
			return (int)i;
	return -1;
}

const struct dev_class *dev_class_find(const char *name)
{
	for (unsigned i = 0; i < dev_table_size; i++) {
		const struct dev_class *c = dev_table[i];
		if (!strcmp(c->name, name))
			return c;
		for (const char *const *a = c->aliases; a && *a; a++)
			if (!strcmp(*a, name))
				return c;
	}
	return NULL;
}

/* ---- help -------------------------------------------------------------- */

static const struct {
	unsigned bit;
	const char *title;
} categories[] = {
	{ DEV_CAT_BRIDGE, "Controller/Bridge/Hub" }, { DEV_CAT_USB, "USB" },
	{ DEV_CAT_STORAGE, "Storage" },              { DEV_CAT_NETWORK, "Network" },
	{ DEV_CAT_INPUT, "Input" },                  { DEV_CAT_DISPLAY, "Display" },
	{ DEV_CAT_SOUND, "Sound" },                  { DEV_CAT_MISC, "Misc" },
	{ DEV_CAT_CPU, "CPU" },                      { DEV_CAT_WATCHDOG, "Watchdog" },
	{ 0, "Uncategorized" },
};

static const char *bus_name(enum dev_bus bus)
{
	switch (bus) {
	case DEV_BUS_PCI: return "PCI";
	case DEV_BUS_ISA: return "ISA";
	case DEV_BUS_IDE: return "IDE";
	case DEV_BUS_VIRTIO_SERIAL: return "virtio-serial-bus";
	default: return "System";
	}
}

static int by_class_name(const void *a, const void *b)
{
	return strcmp((*(const struct dev_class *const *)a)->name,
		      (*(const struct dev_class *const *)b)->name);
}

static bool in_category(const struct dev_class *c, unsigned bit)
{
	return bit ? (c->categories & bit) != 0 : c->categories == 0;
}

void dev_print_list(FILE *out)
{
	const struct dev_class *sorted[dev_table_size ? dev_table_size : 1];
	bool first = true;

	memcpy(sorted, dev_table, dev_table_size * sizeof(sorted[0]));
	qsort(sorted, dev_table_size, sizeof(sorted[0]), by_class_name);
	for (size_t k = 0; k < ARRAY_SIZE(categories); k++) {
		bool header = false;
		for (unsigned i = 0; i < dev_table_size; i++) {
			const struct dev_class *c = sorted[i];
			if (c->board_only || !in_category(c, categories[k].bit))
				continue;
			if (!header)
				fprintf(out, "%s%s devices:\n", first ? "" : "\n", categories[k].title);
			header = true;
			first = false;
			fprintf(out, "name \"%s\", bus %s", c->name, bus_name(c->bus));
			if (c->aliases && c->aliases[0])
				fprintf(out, ", alias \"%s\"", c->aliases[0]);
			if (c->desc)
				fprintf(out, ", desc \"%s\"", c->desc);
			fputc('\n', out);
		}
	}
}

const char *dev_prop_type_name(const struct dev_prop *p)
{
	if (p->type_name)
		return p->type_name;
	switch (p->type) {
	case PROP_BOOL: return "bool";
	case PROP_UINT: return p->max > UINT32_MAX ? "uint64" : "uint32";
	default: return "str";
	}
}

/* The default as help shows it: numbers in decimal, booleans on/off. */
static void format_default(const struct dev_prop *p, char *buf, size_t len)
{
	uint64_t u;
	bool b;

	buf[0] = 0;
	if (!p->def)
		return;
	if (p->type == PROP_UINT && !dev_parse_uint(p->def, &u))
		snprintf(buf, len, "%llu", (unsigned long long)u);
	else if (p->type == PROP_BOOL && !dev_parse_bool(p->def, &b))
		snprintf(buf, len, "%s", b ? "on" : "off");
	else
		snprintf(buf, len, "%s", p->def);
}

static void print_prop(FILE *out, const struct dev_prop *p)
{
	char left[96], def[64], choices[256] = "";
	const char *help = p->help;

	snprintf(left, sizeof(left), "%s=<%s>", p->name, dev_prop_type_name(p));
	format_default(p, def, sizeof(def));
	if (p->type == PROP_ENUM && !help) {
		size_t n = 0;
		for (const char *const *c = p->choices; *c && n < sizeof(choices); c++)
			n += (size_t)snprintf(choices + n, sizeof(choices) - n, "%s%s",
					      n ? "/" : "", *c);
		help = choices;
	} else if (p->type == PROP_BOOL && !help) {
		help = "on/off";
	}
	if (!help && !def[0]) {
		fprintf(out, "  %s\n", left);
		return;
	}
	fprintf(out, "  %-22s - %s", left, help ? help : "");
	if (def[0])
		fprintf(out, " (default: %s)", def);
	fputc('\n', out);
}

static const struct dev_class *sort_class;

static int by_prop_name(const void *a, const void *b)
{
	return strcmp(dev_class_prop(sort_class, *(const unsigned *)a)->name,
		      dev_class_prop(sort_class, *(const unsigned *)b)->name);
}

void dev_print_props(FILE *out, const struct dev_class *c)
{
	unsigned n = dev_class_nprops(c), order[n ? n : 1];

	for (unsigned i = 0; i < n; i++)
		order[i] = i;
	sort_class = c; /* help runs once, single-threaded, before anything starts */
	qsort(order, n, sizeof(order[0]), by_prop_name);
	fprintf(out, "%s options:\n", c->name);
	for (unsigned i = 0; i < n; i++)
		print_prop(out, dev_class_prop(c, order[i]));
}

/* ---- values ------------------------------------------------------------ */

int dev_parse_bool(const char *v, bool *out)
{
	return parse_on_off(v, out);
}

int dev_parse_uint(const char *v, uint64_t *out)
{
	uint64_t x = 0;
	const char *end = scan_uint(v, 0, &x);

	if (!end || *end)
		return -1;
	*out = x;
	return 0;
}

int dev_parse_mac(const char *v, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		uint64_t b;
		const char *end = scan_uint(v, 16, &b);
		if (!end || end - v > 2 || b > 0xFF || (i < 5 ? *end != ':' : *end != 0))
			return -1;
		mac[i] = (uint8_t)b;
		v = end + (i < 5);
	}
	return 0;
}

int dev_parse_pci_addr(const char *v, uint8_t *devfn)
{
	uint64_t slot, fn = 0;
	const char *end = scan_uint(v, 16, &slot);

	if (!end || slot > 31)
		return -1;
	if (*end == '.') {
		const char *f = end + 1;
		if (*f < '0' || *f > '7' || f[1])
			return -1;
		fn = (uint64_t)(*f - '0');
	} else if (*end) {
		return -1;
	}
	*devfn = (uint8_t)PCI_DEVFN(slot, fn);
	return 0;
}

static uint64_t mac_to_u64(const uint8_t mac[6])
{
	uint64_t u = 0;
	for (int i = 0; i < 6; i++)
		u = u << 8 | mac[i];
	return u;
}

/* Parses 'v' for property p into val; messages name the property. */
static int set_value(const struct dev_prop *p, struct dev_value *val, const char *v, char *err,
		     size_t errlen)
{
	uint64_t u = 0;
	bool b;
	uint8_t mac[6], devfn;

	switch (p->type) {
	case PROP_BOOL:
		if (dev_parse_bool(v, &b) < 0)
			return fail(err, errlen, "%s: expected 'on' or 'off', got '%s'", p->name, v);
		u = b;
		break;
	case PROP_UINT:
		if (dev_parse_uint(v, &u) < 0)
			return fail(err, errlen, "%s: invalid number '%s'", p->name, v);
		if (u < p->min || u > p->max)
			return fail(err, errlen, "%s must be %llu to %llu (got %llu)", p->name,
				    (unsigned long long)p->min, (unsigned long long)p->max,
				    (unsigned long long)u);
		break;
	case PROP_ENUM:
		for (u = 0; p->choices[u] && strcmp(p->choices[u], v); u++)
			;
		if (!p->choices[u]) {
			char list[256];
			size_t n = 0;
			for (const char *const *c = p->choices; *c && n < sizeof(list); c++)
				n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
						      c == p->choices ? "" : c[1] ? ", " : " or ",
						      *c);
			return fail(err, errlen, "%s=%s: expected %s", p->name, v, list);
		}
		break;
	case PROP_MAC:
		if (dev_parse_mac(v, mac) < 0)
			return fail(err, errlen, "%s=%s: expected six hex bytes like "
				    "52:54:00:12:34:56", p->name, v);
		if (mac[0] & 1)
			return fail(err, errlen, "%s=%s is a multicast address", p->name, v);
		u = mac_to_u64(mac);
		break;
	case PROP_PCI_ADDR:
		if (dev_parse_pci_addr(v, &devfn) < 0)
			return fail(err, errlen, "%s=%s: expected a PCI slot (hex, 00 to 1f) and "
				    "optional function (0 to 7), such as 05 or 05.1", p->name, v);
		u = devfn;
		break;
	case PROP_STR:
	case PROP_CHARDEV:
	case PROP_NETDEV:
	case PROP_DRIVE:
	case PROP_AUDIODEV:
		if (p->type != PROP_STR && !*v)
			return fail(err, errlen, "%s: empty id", p->name);
		if (p->type == PROP_STR && p->max && (strlen(v) < p->min || strlen(v) > p->max))
			return fail(err, errlen, "%s must be %llu to %llu bytes long", p->name,
				    (unsigned long long)p->min, (unsigned long long)p->max);
		free(val->s);
		val->s = xstrdup(v);
		break;
	}
	val->u = u;
	val->set = true;
	return 0;
}

int dev_instance_set(struct dev_instance *d, const char *name, const char *value, char *err,
		     size_t errlen)
{
	int i = dev_class_prop_index(d->cls, name);

	if (i < 0)
		return fail(err, errlen, "unknown parameter '%s'", name);
	if (set_value(dev_class_prop(d->cls, (unsigned)i), &d->val[i], value, err, errlen) < 0)
		return -1;
	d->val[i].given = true;
	return 0;
}

/* ---- -global ----------------------------------------------------------- */

int dev_global_parse(const char *arg, struct dev_global *out, char *err, size_t errlen)
{
	const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');
	char driver[64], prop[64];
	struct dev_value probe = { 0 };

	if (!dot || !eq || eq < dot || dot == arg || eq == dot + 1)
		return fail(err, errlen, "-global %s: expected DRIVER.PROPERTY=VALUE", arg);
	if ((size_t)(dot - arg) >= sizeof(driver) || (size_t)(eq - dot - 1) >= sizeof(prop))
		return fail(err, errlen, "-global %s: name too long", arg);
	memcpy(driver, arg, (size_t)(dot - arg));
	driver[dot - arg] = 0;
	memcpy(prop, dot + 1, (size_t)(eq - dot - 1));
	prop[eq - dot - 1] = 0;
	out->cls = dev_class_find(driver);
	if (!out->cls)
		return fail(err, errlen, "-global %s: unknown device '%s' (vmm -device help)", arg,
			    driver);
	out->prop = dev_class_prop_index(out->cls, prop);
	if (out->prop < 0)
		return fail(err, errlen, "-global %s: %s has no property '%s' (vmm -device %s,help)",
			    arg, out->cls->name, prop, out->cls->name);
	/* The value is checked now, so that a typo fails before anything starts. */
	char why[192];
	int r = set_value(dev_class_prop(out->cls, (unsigned)out->prop), &probe, eq + 1, why,
			  sizeof(why));
	free(probe.s);
	if (r < 0)
		return fail(err, errlen, "-global %s: %s", arg, why);
	out->value = xstrdup(eq + 1);
	return 0;
}

/* ---- instances --------------------------------------------------------- */

void dev_instance_init(struct dev_instance *d, const struct dev_class *cls)
{
	unsigned n = dev_class_nprops(cls);
	char err[256];

	memset(d, 0, sizeof(*d));
	d->cls = cls;
	d->devfn = -1;
	d->val = xzalloc((n ? n : 1) * sizeof(*d->val));
	for (unsigned i = 0; i < n; i++) {
		const struct dev_prop *p = dev_class_prop(cls, i);
		if (p->def && set_value(p, &d->val[i], p->def, err, sizeof(err)) < 0)
			die("device %s: bad default for %s: %s", cls->name, p->name, err);
	}
}

void dev_apply_globals(struct dev_instance *d, const struct dev_global *globals, unsigned n)
{
	char err[256];

	for (unsigned g = 0; g < n; g++) {
		if (globals[g].cls != d->cls || d->val[globals[g].prop].given)
			continue;
		/* dev_global_parse checked the value against this very type */
		if (set_value(dev_class_prop(d->cls, (unsigned)globals[g].prop),
			      &d->val[globals[g].prop], globals[g].value, err, sizeof(err)) < 0)
			die("-global %s: %s", globals[g].value, err);
		d->val[globals[g].prop].given = true;
	}
}

void dev_instance_free(struct dev_instance *d)
{
	if (!d->val)
		return;
	for (unsigned i = 0; i < dev_class_nprops(d->cls); i++)
		free(d->val[i].s);
	free(d->val);
	free(d->id);
	d->val = NULL;
	d->id = NULL;
}

/* The next "key=value" of an option string; ",," is a literal comma. A
 * bare word is returned as a key with value NULL. */
static const char *next_pair(const char *p, char *key, size_t klen, char *val, size_t vlen,
			     bool *has_val, bool *too_long)
{
	size_t k = 0, v = 0;

	*has_val = false;
	while (*p && *p != ',' && *p != '=') {
		if (k + 1 >= klen)
			*too_long = true;
		else
			key[k++] = *p;
		p++;
	}
	key[k] = 0;
	if (*p == '=') {
		*has_val = true;
		p++;
		while (*p) {
			if (*p == ',' && p[1] != ',')
				break;
			if (*p == ',')
				p++;
			if (v + 1 >= vlen)
				*too_long = true;
			else
				val[v++] = *p;
			p++;
		}
	}
	val[v] = 0;
	return *p == ',' ? p + 1 : p;
}

int dev_instance_parse(const char *arg, struct dev_instance *d, FILE *out, char *err,
		       size_t errlen)
{
	char key[64], val[1024], why[256];
	bool has_val, too_long = false;
	const char *p = next_pair(arg, key, sizeof(key), val, sizeof(val), &has_val, &too_long);
	const char *driver = has_val && !strcmp(key, "driver") ? val : key;
	const struct dev_class *cls;

	if ((has_val && strcmp(key, "driver")) || too_long || !*driver)
		return fail(err, errlen, "-device %s: expected DRIVER[,PROPERTY=VALUE]... "
			    "(vmm -device help)", arg);
	if (!strcmp(driver, "help") || !strcmp(driver, "?")) {
		dev_print_list(out);
		return 1;
	}
	cls = dev_class_find(driver);
	if (!cls)
		return fail(err, errlen, "-device %s: unsupported device '%s' (vmm -device help "
			    "lists them)", driver, driver);
	if (cls->board_only)
		return fail(err, errlen, "-device %s: this device is part of the board and cannot "
			    "be added", driver);
	dev_instance_init(d, cls);
	while (*p) {
		p = next_pair(p, key, sizeof(key), val, sizeof(val), &has_val, &too_long);
		if (too_long)
			goto bad;
		if (!strcmp(key, "help") || !strcmp(key, "?")) {
			dev_print_props(out, cls);
			dev_instance_free(d);
			return 1;
		}
		if (!strcmp(key, "id")) {
			free(d->id);
			d->id = xstrdup(val);
			continue;
		}
		/* A bare flag such as "multifunction" means "=on", as QEMU. */
		if (dev_instance_set(d, key, has_val ? val : "on", why, sizeof(why)) < 0) {
			fail(err, errlen, "-device %s: %s", cls->name, why);
			goto bad_quiet;
		}
	}
	for (unsigned i = 0; i < dev_class_nprops(cls); i++) {
		const struct dev_prop *prop = dev_class_prop(cls, i);
		if (prop->required && !d->val[i].set) {
			fail(err, errlen, "-device %s: %s= is required", cls->name, prop->name);
			goto bad_quiet;
		}
	}
	return 0;
bad:
	fail(err, errlen, "-device %s: a parameter name or value is too long", cls->name);
bad_quiet:
	dev_instance_free(d);
	return -1;
}

static const struct dev_value *value_of(const struct dev_instance *d, const char *name,
					enum prop_type type)
{
	int i = dev_class_prop_index(d->cls, name);
	if (i < 0 || dev_class_prop(d->cls, (unsigned)i)->type != type)
		die("device %s: no %s property '%s' (a bug in its model)", d->cls->name,
		    type == PROP_BOOL ? "boolean" : "such", name);
	return &d->val[i];
}

uint64_t dev_get_uint(const struct dev_instance *d, const char *name)
{
	int i = dev_class_prop_index(d->cls, name);
	if (i < 0)
		die("device %s: no property '%s' (a bug in its model)", d->cls->name, name);
	return d->val[i].u;
}

bool dev_get_bool(const struct dev_instance *d, const char *name)
{
	return value_of(d, name, PROP_BOOL)->u != 0;
}

const char *dev_get_str(const struct dev_instance *d, const char *name)
{
	int i = dev_class_prop_index(d->cls, name);
	if (i < 0)
		die("device %s: no property '%s' (a bug in its model)", d->cls->name, name);
	return d->val[i].set ? d->val[i].s : NULL;
}

void dev_get_mac(const struct dev_instance *d, const char *name, uint8_t mac[6])
{
	uint64_t u = value_of(d, name, PROP_MAC)->u;
	for (int i = 5; i >= 0; i--, u >>= 8)
		mac[i] = (uint8_t)u;
}

/* QEMU numbers the default addresses across every NIC without mac=, in
 * creation order, so two cards of different kinds never share one (they
 * would on a bridge or a -net hub). */
void dev_nic_mac(const struct dev_board *b, const struct dev_instance *d, uint8_t mac[6])
{
	unsigned n = 0;

	if (dev_is_set(d, "mac")) {
		dev_get_mac(d, "mac", mac);
		return;
	}
	for (const struct dev_instance *i = b->devs; i < d && i < b->devs + b->ndevs; i++)
		n += (i->cls->categories & DEV_CAT_NETWORK) && !dev_is_set(i, "mac");
	memcpy(mac, (const uint8_t[6]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
	mac[5] = (uint8_t)(mac[5] + n);
}

bool dev_is_set(const struct dev_instance *d, const char *name)
{
	int i = dev_class_prop_index(d->cls, name);
	return i >= 0 && d->val[i].set;
}

bool dev_is_given(const struct dev_instance *d, const char *name)
{
	int i = dev_class_prop_index(d->cls, name);
	return i >= 0 && d->val[i].given;
}

/* ---- PCI placement ----------------------------------------------------- */

void devfn_alloc_init(struct devfn_alloc *a, unsigned first_auto_slot)
{
	memset(a, 0, sizeof(*a));
	a->first_auto_slot = first_auto_slot;
}

int devfn_claim(struct devfn_alloc *a, uint8_t devfn, bool multifunction, const char *owner,
		char *err, size_t errlen)
{
	unsigned slot = devfn >> 3, fn = devfn & 7;

	if (a->owner[devfn])
		return fail(err, errlen, "%s: PCI slot %02x.%u is already in use by %s", owner, slot,
			    fn, a->owner[devfn]);
	if (fn == 0) {
		for (unsigned f = 1; f < 8 && !multifunction; f++)
			if (a->owner[devfn + f])
				return fail(err, errlen, "%s: PCI slot %02x has function %u (%s): "
					    "function 0 needs multifunction=on", owner, slot, f,
					    a->owner[devfn + f]);
		a->multifunction[slot] = multifunction;
	} else if (a->owner[devfn - fn] && !a->multifunction[slot]) {
		return fail(err, errlen, "%s: PCI slot %02x.%u: function 0 (%s) is not "
			    "multifunction=on", owner, slot, fn, a->owner[devfn - fn]);
	}
	a->owner[devfn] = owner;
	return 0;
}

int devfn_claim_free(struct devfn_alloc *a, const char *owner, char *err, size_t errlen)
{
	for (unsigned slot = a->first_auto_slot; slot < 32; slot++) {
		bool empty = true;
		for (unsigned f = 0; f < 8; f++)
			empty &= !a->owner[PCI_DEVFN(slot, f)];
		if (empty) {
			a->owner[PCI_DEVFN(slot, 0)] = owner;
			return PCI_DEVFN(slot, 0);
		}
	}
	return fail(err, errlen, "%s: no free PCI slot left", owner);
}

static bool has_explicit_addr(const struct dev_instance *d)
{
	return d->val[dev_class_prop_index(d->cls, "addr")].set;
}

/* A placement error names the option the device came from. */
static int from_option(const struct dev_instance *d, char *err, size_t errlen)
{
	char why[256];
	if (d->from_board)
		return -1;
	snprintf(why, sizeof(why), "%s", err);
	return fail(err, errlen, "-device %s", why);
}

int dev_place_pci(struct devfn_alloc *a, struct dev_instance *devs, unsigned n, char *err,
		  size_t errlen)
{
	unsigned max_rank = 0;

	for (unsigned i = 0; i < n; i++) {
		struct dev_instance *d = &devs[i];
		if (d->cls->bus != DEV_BUS_PCI)
			continue;
		max_rank = MAX(max_rank, d->cls->place_rank);
		if (!has_explicit_addr(d))
			continue;
		uint8_t devfn = (uint8_t)dev_get_uint(d, "addr");
		if (devfn_claim(a, devfn, dev_get_bool(d, "multifunction"), d->cls->name, err,
				errlen) < 0)
			return from_option(d, err, errlen);
		d->devfn = devfn;
	}
	/* Then the rest, rank by rank, and the default NIC last of all. */
	for (unsigned pass = 0; pass <= max_rank + 1; pass++) {
		for (unsigned i = 0; i < n; i++) {
			struct dev_instance *d = &devs[i];
			unsigned rank = d->place_last ? max_rank + 1 : d->cls->place_rank;
			if (d->cls->bus != DEV_BUS_PCI || d->devfn >= 0 || rank != pass)
				continue;
			int devfn = devfn_claim_free(a, d->cls->name, err, errlen);
			if (devfn < 0)
				return from_option(d, err, errlen);
			a->multifunction[devfn >> 3] = dev_get_bool(d, "multifunction");
			d->devfn = devfn;
		}
	}
	return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

int dev_create_all(struct dev_instance *devs, unsigned n, struct dev_board *b, char *err,
		   size_t errlen)
{
	for (unsigned i = 0; i < n; i++) {
		struct dev_instance *d = &devs[i];
		if (d->cls->ops.create && d->cls->ops.create(d, b, err, errlen) < 0)
			return -1;
		/* The header bit is the generic part of multifunction=on. */
		if (d->cls->bus == DEV_BUS_PCI && d->devfn >= 0 && b->pci->dev[d->devfn] &&
		    dev_get_bool(d, "multifunction")) {
			struct pci_device *p = b->pci->dev[d->devfn];
			p->config[PCI_HEADER_TYPE] |= PCI_HEADER_MULTIFUNCTION;
			p->config_at_reset[PCI_HEADER_TYPE] |= PCI_HEADER_MULTIFUNCTION;
		}
	}
	return 0;
}

void dev_reset_all(struct dev_instance *devs, unsigned n, struct pci_bus *pci)
{
	for (unsigned i = 0; i < n; i++) {
		struct dev_instance *d = &devs[i];
		if (d->cls->bus == DEV_BUS_PCI && d->devfn >= 0 && pci && pci->dev[d->devfn])
			pci_device_reset(pci->dev[d->devfn]);
		if (d->cls->ops.reset)
			d->cls->ops.reset(d);
	}
}

void dev_quiesce_all(struct dev_instance *devs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (devs[i].cls->ops.quiesce)
			devs[i].cls->ops.quiesce(&devs[i]);
}

void dev_resume_all(struct dev_instance *devs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (devs[i].cls->ops.resume)
			devs[i].cls->ops.resume(&devs[i]);
}

void dev_log_dirty_all(struct dev_instance *devs, unsigned n, bool on)
{
	for (unsigned i = 0; i < n; i++)
		if (devs[i].cls->ops.log_dirty)
			devs[i].cls->ops.log_dirty(&devs[i], on);
}

void dev_destroy_all(struct dev_instance *devs, unsigned n)
{
	for (unsigned i = n; i-- > 0;) {
		if (devs[i].cls->ops.destroy && devs[i].state)
			devs[i].cls->ops.destroy(&devs[i]);
		devs[i].state = NULL;
	}
}

uint32_t dev_state_instance(const struct dev_instance *devs, const struct dev_instance *d)
{
	uint32_t n = 0;
	for (const struct dev_instance *i = devs; i < d; i++)
		n += i->cls == d->cls;
	return n;
}

void dev_save_all(struct dev_instance *devs, unsigned n, struct ss_writer *w)
{
	for (unsigned i = 0; i < n; i++)
		if (devs[i].cls->ops.save && devs[i].state)
			devs[i].cls->ops.save(&devs[i], w, dev_state_instance(devs, &devs[i]));
}

int dev_load_all(struct dev_instance *devs, unsigned n, struct ss_reader *r)
{
	for (unsigned i = 0; i < n; i++)
		if (devs[i].cls->ops.load && devs[i].state &&
		    !devs[i].cls->ops.load(&devs[i], r, dev_state_instance(devs, &devs[i])))
			return -1;
	return 0;
}

struct dev_instance *dev_find(struct dev_instance *devs, unsigned n, const struct dev_class *c)
{
	for (unsigned i = 0; i < n; i++)
		if (devs[i].cls == c && devs[i].state)
			return &devs[i];
	return NULL;
}
