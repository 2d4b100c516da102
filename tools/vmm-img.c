// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmm-img: disk image tool with qemu-img's syntax and output, on vmm's
 * block layer (src/block/block.c, src/block/qcow2.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "qcow.h"
#include "ordered_pool.h"
#include "qcow2.h"
#include "vdi.h"
#include "vmdk.h"
#include "vpc.h"
#include "util.h"
#include "vmctl.h"

#define CHUNK (2 * MiB)

static bool quiet;

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "vmm-img: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A bad option of command 'cmd' (getopt with opterr = 0 and a ':' first
 * in every option string): one line and status 1, as qemu-img, before the
 * command touches anything. */

static void opt_error(const char *cmd, int ch, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	bool is_long = !strncmp(arg, "--", 2);
	fprintf(stderr, "vmm-img %s: ", cmd);
	if (ch == ':' && is_long)
		fprintf(stderr, "option '%s' requires an argument\n", arg);
	else if (ch == ':')
		fprintf(stderr, "option requires an argument -- '%c'\n", optopt);
	else if (!optopt) /* getopt_long: an unknown --name */
		fprintf(stderr, "unrecognized option '%s'\n", arg);
	else
		fprintf(stderr, "invalid option -- '%c'\n", optopt);
	exit(1);
}

/* ---- --object and --image-opts ------------------------------------------- */

/* Long options several commands share (qemu-img's): --object, --image-opts
 * and convert's --target-image-opts. */
enum { OPT_OBJECT = 0x2000, OPT_IMAGE_OPTS, OPT_TARGET_IMAGE_OPTS };
#define LONG_OBJECT { "object", required_argument, NULL, OPT_OBJECT }
#define LONG_IMAGE_OPTS { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS }
static const struct option object_image_opts[] = { LONG_OBJECT, LONG_IMAGE_OPTS,
						   { NULL, 0, NULL, 0 } };
static const struct option object_only[] = { LONG_OBJECT, { NULL, 0, NULL, 0 } };

static bool image_opts, target_image_opts;

/* One key=value of an option string (QEMU's syntax: ',' separates, ',,'
 * is a comma inside a value; a first element without '=' is the value of
 * 'implied'). */
struct kv {
	char *key, *val;
};
#define MAX_KV 32

/* Splits 's' into kv[] (strings freed never: the process is short);
 * returns the count, or -1 with the element that is too many. */
static int kv_split(const char *s, const char *implied, struct kv *kv)
{
	int n = 0;
	for (const char *p = s; *p || (p == s && !*s);) {
		if (n == MAX_KV)
			return -1;
		char *buf = xzalloc(strlen(p) + 1), *o = buf;
		const char *eq = NULL;
		for (; *p; p++) {
			if (*p == ',' && p[1] == ',' && (eq || (n == 0 && implied))) {
				*o++ = ',';
				p++;
			} else if (*p == ',') {
				break;
			} else {
				if (*p == '=' && !eq)
					eq = p, *o++ = 0;
				else
					*o++ = *p;
			}
		}
		if (eq) {
			kv[n].key = buf;
			kv[n].val = buf + strlen(buf) + 1;
		} else if (n == 0 && implied) {
			kv[n].key = xstrdup(implied);
			kv[n].val = buf;
		} else {
			kv[n].key = buf; /* a bare flag: on */
			kv[n].val = NULL;
		}
		n++;
		if (*p == ',')
			p++;
		else
			break;
	}
	return n;
}

static const char *kv_get(const struct kv *kv, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].val ? kv[i].val : "on";
	return NULL;
}

/* The status --object and --image-opts errors exit with: 1, but 2 in
 * compare (whose 1 means "different"), as qemu-img. */
static int spec_status = 1;

static void ofail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void ofail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "vmm-img: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(spec_status);
}

/* The ids of the secrets --object defined (only secrets mean anything to
 * vmm-img: it has no encryption, so they are checked and kept, unused). */
static char *secret_ids[64];
static unsigned nsecrets;

static bool secret_defined(const char *id)
{
	for (unsigned i = 0; i < nsecrets; i++)
		if (!strcmp(secret_ids[i], id))
			return true;
	return false;
}

static bool is_identifier(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-._", *s)))
			return false;
	return true;
}

/* --object TYPE,id=ID,...: a secret (data= or file=, format=raw|base64)
 * with qemu-img's checks and messages; an encrypted secret (keyid=, iv=:
 * vmm-img has no AES) and QEMU's other object types qemu-img takes are
 * refused in one line. */
static void object_add(const char *spec)
{
	/* what qemu-img 10 lists; iothread and memory backends it refuses */
	static const char *const qemu_img_types[] = {
		"authz-list", "authz-list-file", "authz-simple", "main-loop",
		"pr-manager-helper", "secret_keyring", "thread-context", "throttle-group",
		"tls-creds-anon", "tls-creds-psk", "tls-creds-x509", "tls-cipher-suites",
	};
	static const char *const vm_types[] = {
		"iothread", "memory-backend-ram", "memory-backend-file", "memory-backend-memfd",
		"rng-random", "rng-builtin", "rng-egd", "filter-buffer", "filter-dump",
		"filter-mirror", "filter-redirector", "filter-rewriter", "colo-compare",
		"cryptodev-backend-builtin", "input-linux", "can-bus",
	};
	struct kv kv[MAX_KV];
	if (!strcmp(spec, "help")) {
		printf("List of user creatable objects:\n  secret\n");
		exit(0);
	}
	int n = kv_split(spec, "qom-type", kv);
	if (n < 0)
		ofail("Too many parameters in '%s'", spec);
	const char *type = kv_get(kv, n, "qom-type");
	if (!type || !*type)
		ofail("Parameter 'qom-type' is missing");
	for (int i = 0; i < n; i++)
		if (!*kv[i].key)
			ofail("Invalid parameter ''");
	if (strcmp(type, "secret")) {
		for (size_t i = 0; i < ARRAY_SIZE(qemu_img_types); i++)
			if (!strcmp(type, qemu_img_types[i]))
				ofail("object type '%s' is not supported by vmm-img (only secret)", type);
		for (size_t i = 0; i < ARRAY_SIZE(vm_types); i++)
			if (!strcmp(type, vm_types[i]))
				ofail("invalid object type: %s", type);
		ofail("Parameter 'qom-type' does not accept value '%s'", type);
	}
	if (kv_get(kv, n, "help")) {
		printf("secret options:\n  data=<string>\n  file=<string>\n"
		       "  format=<QCryptoSecretFormat>\n  iv=<string>\n  keyid=<string>\n");
		exit(0);
	}
	const char *id = kv_get(kv, n, "id");
	if (!id)
		ofail("Parameter 'id' is missing");
	if (!is_identifier(id))
		ofail("Parameter 'id' expects an identifier (letters, digits, '-', '.', '_', "
		     "starting with a letter)");
	static const char *const keys[] = { "qom-type", "id", "data", "file", "format", "keyid",
					    "iv" };
	for (int i = 0; i < n; i++) {
		bool known = false;
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			known |= !strcmp(kv[i].key, keys[k]);
		if (!known)
			ofail("Parameter '%s' is unexpected", kv[i].key);
	}
	const char *format = kv_get(kv, n, "format"), *data = kv_get(kv, n, "data");
	const char *file = kv_get(kv, n, "file"), *keyid = kv_get(kv, n, "keyid");
	if (format && strcmp(format, "raw") && strcmp(format, "base64"))
		ofail("Parameter 'format' does not accept value '%s'", format);
	if (data && file)
		ofail("'file' and 'data' are mutually exclusive");
	if (!data && !file)
		ofail("Either 'file' or 'data' must be provided");
	if (file) {
		FILE *f = fopen(file, "r");
		if (!f)
			ofail("Unable to read %s: Failed to open file \u201c%s\u201d: %s", file, file,
			     strerror(errno));
		fclose(f);
	}
	if (keyid && !secret_defined(keyid))
		ofail("No secret with id '%s'", keyid);
	if (keyid)
		ofail("secret '%s': encrypted secrets (keyid=) are not supported by vmm-img", id);
	if (secret_defined(id))
		ofail("attempt to add duplicate property '%s' to object (type 'container')", id);
	if (nsecrets == ARRAY_SIZE(secret_ids))
		ofail("Too many objects");
	secret_ids[nsecrets++] = xstrdup(id);
}

/* What an --image-opts string says beyond the file and its format, for
 * open_img. */
struct image_spec {
	const char *spec, *filename, *fmt;
	int read_only;   /* -1: not given */
	bool force_share;
	bool protocol;   /* driver=file: the file itself, info calls it "file" */
	int cache;       /* -1: the command's own */
};
static struct image_spec image_specs[16];
static unsigned nimage_specs;

static void spec_fail(const char *spec, const char *fmt, ...) __attribute__((noreturn,
									   format(printf, 2, 3)));
static void spec_fail(const char *spec, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "vmm-img: Could not open '%s': ", spec);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(spec_status);
}

static int spec_bool(const char *spec, const char *key, const char *v)
{
	/* QEMU's spellings of a boolean option */
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "y"))
		return 1;
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "n"))
		return 0;
	spec_fail(spec, "Parameter '%s' expects 'on' or 'off'", key);
}

/* An --image-opts argument: driver=FMT,file.filename=PATH (file.driver=
 * file), or driver=file,filename=PATH (the file as raw), with read-only,
 * force-share, cache.direct, cache.no-flush and encrypt.key-secret (a
 * defined secret; vmm-img has no encryption). Anything else is one line,
 * status 1, before anything is opened. Returns the file name; open_img
 * applies the rest. */
static const char *image_spec(const char *spec)
{
	static const char *const formats[] = { "raw", "qcow2", "qcow", "vmdk", "vdi", "vpc",
					       "vhdx", "qed", "file" };
	struct kv kv[MAX_KV];
	struct image_spec x = { .spec = spec, .read_only = -1, .cache = -1 };
	int n = kv_split(spec, "file", kv), direct = -1, no_flush = -1;
	const char *driver = n > 0 ? kv_get(kv, n, "driver") : NULL;
	const char *fileref = n > 0 ? kv_get(kv, n, "file") : NULL;

	if (n < 0)
		spec_fail(spec, "too many options");
	if (nimage_specs == ARRAY_SIZE(image_specs))
		spec_fail(spec, "too many images");
	if (driver) {
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
			known |= !strcmp(driver, formats[i]);
		if (!known)
			spec_fail(spec, "Unknown driver '%s'", driver);
	}
	if (fileref)
		spec_fail(spec, "Cannot find device='%s' nor node-name='%s'", fileref, fileref);
	bool protocol = driver && !strcmp(driver, "file");
	for (int i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].val ? kv[i].val : "on";
		if (!strcmp(k, "driver")) {
		} else if (protocol && !strcmp(k, "filename")) {
			x.filename = v;
		} else if (!protocol && !strcmp(k, "file.filename")) {
			x.filename = v;
		} else if (!protocol && !strcmp(k, "file.driver")) {
			if (strcmp(v, "file") && strcmp(v, "host_device"))
				spec_fail(spec, "protocol driver '%s' is not supported by vmm-img (only "
					  "file)", v);
		} else if (!protocol && !strncmp(k, "file.", 5)) {
			spec_fail(spec, "Block protocol 'file' doesn't support the option '%s'", k + 5);
		} else if (!strcmp(k, "read-only")) {
			x.read_only = spec_bool(spec, k, v);
		} else if (!strcmp(k, "force-share")) {
			x.force_share = spec_bool(spec, k, v);
		} else if (!strcmp(k, "cache.direct")) {
			direct = spec_bool(spec, k, v);
		} else if (!strcmp(k, "cache.no-flush")) {
			no_flush = spec_bool(spec, k, v);
		} else if (!protocol && !strcmp(k, "encrypt.key-secret")) {
			if (!secret_defined(v))
				spec_fail(spec, "No secret with id '%s'", v);
		} else {
			spec_fail(spec, "Block %s '%s' does not support the option '%s'",
				  protocol ? "protocol" : "format", driver ? driver : "(probed)", k);
		}
	}
	if (!x.filename)
		spec_fail(spec, protocol ? "The 'file' block driver requires a file name"
					 : "A block device must be specified for \"file\"");
	if (x.force_share && x.read_only == 0)
		spec_fail(spec, "force-share=on can only be used with read-only images");
	if (direct == 1)
		x.cache = BLOCK_CACHE_NONE;
	else if (no_flush == 1)
		x.cache = BLOCK_CACHE_UNSAFE;
	else if (direct == 0 || no_flush == 0)
		x.cache = BLOCK_CACHE_WRITEBACK;
	x.fmt = !driver ? NULL : protocol ? "raw" : driver;
	x.protocol = protocol;
	image_specs[nimage_specs++] = x;
	return x.filename;
}

/* The image arguments argv[from, to) of a command under --image-opts
 * (or target_image_opts' target): each becomes its file name, its format
 * and options kept for open_img. A -f (fmt) with them is qemu-img's
 * error. */
static void image_opts_args(char **argv, int from, int to, const char *fmt)
{
	if (fmt)
		ofail("--image-opts and --format are mutually exclusive");
	for (int i = from; i < to; i++)
		argv[i] = (char *)image_spec(argv[i]);
}

static const struct image_spec *spec_of(const char *path)
{
	for (unsigned i = 0; i < nimage_specs; i++)
		if (image_specs[i].filename == path || !strcmp(image_specs[i].filename, path))
			return &image_specs[i];
	return NULL;
}

/* A command's bad option, or one of the shared long options. */
static void common_opt(const char *cmd, int ch, char **argv)
{
	switch (ch) {
	case OPT_OBJECT: object_add(optarg); break;
	case OPT_IMAGE_OPTS: image_opts = true; break;
	case OPT_TARGET_IMAGE_OPTS: target_image_opts = true; break;
	default: opt_error(cmd, ch, argv);
	}
}

/* -U / --force-share: read-only opens share every permission, so an
 * image a running vmm or QEMU writes can be read (qemu-img's meaning;
 * writable opens keep their locks). */
static bool share_reads;

/* 'o' with force_share added for a read-only open under -U. */
static const struct block_opts *share_opts(const struct block_opts *o, bool ro,
					   struct block_opts *tmp)
{
	if (!ro || !share_reads)
		return o;
	*tmp = o ? *o : (struct block_opts){ 0 };
	tmp->force_share = true;
	return tmp;
}

/* The status a failed open_img exits with (compare: 2, as qemu-img). */
static int compare_open_status = 1;

static struct block_dev *open_img(const char *path, const char *fmt, bool ro,
				  const struct block_opts *o)
{
	char err[512];
	struct block_opts tmp, with_spec;
	const struct image_spec *x = spec_of(path);
	const char *shown = path;
	if (x) {
		/* --image-opts: its driver, read-only, force-share and cache */
		shown = x->spec;
		fmt = x->fmt;
		/* the file layer's own failure, nested as qemu-img nests it */
		if (access(path, F_OK) < 0)
			spec_fail(x->spec, "Could not open '%s': %s", path, strerror(errno));
		if (x->read_only == 1 && !ro)
			spec_fail(x->spec, "Block node is read-only");
		if (x->force_share && !ro)
			spec_fail(x->spec, "force-share=on can only be used with read-only images");
		with_spec = o ? *o : (struct block_opts){ 0 };
		with_spec.force_share |= x->force_share;
		if (x->cache >= 0)
			with_spec.cache = (enum block_cache)x->cache;
		o = &with_spec;
	}
	struct block_dev *bd = block_open(path, fmt, ro, share_opts(o, ro, &tmp), err, sizeof(err));
	if (!bd) {
		fprintf(stderr, "vmm-img: Could not open '%s': %s\n", shown, err);
		exit(compare_open_status);
	}
	return bd;
}

static uint64_t parse_sz(const char *s)
{
	uint64_t v, unit = 1;
	size_t n = strlen(s);
	char num[64];
	/* P and E are qemu-img's too; parse_size stops at T */
	if (n && n < sizeof(num) && strchr("PpEe", s[n - 1])) {
		unit = strchr("Pp", s[n - 1]) ? 1ULL << 50 : 1ULL << 60;
		memcpy(num, s, n - 1);
		num[n - 1] = 0;
		s = num;
	}
	/* qemu-img: a bare number is bytes */
	if (!parse_size(s, 1, &v) || v > UINT64_MAX / unit)
		fail("Invalid image size specified. You may use k, M, G, T, P or E suffixes for");
	return v * unit;
}

static void size_str(char *buf, size_t len, uint64_t v)
{
	static const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned i = 0;
	double d = (double)v;
	while (i + 1 < ARRAY_SIZE(u) && d >= 1024) {
		d /= 1024;
		i++;
	}
	if (d >= 999.5 && i + 1 < ARRAY_SIZE(u)) {
		d /= 1024;
		i++;
	}
	snprintf(buf, len, "%0.3g %s", d, u[i]);
}

/* A buffer that requests are read into and written from. Page-aligned:
 * malloc's large blocks start 16 bytes into a page, and the kernel's copy
 * to and from the page cache (rep movsb) ran ~3x slower into such a
 * destination (perf: _copy_to_iter at 47 % of convert's CPU against
 * qemu-img's 15 %); O_DIRECT (-t none) needs the alignment anyway, or
 * every request goes through a bounce buffer. */
static void *io_buf(size_t n)
{
	void *p;
	return posix_memalign(&p, 4096, n ? n : 1) ? NULL : p;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		if (q[i / 8])
			return false;
	for (; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* -o key=value,... for create/convert */
struct create_opts {
	uint32_t cluster_size;
	int version;
	unsigned refcount_bits;
	const char *backing_file, *backing_fmt;
	const char *subformat; /* vmdk; vpc: dynamic or fixed */
	bool is_static;        /* vdi static=on */
	bool force_size;       /* vpc force_size=on */
	const char *prealloc;  /* preallocation= other than off */
	bool prealloc_full;    /* falloc or full */
	const char *prealloc_opt; /* preallocation= as given (create, convert) */
};

/* create and convert check preallocation= once the format is known
 * (qemu-img's wording depends on it); measure refuses a bad one at once. */
static bool prealloc_deferred;

static void parse_o(char *s, struct create_opts *c)
{
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');
		if (!eq)
			fail("Invalid option '%s'", tok);
		*eq = 0;
		const char *v = eq + 1;
		if (!strcmp(tok, "cluster_size")) {
			c->cluster_size = (uint32_t)parse_sz(v);
		} else if (!strcmp(tok, "compat")) {
			if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
				c->version = 2;
			else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
				c->version = 3;
			else
				fail("Invalid compat version number '%s'", v);
		} else if (!strcmp(tok, "refcount_bits")) {
			c->refcount_bits = (unsigned)strtoul(v, NULL, 0);
		} else if (!strcmp(tok, "backing_file")) {
			c->backing_file = v;
		} else if (!strcmp(tok, "backing_fmt")) {
			c->backing_fmt = v;
		} else if (!strcmp(tok, "subformat")) {
			if (strcmp(v, "monolithicSparse") && strcmp(v, "monolithicFlat") &&
			    strcmp(v, "dynamic") && strcmp(v, "fixed"))
				fail("subformat '%s' is not supported (vmdk: monolithicSparse, "
				     "monolithicFlat; vpc: dynamic, fixed)", v);
			c->subformat = v;
		} else if (!strcmp(tok, "static") || !strcmp(tok, "force_size")) {
			bool on;
			if (parse_on_off(v, &on) < 0)
				fail("Parameter '%s' expects 'on' or 'off'", tok);
			*(!strcmp(tok, "static") ? &c->is_static : &c->force_size) = on;
		} else if (!strcmp(tok, "adapter_type")) {
			if (strcmp(v, "ide"))
				fail("adapter_type=%s is not supported (ide)", v);
		} else if (!strcmp(tok, "preallocation")) {
			c->prealloc_opt = v;
			if (strcmp(v, "off") && strcmp(v, "metadata") && strcmp(v, "falloc") &&
			    strcmp(v, "full")) {
				if (prealloc_deferred)
					continue;
				fail("Parameter 'preallocation' does not accept value '%s'", v);
			}
			c->prealloc = strcmp(v, "off") ? v : NULL;
			c->prealloc_full = !strcmp(v, "falloc") || !strcmp(v, "full");
		} else if (!strcmp(tok, "lazy_refcounts") || !strcmp(tok, "compression_type")) {
			if (strcmp(v, "off") && strcmp(v, "false") && strcmp(v, "zlib"))
				fail("%s=%s is not supported", tok, v);
		} else {
			fail("Invalid parameter '%s'", tok);
		}
	}
}

/* dd and convert word a failed create as qemu-img's do */
static bool create_for_dd, create_for_convert;

static void create_failed(const char *path, const char *reason) __attribute__((noreturn));
static void create_failed(const char *path, const char *reason)
{
	if (create_for_dd)
		fail("%s: error while creating output image: Could not create '%s': %s", path,
		     path, reason);
	fail("%s: %s", path, reason);
}

/* Creating over an image that a running vmm or QEMU uses would pull it
 * from under the guest: an existing file is locked as a writer first
 * (QEMU's locks), and the creation refused with qemu-img's wording if
 * another process uses it. Returns the fd holding the locks (or -1). */
static int lock_existing(const char *path, const char *fmt)
{
	char err[512];
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (image_lock(fd, path, true, true, false, err, sizeof(err)) < 0) {
		close(fd);
		if (create_for_dd)
			fail("%s: error while creating output image: %s", path, err);
		if (create_for_convert)
			fail("%s: error while converting %s: %s", path, fmt, err);
		fail("%s: %s", path, err);
	}
	return fd;
}

static void create_image_locked(const char *path, const char *fmt, uint64_t size,
				const struct create_opts *c);

static void create_image(const char *path, const char *fmt, uint64_t size,
			 const struct create_opts *c)
{
	int fd = lock_existing(path, fmt);
	create_image_locked(path, fmt, size, c);
	if (fd >= 0)
		close(fd);
}

/* preallocation= for 'fmt' (raw and qcow2 take off, falloc and full;
 * qcow2 also metadata): one line as qemu-img's, before anything is
 * written. */
static void prealloc_check(const char *path, const char *fmt, const struct create_opts *c)
{
	const char *v = c->prealloc_opt;
	const char *why = NULL;
	char buf[160];
	if (!v)
		return;
	if (strcmp(v, "off") && strcmp(v, "metadata") && strcmp(v, "falloc") && strcmp(v, "full")) {
		snprintf(buf, sizeof(buf), !strcmp(fmt, "qcow2")
			 ? "Parameter 'preallocation' does not accept value '%s'"
			 : "invalid parameter value: %s", v);
		why = buf;
	} else if (!strcmp(v, "metadata") && strcmp(fmt, "qcow2")) {
		why = "Unsupported preallocation mode: metadata";
	} else if (strcmp(v, "off") && strcmp(fmt, "qcow2") && strcmp(fmt, "raw")) {
		snprintf(buf, sizeof(buf), "preallocation=%s is not supported for '%s' here", v, fmt);
		why = buf;
	}
	if (why && create_for_convert)
		fail("%s: error while converting %s: %s", path, fmt, why);
	if (why)
		fail("%s: %s", path, why);
}

/* preallocation=falloc or full of a new raw file of 'size' bytes. */
static int raw_preallocate(int fd, uint64_t size, bool full)
{
	if (!full)
		return -posix_fallocate(fd, 0, (off_t)size);
	uint8_t *z = xzalloc(CHUNK);
	int ret = 0;
	for (uint64_t off = 0; off < size && !ret; off += MIN(CHUNK, size - off))
		ret = fd_pwrite_full(fd, z, MIN(CHUNK, size - off), off);
	free(z);
	return ret;
}

static enum qcow2_prealloc qcow2_prealloc_mode(const char *v)
{
	return !v || !strcmp(v, "off") ? QCOW2_PREALLOC_OFF :
	       !strcmp(v, "metadata") ? QCOW2_PREALLOC_METADATA :
	       !strcmp(v, "falloc") ? QCOW2_PREALLOC_FALLOC : QCOW2_PREALLOC_FULL;
}

static void create_image_locked(const char *path, const char *fmt, uint64_t size,
				const struct create_opts *c)
{
	char err[512];
	prealloc_check(path, fmt, c);
	bool vmdk_sub = c->subformat && !strncmp(c->subformat, "monolithic", 10);
	if (c->subformat && strcmp(fmt, vmdk_sub ? "vmdk" : "vpc"))
		fail("Invalid parameter 'subformat'");
	if (c->is_static && strcmp(fmt, "vdi"))
		fail("Invalid parameter 'static'");
	if (c->force_size && strcmp(fmt, "vpc"))
		fail("Invalid parameter 'force_size'");
	if (c->backing_file && (!strcmp(fmt, "vdi") || !strcmp(fmt, "vpc")))
		fail("Backing file not supported for file format '%s'", fmt);
	if (!strcmp(fmt, "raw")) {
		if (c->backing_file)
			fail("Backing file not supported for file format 'raw'");
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
			create_failed(path, strerror(errno));
		int ret = c->prealloc ? raw_preallocate(fd, size, !strcmp(c->prealloc, "full")) : 0;
		if (ret < 0)
			create_failed(path, strerror(-ret));
		close(fd);
	} else if (!strcmp(fmt, "qcow2")) {
		struct qcow2_create_opts o = {
			.size = size, .cluster_size = c->cluster_size, .version = c->version,
			.refcount_bits = c->refcount_bits, .backing_file = c->backing_file,
			.backing_fmt = c->backing_fmt, .prealloc = qcow2_prealloc_mode(c->prealloc),
		};
		if (qcow2_create(path, &o, err, sizeof(err)) < 0)
			create_failed(path, err);
	} else if (!strcmp(fmt, "qcow")) {
		if (c->cluster_size || c->version || c->refcount_bits)
			fail("Invalid parameter '%s'", c->cluster_size ? "cluster_size" :
			     c->version ? "compat" : "refcount_bits");
		if (qcow_create(path, size, c->backing_file, err, sizeof(err)) < 0)
			create_failed(path, err);
	} else if (!strcmp(fmt, "vdi")) {
		if (vdi_create(path, size, c->is_static, err, sizeof(err)) < 0)
			create_failed(path, err);
	} else if (!strcmp(fmt, "vpc")) {
		bool fixed = c->subformat && !strcmp(c->subformat, "fixed");
		if (vpc_create(path, size, fixed, c->force_size, err, sizeof(err)) < 0)
			create_failed(path, err);
	} else if (!strcmp(fmt, "vmdk")) {
		if (c->backing_file)
			fail("Backing files are not supported for file format 'vmdk' here");
		enum vmdk_subformat sub = c->subformat && !strcmp(c->subformat, "monolithicFlat")
						  ? VMDK_MONOLITHIC_FLAT : VMDK_MONOLITHIC_SPARSE;
		if (vmdk_create(path, size, sub, err, sizeof(err)) < 0)
			create_failed(path, err);
	} else {
		fail("Unknown file format '%s'", fmt);
	}
}

/* The formats create_image() makes. */
static bool creatable(const char *fmt)
{
	static const char *const fmts[] = { "raw", "qcow2", "qcow", "vmdk", "vdi", "vpc" };
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++)
		if (!strcmp(fmt, fmts[i]))
			return true;
	return false;
}

/* The backing file that 'image' records, as the block layer would open
 * it: an untrusted image (its format probed, or below a probed one) may
 * only name files beneath its directory (see block_open). */
static struct block_dev *open_backing_of(const char *image, bool trusted,
					 const struct qcow2_info *qi, bool ro,
					 const struct block_opts *o)
{
	char err[512];
	const char *bfmt = qi->backing_fmt[0] ? qi->backing_fmt : NULL;
	struct block_opts tmp;
	struct block_dev *bd = block_open_backing(image, qi->backing_file, bfmt, ro,
						  share_opts(o, ro, &tmp), !trusted,
						  !trusted, 0, err, sizeof(err));
	if (!bd) {
		char *p = block_path_beside(image, qi->backing_file);
		fail("Could not open '%s': %s", p, err);
	}
	return bd;
}

static const char *backing_format_of(const char *image, const char *name, const char *fmt)
{
	if (fmt)
		return fmt;
	char *p = block_path_beside(image, name);
	struct block_dev *b = open_img(p, NULL, true, NULL);
	const char *f = b->format;
	block_close(b);
	free(p);
	return f;
}

/* ---- create ------------------------------------------------------------- */

static void usage(FILE *f);

static int cmd_create(int argc, char **argv)
{
	const char *fmt = "raw";
	struct create_opts c = { 0 };
	int ch;

	prealloc_deferred = true;
	while ((ch = getopt_long(argc, argv, ":f:b:F:o:qu", object_only, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'b': c.backing_file = optarg; break;
		case 'F': c.backing_fmt = optarg; break;
		case 'o': parse_o(optarg, &c); break;
		case 'q': quiet = true; break;
		case 'u': break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (optind >= argc)
		fail("Expecting image file name");
	const char *path = argv[optind];
	uint64_t size = 0;
	if (optind + 1 < argc) {
		size = parse_sz(argv[optind + 1]);
	} else if (c.backing_file) {
		char *p = block_path_beside(path, c.backing_file);
		struct block_dev *b = open_img(p, c.backing_fmt, true, NULL);
		size = b->size;
		if (!c.backing_fmt)
			c.backing_fmt = b->format;
		block_close(b);
		free(p);
	} else {
		fail("Image creation needs a size parameter");
	}
	if (c.backing_file && !c.backing_fmt)
		c.backing_fmt = backing_format_of(path, c.backing_file, NULL);
	if (!creatable(fmt))
		fail("Unknown file format '%s'", fmt);
	if (!size && !strcmp(fmt, "qcow"))
		fail("%s: Image size is too small, cannot be zero length", path);
	prealloc_check(path, fmt, &c);
	const char *pa = c.prealloc_opt ? " preallocation=" : "";
	const char *pv = c.prealloc_opt ? c.prealloc_opt : "";
	if (!quiet) {
		if (!strcmp(fmt, "qcow2"))
			printf("Formatting '%s', fmt=qcow2 cluster_size=%u extended_l2=off%s%s "
			       "compression_type=zlib size=%" PRIu64 "%s%s%s%s%s lazy_refcounts=off "
			       "refcount_bits=%u\n", path, c.cluster_size ? c.cluster_size : 65536,
			       pa, pv, size, !c.version ? "" : c.version == 2 ? " compat=0.10" :
			       " compat=1.1", c.backing_file ? " backing_file=" : "",
			       c.backing_file ? c.backing_file : "",
			       c.backing_fmt ? " backing_fmt=" : "", c.backing_fmt ? c.backing_fmt : "",
			       c.refcount_bits ? c.refcount_bits : 16);
		else if (!strcmp(fmt, "vdi"))
			printf("Formatting '%s', fmt=vdi size=%" PRIu64 " static=%s\n", path, size,
			       c.is_static ? "on" : "off");
		else
			printf("Formatting '%s', fmt=%s size=%" PRIu64 "%s%s%s%s%s%s%s%s%s%s\n", path,
			       fmt, size, c.backing_file ? " backing_file=" : "",
			       c.backing_file ? c.backing_file : "",
			       c.backing_fmt ? " backing_fmt=" : "", c.backing_fmt ? c.backing_fmt : "",
			       !strcmp(fmt, "vmdk") ? " compat6=off hwversion=undefined" : "",
			       c.subformat && (!strcmp(fmt, "vpc") || !strcmp(fmt, "vmdk")) ?
			       " subformat=" : "",
			       c.subformat && (!strcmp(fmt, "vpc") || !strcmp(fmt, "vmdk")) ?
			       c.subformat : "",
			       c.force_size ? " force_size=on" : "", pa, pv);
	}
	/* qemu-img prints the size asked for and creates whole sectors */
	create_image(path, fmt, size + (-size & 511), &c);
	return 0;
}

/* ---- info --------------------------------------------------------------- */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_snapshots_human(struct block_dev *bd)
{
	struct qcow2_snapshot_info *sn;
	int n = qcow2_snapshot_list(bd, &sn);
	if (n > 0) {
		printf("Snapshot list:\n");
		printf("%-9s %-17s %7s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK",
		       "ICOUNT");
		for (int i = 0; i < n; i++) {
			char sz[32], date[32];
			time_t t = sn[i].date_sec;
			struct tm tm;
			localtime_r(&t, &tm);
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
			size_str(sz, sizeof(sz), sn[i].vm_state_size);
			uint64_t ms = sn[i].vm_clock_nsec / 1000000;
			char clk[32];
			snprintf(clk, sizeof(clk), "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64,
				 ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
			char ic[24] = "";
			if (sn[i].icount != UINT64_MAX)
				snprintf(ic, sizeof(ic), "%" PRIu64, sn[i].icount);
			printf("%-9s %-17s %7s %s %s %10s\n", sn[i].id, sn[i].name, sz, date, clk,
			       ic);
		}
	}
	free(sn);
}

/* The persistent bitmaps of a qcow2 image, in qemu-img info's words
 * (its "Format specific information" and "format-specific" data). */
static void print_bitmaps(struct block_dev *bd, bool json)
{
	struct qcow2_bitmap_info *b;
	int n = qcow2_bitmap_list(bd, &b);
	if (n > 0 && json)
		printf("            \"bitmaps\": [\n");
	else if (n > 0)
		printf("    bitmaps:\n");
	for (int i = 0; i < n; i++) {
		const char *flags[2];
		int nf = 0;
		if (b[i].in_use)
			flags[nf++] = "in-use";
		if (b[i].autom)
			flags[nf++] = "auto";
		if (json) {
			printf("                {\n                    \"flags\": [\n");
			for (int f = 0; f < nf; f++)
				printf("                        \"%s\"%s\n", flags[f],
				       f + 1 < nf ? "," : "");
			printf("                    ],\n                    \"name\": ");
			json_str(b[i].name);
			printf(",\n                    \"granularity\": %" PRIu64 "\n"
			       "                }%s\n", b[i].granularity, i + 1 < n ? "," : "");
		} else {
			printf("        [%d]:\n            flags:\n", i);
			for (int f = 0; f < nf; f++)
				printf("                [%d]: %s\n", f, flags[f]);
			printf("            name: %s\n            granularity: %" PRIu64 "\n",
			       b[i].name, b[i].granularity);
		}
	}
	if (n > 0 && json)
		printf("            ],\n");
	free(b);
}

static void info_one(const char *path, struct block_dev *bd, bool json, bool last)
{
	struct stat st;
	struct qcow2_info qi;
	bool q = block_is_qcow2(bd);
	uint64_t actual = stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
	char sz[32], asz[32];
	/* --image-opts driver=file: qemu-img names the protocol layer */
	bool protocol = spec_of(path) && spec_of(path)->protocol;
	const char *format = protocol ? "file" : bd->format;

	if (q)
		qcow2_get_info(bd, &qi);
	if (json) {
		printf("{\n");
		if (q && qi.nb_snapshots) {
			struct qcow2_snapshot_info *sn;
			int n = qcow2_snapshot_list(bd, &sn);
			printf("    \"snapshots\": [\n");
			for (int i = 0; i < n; i++) {
				printf("        {\n");
				if (sn[i].icount != UINT64_MAX)
					printf("            \"icount\": %" PRIu64 ",\n", sn[i].icount);
				printf("            \"vm-clock-nsec\": %" PRIu64 ",\n",
				       sn[i].vm_clock_nsec % 1000000000);
				printf("            \"name\": ");
				json_str(sn[i].name);
				printf(",\n            \"date-sec\": %u,\n", sn[i].date_sec);
				printf("            \"date-nsec\": %u,\n", sn[i].date_nsec);
				printf("            \"vm-clock-sec\": %" PRIu64 ",\n",
				       sn[i].vm_clock_nsec / 1000000000);
				printf("            \"id\": ");
				json_str(sn[i].id);
				printf(",\n            \"vm-state-size\": %" PRIu64 "\n",
				       sn[i].vm_state_size);
				printf("        }%s\n", i + 1 < n ? "," : "");
			}
			printf("    ],\n");
			free(sn);
		}
		printf("    \"virtual-size\": %" PRIu64 ",\n", bd->size);
		printf("    \"filename\": ");
		json_str(path);
		printf(",\n");
		if (q)
			printf("    \"cluster-size\": %u,\n", qi.cluster_size);
		else if (bd->cluster_size)
			printf("    \"cluster-size\": %u,\n", bd->cluster_size);
		printf("    \"format\": \"%s\",\n", format);
		printf("    \"actual-size\": %" PRIu64 ",\n", actual);
		if (!q && qcow_backing_name(bd)) {
			char *full = block_path_beside(path, qcow_backing_name(bd));
			printf("    \"full-backing-filename\": ");
			json_str(full);
			printf(",\n    \"backing-filename\": ");
			json_str(qcow_backing_name(bd));
			printf(",\n");
			free(full);
		}
		if (q) {
			printf("    \"format-specific\": {\n        \"type\": \"qcow2\",\n"
			       "        \"data\": {\n            \"compat\": \"%s\",\n",
			       qi.version == 2 ? "0.10" : "1.1");
			if (qi.version == 3)
				printf("            \"compression-type\": \"zlib\",\n"
				       "            \"lazy-refcounts\": %s,\n",
				       qi.lazy_refcounts ? "true" : "false");
			print_bitmaps(bd, true);
			printf("            \"refcount-bits\": %u,\n", qi.refcount_bits);
			printf("            \"corrupt\": %s", qi.corrupt ? "true" : "false");
			if (qi.version == 3)
				printf(",\n            \"extended-l2\": false");
			printf("\n        }\n    },\n");
			if (qi.backing_file[0]) {
				char *full = block_path_beside(path, qi.backing_file);
				printf("    \"full-backing-filename\": ");
				json_str(full);
				printf(",\n    \"backing-filename\": ");
				json_str(qi.backing_file);
				printf(",\n");
				if (qi.backing_fmt[0])
					printf("    \"backing-filename-format\": \"%s\",\n",
					       qi.backing_fmt);
				free(full);
			}
			printf("    \"dirty-flag\": %s\n", qi.dirty ? "true" : "false");
		} else {
			if (protocol)
				printf("    \"format-specific\": {\n        \"type\": \"file\",\n"
				       "        \"data\": {\n        }\n    },\n");
			printf("    \"dirty-flag\": false\n");
		}
		printf("}%s\n", last ? "" : ",");
		return;
	}
	size_str(sz, sizeof(sz), bd->size);
	size_str(asz, sizeof(asz), actual);
	printf("image: %s\nfile format: %s\nvirtual size: %s (%" PRIu64 " bytes)\ndisk size: %s\n",
	       path, format, sz, bd->size, asz);
	if (!q) {
		if (bd->cluster_size)
			printf("cluster_size: %u\n", bd->cluster_size);
		if (qcow_backing_name(bd)) {
			char *full = block_path_beside(path, qcow_backing_name(bd));
			printf("backing file: %s", qcow_backing_name(bd));
			if (strcmp(full, qcow_backing_name(bd)))
				printf(" (actual path: %s)", full);
			printf("\n");
			free(full);
		}
		return;
	}
	printf("cluster_size: %u\n", qi.cluster_size);
	if (qi.backing_file[0]) {
		char *full = block_path_beside(path, qi.backing_file);
		printf("backing file: %s", qi.backing_file);
		if (strcmp(full, qi.backing_file))
			printf(" (actual path: %s)", full);
		printf("\n");
		if (qi.backing_fmt[0])
			printf("backing file format: %s\n", qi.backing_fmt);
		free(full);
	}
	print_snapshots_human(bd);
	printf("Format specific information:\n    compat: %s\n", qi.version == 2 ? "0.10" : "1.1");
	if (qi.version == 3)
		printf("    compression type: zlib\n    lazy refcounts: %s\n",
		       qi.lazy_refcounts ? "true" : "false");
	print_bitmaps(bd, false);
	printf("    refcount bits: %u\n    corrupt: %s\n", qi.refcount_bits,
	       qi.corrupt ? "true" : "false");
	if (qi.version == 3)
		printf("    extended l2: false\n");
}

static int cmd_info(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "backing-chain", no_argument, NULL, 'B' },
		{ "force-share", no_argument, NULL, 'U' },
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL;
	bool json = false, chain = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:U", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'O':
			if (!strcmp(optarg, "json"))
				json = true;
			else if (strcmp(optarg, "human"))
				fail("--output must be used with human or json as argument.");
			break;
		case 'B': chain = true; break;
		case 'U': share_reads = true; break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (optind >= argc)
		fail("Expecting one image file name");
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	struct block_opts o = { .no_backing = true };
	char *path = xstrdup(argv[optind]);
	unsigned depth = 0;
	if (json && chain)
		printf("[\n");
	/* Trusted while every format so far was given or recorded. */
	bool trusted = fmt != NULL;
	struct block_dev *bd = open_img(path, fmt, true, &o);
	for (;;) {
		struct qcow2_info qi = { 0 };
		if (block_is_qcow2(bd))
			qcow2_get_info(bd, &qi);
		else if (qcow_backing_name(bd)) /* qcow records no backing format */
			snprintf(qi.backing_file, sizeof(qi.backing_file), "%s",
				 qcow_backing_name(bd));
		bool more = chain && qi.backing_file[0] && depth < BLOCK_MAX_CHAIN;
		if (!json && depth)
			printf("\n");
		info_one(path, bd, json, !more);
		if (!more) {
			block_close(bd);
			break;
		}
		struct block_dev *next = open_backing_of(path, trusted, &qi, true, &o);
		trusted = trusted && qi.backing_fmt[0];
		block_close(bd);
		bd = next;
		free(path);
		path = xstrdup(bd->path);
		depth++;
	}
	if (json && chain)
		printf("]\n");
	free(path);
	return 0;
}

/* ---- convert ------------------------------------------------------------ */

/* A size as qemu-img's option values take it (k/M/G/T/P/E suffixes, a
 * bare number is bytes, 0x hex): 0, -1 on junk, -2 past INT64_MAX or
 * negative. */
static int parse_option_size(const char *s, uint64_t *out)
{
	uint64_t v, unit = 1;
	const char *end;
	size_t n = strlen(s);
	char num[64];
	if (*s == '-')
		return -2;
	if (!strncmp(s, "0x", 2) || !strncmp(s, "0X", 2)) {
		if (!(end = scan_uint(s, 0, &v)) || *end)
			return -1;
	} else {
		if (n && n < sizeof(num) && strchr("PpEe", s[n - 1])) {
			unit = strchr("Pp", s[n - 1]) ? 1ULL << 50 : 1ULL << 60;
			memcpy(num, s, n - 1);
			num[n - 1] = 0;
			s = num;
		}
		if (!parse_size(s, 1, &v))
			return -1;
		if (v > UINT64_MAX / unit)
			return -2;
		v *= unit;
	}
	if (v > INT64_MAX)
		return -2;
	*out = v;
	return 0;
}

/* -S: the sparse detection granularity, as qemu-img takes it (multiples
 * of 512 up to 16 MiB; 0 turns detection off). One line and status 1 on
 * a bad value. */
static uint64_t parse_sparse_size(const char *s)
{
	static const char what[] = "Invalid buffer size for sparse output specified";
	uint64_t v = 0;
	int r = parse_option_size(s, &v);
	if (r == -1)
		fail("%s: '%s'.", what, s);
	if (r == -2)
		fail("%s. Must be between 0 and %" PRId64 ".", what, INT64_MAX);
	if (v % 512 || v > 16 * MiB)
		fail("%s. Valid sizes are multiples of 512 up to 16777216. Select 0 to disable "
		     "sparse detection (fully allocates output).", what);
	return v;
}

/* -m: parallel requests, 1..16 as qemu-img's coroutines. */
static unsigned parse_parallel(const char *s)
{
	uint64_t v;
	const char *p = s + (*s == '-'), *end = scan_uint(p, 10, &v);
	if (!end || *end)
		fail("Invalid number of coroutines specified: '%s'.", s);
	if (*s == '-' || v < 1 || v > 16)
		fail("Invalid number of coroutines specified. Must be between 1 and 16.");
	return (unsigned)v;
}

/* One convert: the planner hands out requests (a run of one input, as
 * holes or as data to read) in output order; the pool's threads
 * (ordered_pool.h) each read one and, with -c, deflate its clusters,
 * then write it, in that order unless -W. The deflate runs outside the
 * write turn, on as many threads as there are CPUs (at most -m): the
 * clusters still land in the file in order, so the file is the same
 * whatever the thread count. */
struct convert {
	struct block_dev **in, *out;
	int nin;
	bool base, compress, no_create, progress;
	uint64_t cs;     /* the output's cluster (64 KiB if it has none) */
	uint64_t unit;   /* zeros read are found and skipped in aligned units of this */
	uint64_t hole_unit; /* the input's holes are skipped in these (whatever -S) */
	uint64_t chunk;  /* the most one request reads */
	bool sparse;     /* -S other than 0: zeros are left out */
	/* the planner's position, under the pool's lock */
	int cur;
	uint64_t off, opos;
	uint64_t done, total;
	int lastpct;
};

struct convert_req {
	int in;
	uint64_t off, n, opos;
	bool hole;
	/* a failure's place, for its one line */
	const char *what;
	uint64_t at;
};

/* One thread's buffers: the data read, the output's base data (-B), and
 * with -c each whole cluster's deflated form (slot p / cs for the
 * cluster at byte p of the request) and length (-1: not deflated). */
struct convert_thread {
	uint8_t *buf, *bbuf, *z;
	int *zlen;
	struct qcow2_deflater *d;
};

/* The next request, or false at the end; under the pool's lock. */
static bool convert_plan(void *opaque, void *job)
{
	struct convert *c = opaque;
	struct convert_req *r = job;
	while (c->cur < c->nin && c->off >= c->in[c->cur]->size) {
		c->cur++;
		c->off = 0;
	}
	if (c->cur >= c->nin)
		return false;
	struct block_dev *in = c->in[c->cur];
	uint64_t n = MIN(c->chunk, in->size - c->off), pn;
	bool hole = false;
	/* holes of a layer without backing read as zeros: skip them, in whole
	 * clusters (so -c sees whole ones); -S only concerns zeros read, as
	 * qemu-img's */
	if (c->sparse && !c->base && !block_has_backing(in)) {
		int st = block_status(in, c->off, n, &pn);
		uint64_t lim = n;
		if (st == 0) {
			uint64_t e = (c->opos + MIN(n, pn)) / c->hole_unit * c->hole_unit;
			if (e > c->opos) {
				n = e - c->opos;
				hole = true;
			} else {
				st = 1; /* a hole inside a unit: read it */
			}
		}
		if (st > 0) {
			uint64_t e = (c->opos + MIN(n, pn) + c->hole_unit - 1) / c->hole_unit *
				     c->hole_unit;
			n = MIN(lim, e - c->opos);
		}
	}
	*r = (struct convert_req){ .in = c->cur, .off = c->off, .n = n, .opos = c->opos,
				   .hole = hole };
	c->off += n;
	c->opos += n;
	return true;
}

/* The first error's one line; under the pool's lock. */
static void convert_error(void *opaque, const void *job, enum opool_stage stage, int err)
{
	const struct convert_req *r = job;
	(void)opaque;
	(void)stage;
	if (r)
		fprintf(stderr, "vmm-img: error while %s at byte %" PRIu64 ": %s\n", r->what, r->at,
			strerror(-err));
	else
		fprintf(stderr, "vmm-img: error while writing: %s\n", strerror(-err));
}

static void convert_thread_free(void *opaque, void *ts)
{
	struct convert_thread *t = ts;
	(void)opaque;
	qcow2_deflater_free(t->d);
	free(t->buf);
	free(t->bbuf);
	free(t->z);
	free(t->zlen);
	free(t);
}

static int convert_thread_new(void *opaque, void **ts)
{
	struct convert *c = opaque;
	struct convert_thread *t = calloc(1, sizeof(*t));
	uint64_t slots = c->chunk / c->cs + 1;
	int ret = 0;
	if (!t)
		return -ENOMEM;
	t->buf = io_buf(c->chunk);
	t->bbuf = c->base ? io_buf(c->chunk) : NULL;
	if (c->compress) {
		t->z = io_buf(slots * c->cs);
		t->zlen = malloc(slots * sizeof(*t->zlen));
		ret = qcow2_deflater_new(&t->d);
	}
	if (!ret && (!t->buf || (c->base && !t->bbuf) || (c->compress && (!t->z || !t->zlen))))
		ret = -ENOMEM;
	if (ret < 0) {
		convert_thread_free(c, t);
		return ret;
	}
	*ts = t;
	return 0;
}

/* The units of a request, as convert_write walks them: the length of the
 * one at byte p (aligned units of c->unit; the last may be short). */
static uint64_t convert_unit_len(const struct convert *c, const struct convert_req *r, uint64_t p)
{
	return MIN(r->n - p, c->unit - ((r->opos + p) % c->unit));
}

/* -c: deflates each whole cluster that convert_write will write
 * compressed (not zeros left out), outside the write turn. */
static int convert_deflate(struct convert *c, struct convert_thread *t, struct convert_req *r)
{
	for (uint64_t p = 0; p < r->n;) {
		uint64_t q = convert_unit_len(c, r, p), slot = p / c->cs;
		t->zlen[slot] = -1;
		if (q == c->cs && !(c->sparse && is_zero(t->buf + p, q))) {
			int ret = qcow2_deflate(t->d, c->out, t->buf + p, t->z + slot * c->cs);
			if (ret < 0) {
				r->what = "writing";
				r->at = r->opos + p;
				return ret;
			}
			t->zlen[slot] = ret;
		}
		p += q;
	}
	return 0;
}

/* Reads a request (and deflates it with -c): any number at once. */
static int convert_work(void *opaque, void *ts, void *job)
{
	struct convert *c = opaque;
	struct convert_thread *t = ts;
	struct convert_req *r = job;
	if (r->hole)
		return 0;
	int ret = block_pread(c->in[r->in], t->buf, r->n, r->off);
	if (ret < 0) {
		r->what = "reading";
		r->at = r->off;
		return ret;
	}
	return c->compress ? convert_deflate(c, t, r) : 0;
}

/* One whole cluster with -c: its deflated form from convert_deflate. */
static int convert_write_compressed(struct convert *c, struct convert_thread *t,
				    uint64_t p, uint64_t at)
{
	uint64_t slot = p / c->cs;
	if (t->zlen[slot] < 0) /* not deflated ahead (cannot happen): do it now */
		return qcow2_write_compressed(c->out, at, t->buf + p);
	return qcow2_write_deflated(c->out, at, t->buf + p, t->z + slot * c->cs,
				    (size_t)t->zlen[slot]);
}

/* Writes a request's data (read into buf) to the output: zero units are
 * left out (or zeroed in an existing target), runs of the others go in
 * one write each. */
static int convert_write(struct convert *c, struct convert_thread *t, const struct convert_req *r)
{
	struct block_dev *o = c->out;
	const uint8_t *buf = t->buf;
	uint64_t n = r->n, opos = r->opos, run = 0, run_len = 0;
	int ret = 0;
	for (uint64_t p = 0; p <= n && !ret;) {
		/* per unit (the last may be short) */
		uint64_t q = p < n ? convert_unit_len(c, r, p) : 0;
		const uint8_t *d = buf + p;
		bool zero = p < n ? c->sparse && is_zero(d, q) : true;
		if (p < n && zero && c->no_create) {
			ret = block_pwrite_zeroes(o, q, opos + p);
		} else if (p < n && c->base) {
			ret = block_pread(o, t->bbuf, q, opos + p);
			if (!ret && !memcmp(t->bbuf, d, q))
				zero = true; /* same as the base: leave it to it */
			else if (!ret && zero)
				ret = block_pwrite_zeroes(o, q, opos + p);
			else
				zero = false;
		}
		if (ret < 0)
			break;
		if (!zero && c->compress && q == c->cs) {
			ret = convert_write_compressed(c, t, p, opos + p);
			zero = true; /* done: not part of a run */
		} else if (!zero) {
			if (!run_len)
				run = p;
			run_len += q;
		}
		if ((zero || p + q >= n) && run_len) {
			ret = block_pwrite(o, buf + run, run_len, opos + run);
			run_len = 0;
		}
		if (p == n)
			break;
		p += q;
	}
	return ret;
}

/* Writes a request: one at a time, in order unless -W. */
static int convert_commit(void *opaque, void *ts, void *job)
{
	struct convert *c = opaque;
	struct convert_req *r = job;
	int ret;
	/* an existing target may hold data where the input has none */
	if (r->hole)
		ret = c->no_create ? block_pwrite_zeroes(c->out, r->n, r->opos) : 0;
	else
		ret = convert_write(c, ts, r);
	r->what = "writing";
	r->at = r->opos;
	return ret;
}

/* After each request's turn: the progress line (-p). */
static void convert_done(void *opaque, const void *job)
{
	struct convert *c = opaque;
	const struct convert_req *r = job;
	c->done += r->n;
	if (c->progress && !quiet && c->total) {
		int pct = (int)(c->done * 10000 / c->total);
		if (pct != c->lastpct) {
			printf("    (%d.%02d/100%%)\r", pct / 100, pct % 100);
			fflush(stdout);
			c->lastpct = pct;
		}
	}
}

static const struct opool_ops convert_ops = {
	.job_size = sizeof(struct convert_req),
	.next = convert_plan,
	.thread_new = convert_thread_new,
	.thread_free = convert_thread_free,
	.work = convert_work,
	.commit = convert_commit,
	.done = convert_done,
	.error = convert_error,
};

/* -m N requests at once; with -c, the deflate's threads: one per CPU
 * (more would only take turns on them), at most N. */
static unsigned convert_threads(bool compress, unsigned nworkers)
{
	return compress ? MIN(nworkers, opool_cpus()) : nworkers;
}

/* convert --bitmaps: an inconsistent (in-use) bitmap of the source
 * fails the conversion before anything is written, unless skipped. */
static void bitmaps_copyable(struct block_dev *src, bool skip_broken)
{
	struct qcow2_bitmap_info *b;
	int n = qcow2_bitmap_list(src, &b);
	for (int i = 0; i < n; i++) {
		if (!b[i].in_use)
			continue;
		if (!skip_broken)
			fail("Cannot copy inconsistent bitmap '%s'", b[i].name);
		fprintf(stderr, "vmm-img: warning: Skipping inconsistent bitmap '%s'\n", b[i].name);
	}
	free(b);
}

static bool qcow2_bitmaps_supported(struct block_dev *bd)
{
	struct qcow2_info qi;
	return block_is_qcow2(bd) && (qcow2_get_info(bd, &qi), qi.version == 3);
}

/* The source's consistent bitmaps into the target, after the data (so
 * the conversion's own writes mark nothing in them, as qemu-img's): each
 * added at its granularity, its bits merged in, disabled if it was. */
static void convert_copy_bitmaps(struct block_dev *src, struct block_dev *dst)
{
	struct qcow2_bitmap_info *b, *have;
	int n = qcow2_bitmap_list(src, &b), nh = qcow2_bitmap_list(dst, &have);
	char err[1200];
	/* a name the target has already: qemu-img meets the source's
	 * bitmaps last one first */
	for (int i = n - 1; i >= 0; i--)
		for (int k = 0; k < nh && !b[i].in_use; k++)
			if (!strcmp(b[i].name, have[k].name))
				fail("Failed to create bitmap %s: Bitmap already exists: %s", b[i].name,
				     b[i].name);
	free(have);
	for (int i = 0; i < n; i++) {
		uint8_t *bits;
		uint64_t gran;
		if (b[i].in_use)
			continue;
		if (qcow2_bitmap_read(src, b[i].name, &bits, &gran) < 0)
			fail("Failed to read bitmap %s", b[i].name);
		if (qcow2_bitmap_change(dst, QCOW2_BITMAP_ADD, b[i].name, gran, NULL, 0, err,
					sizeof(err)) < 0)
			fail("Failed to create bitmap %s: %s", b[i].name, err);
		if (qcow2_bitmap_change(dst, QCOW2_BITMAP_MERGE, b[i].name, 0, bits, gran, err,
					sizeof(err)) < 0 ||
		    (!b[i].autom && qcow2_bitmap_change(dst, QCOW2_BITMAP_DISABLE, b[i].name, 0,
							NULL, 0, err, sizeof(err)) < 0))
			fail("Failed to populate bitmap %s: %s", b[i].name, err);
		free(bits);
	}
	free(b);
}

static int cmd_convert(int argc, char **argv)
{
	const char *ifmt = NULL, *ofmt = "raw", *base = NULL, *snap = NULL;
	struct create_opts co = { 0 };
	bool compress = false, progress = false, no_create = false, unordered = false;
	bool has_o = false, has_O = false;
	uint64_t sparse = 4096; /* qemu-img's default */
	unsigned nworkers = 8;  /* qemu-img's default */
	/* -t/-T: the caches of output and inputs. The output's defaults to
	 * unsafe, as qemu-img's convert: no flush at the end (the data is in
	 * the page cache when convert returns, durable when the kernel writes
	 * it back); -t writeback flushes. A new target's metadata needs no
	 * barriers either way; an existing one (-n) keeps them. */
	int out_cache = BLOCK_CACHE_UNSAFE, in_cache = BLOCK_CACHE_WRITEBACK;
	int ch;

	enum { OPT_BITMAPS = 0x2100, OPT_SKIP_BROKEN };
	static const struct option convert_long[] = {
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ "target-image-opts", no_argument, NULL, OPT_TARGET_IMAGE_OPTS },
		{ "bitmaps", no_argument, NULL, OPT_BITMAPS },
		{ "skip-broken-bitmaps", no_argument, NULL, OPT_SKIP_BROKEN },
		{ NULL, 0, NULL, 0 },
	};
	bool copy_bitmaps = false, skip_broken = false;

	prealloc_deferred = true;
	while ((ch = getopt_long(argc, argv, ":cpf:O:B:o:l:qnt:T:m:WUS:", convert_long,
				 NULL)) != -1) {
		switch (ch) {
		case 'c': compress = true; break;
		case 'p': progress = true; break;
		case 'f': ifmt = optarg; break;
		case 'O': ofmt = optarg; has_O = true; break;
		case 'B': base = optarg; break;
		case 'o': parse_o(optarg, &co); has_o = true; break;
		case 'l':
			snap = !strncmp(optarg, "snapshot.name=", 14) ? optarg + 14 :
			       !strncmp(optarg, "snapshot.id=", 12) ? optarg + 12 : optarg;
			break;
		case 'q': quiet = true; break;
		case 'n': no_create = true; break;
		case 'U': share_reads = true; break;
		case 'S': sparse = parse_sparse_size(optarg); break;
		case 'm': nworkers = parse_parallel(optarg); break;
		case 'W': unordered = true; break;
		case OPT_BITMAPS: copy_bitmaps = true; break;
		case OPT_SKIP_BROKEN: skip_broken = true; break;
		case 't':
			if ((out_cache = block_cache_parse(optarg)) < 0)
				fail("Invalid cache option: %s", optarg);
			break;
		case 'T':
			if ((in_cache = block_cache_parse(optarg)) < 0)
				fail("Invalid source cache option: %s", optarg);
			break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (argc - optind < 2)
		fail("Expecting image file name");
	if (no_create && has_o)
		fail("-o has no effect when skipping image creation");
	if (skip_broken && !copy_bitmaps)
		fail("Use of --skip-broken-bitmaps requires --bitmaps");
	int nin = argc - optind - 1;
	if (copy_bitmaps && nin > 1)
		fail("Copying bitmaps only possible with single source");
	if (target_image_opts && !no_create)
		fail("--target-image-opts requires use of -n flag");
	if (image_opts)
		image_opts_args(argv, optind, argc - 1, ifmt);
	if (target_image_opts) {
		image_opts_args(argv, argc - 1, argc, has_O ? ofmt : NULL);
		const struct image_spec *t = spec_of(argv[argc - 1]);
		if (t->fmt)
			ofmt = t->fmt;
	}
	const char *out = argv[argc - 1];
	struct block_dev **in = xzalloc((size_t)nin * sizeof(*in));
	struct block_opts io = { .snapshot = snap, .cache = (enum block_cache)in_cache };
	uint64_t total = 0;
	for (int i = 0; i < nin; i++) {
		in[i] = open_img(argv[optind + i], ifmt, true, &io);
		total += in[i]->size;
	}
	/* --bitmaps: everything that can fail is checked before the target
	 * is created (qemu-img refuses a raw or v2 target after creating it) */
	if (copy_bitmaps) {
		if (!block_is_qcow2(in[0]))
			fail("Source lacks bitmap support");
		bitmaps_copyable(in[0], skip_broken);
		if (!no_create && (strcmp(ofmt, "qcow2") || co.version == 2))
			fail("Format driver '%s' does not support bitmaps", ofmt);
	}
	if (compress && strcmp(ofmt, "qcow2"))
		fail("Compression not supported for this file format");
	if (base && !no_create) {
		co.backing_file = base;
		co.backing_fmt = backing_format_of(out, base, co.backing_fmt);
	}
	create_for_convert = true;
	if (!no_create)
		create_image(out, ofmt, total, &co);
	/* An existing target (-n) may be worth keeping after a crash: keep
	 * its metadata ordered. */
	struct block_opts oo = { .no_barriers = !no_create, .cache = (enum block_cache)out_cache };
	struct block_dev *o = open_img(out, ofmt, false, &oo);
	if (no_create && o->size < total)
		fail("output file is smaller than input file");
	if (copy_bitmaps && no_create && !qcow2_bitmaps_supported(o))
		fail("Format driver '%s' does not support bitmaps", o->format);
	/* the bits cover the source's size: a larger target would need them
	 * cut or extended, which qemu-img's merge refuses too */
	if (copy_bitmaps && no_create && o->size != in[0]->size)
		fail("Cannot copy bitmaps into a target of another size");
	struct convert c = {
		.in = in, .out = o, .nin = nin, .base = base != NULL, .compress = compress,
		.no_create = no_create, .progress = progress,
		.cs = block_is_qcow2(o) ? qcow2_cluster_size(o) : 65536,
		.sparse = sparse != 0, .total = total, .lastpct = -1,
	};
	/* Zeros go unwritten in -S units (a preallocated qcow2 cluster keeps
	 * its file holes, as qemu-img's); a larger -S writes the zero clusters
	 * of a unit that holds data, as qemu-img's minimum zero run does. -c
	 * compresses whole clusters. */
	c.unit = compress || !sparse ? c.cs : sparse;
	c.hole_unit = block_is_qcow2(o) ? c.cs : 4096;
	c.chunk = MAX(CHUNK, c.unit);
	int ret = opool_run(&convert_ops, &c, convert_threads(compress, nworkers), !unordered);
	if (progress && !quiet)
		printf("    (100.00/100%%)\n");
	if (!ret && copy_bitmaps)
		convert_copy_bitmaps(in[0], o);
	if (!ret)
		ret = block_flush(o);
	block_close(o);
	for (int i = 0; i < nin; i++)
		block_close(in[i]);
	free(in);
	return ret < 0 ? 1 : 0;
}

/* ---- check -------------------------------------------------------------- */

static int check_once(struct block_dev *bd, int repair, struct qcow2_check_result *r)
{
	/* the per-cluster findings go to stderr, as qemu-img's: stdout keeps
	 * the summary (or the JSON document) alone */
	int ret = qcow2_check(bd, repair, r, stderr);
	if (ret < 0)
		fail("Check failed: %s", strerror(-ret));
	return 0;
}

static void check_report(const struct qcow2_check_result *r)
{
	if (!r->corruptions && !r->leaks)
		printf("No errors were found on the image.\n");
	if (r->corruptions)
		printf("\n%" PRIu64 " errors were found on the image.\nData may be corrupted, or "
		       "further writes to the image may corrupt it.\n", r->corruptions);
	if (r->leaks)
		printf("\n%" PRIu64 " leaked clusters were found on the image.\nThis means waste "
		       "of disk space, but no harm to data.\n", r->leaks);
	if (r->total_clusters)
		printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% "
		       "compressed clusters\n", r->allocated_clusters, r->total_clusters,
		       r->allocated_clusters * 100.0 / (double)r->total_clusters,
		       r->allocated_clusters ? r->fragmented_clusters * 100.0 /
		       (double)r->allocated_clusters : 0.0,
		       r->allocated_clusters ? r->compressed_clusters * 100.0 /
		       (double)r->allocated_clusters : 0.0);
	if (r->image_end_offset)
		printf("Image end offset: %" PRIu64 "\n", r->image_end_offset);
}

/* qemu-img check --output=json: its keys, in its order; a count that is
 * zero is left out, as qemu-img leaves it out. */
static void check_report_json(const char *path, const char *format,
			      const struct qcow2_check_result *r, uint64_t leaks_fixed,
			      uint64_t corruptions_fixed)
{
	printf("{\n");
	if (r->image_end_offset)
		printf("    \"image-end-offset\": %" PRIu64 ",\n", r->image_end_offset);
	if (r->compressed_clusters)
		printf("    \"compressed-clusters\": %" PRIu64 ",\n", r->compressed_clusters);
	if (r->total_clusters)
		printf("    \"total-clusters\": %" PRIu64 ",\n", r->total_clusters);
	if (r->corruptions)
		printf("    \"corruptions\": %" PRIu64 ",\n", r->corruptions);
	if (corruptions_fixed)
		printf("    \"corruptions-fixed\": %" PRIu64 ",\n", corruptions_fixed);
	printf("    \"check-errors\": 0,\n");
	if (r->leaks)
		printf("    \"leaks\": %" PRIu64 ",\n", r->leaks);
	if (leaks_fixed)
		printf("    \"leaks-fixed\": %" PRIu64 ",\n", leaks_fixed);
	if (r->allocated_clusters)
		printf("    \"allocated-clusters\": %" PRIu64 ",\n", r->allocated_clusters);
	printf("    \"filename\": ");
	json_str(path);
	printf(",\n    \"format\": ");
	json_str(format);
	if (r->fragmented_clusters)
		printf(",\n    \"fragmented-clusters\": %" PRIu64, r->fragmented_clusters);
	printf("\n}\n");
}

static int cmd_check(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "repair", required_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL;
	bool json = false;
	int repair = 0, ch;

	while ((ch = getopt_long(argc, argv, ":f:r:qU", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'r':
			if (!strcmp(optarg, "leaks"))
				repair = QCOW2_REPAIR_LEAKS;
			else if (!strcmp(optarg, "all"))
				repair = QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS;
			else
				fail("Invalid option for -r (expecting 'leaks' or 'all'): %s", optarg);
			break;
		case 'O':
			if (!strcmp(optarg, "json"))
				json = true;
			else if (strcmp(optarg, "human"))
				fail("--output must be used with human or json as argument.");
			break;
		case 'q': quiet = true; break;
		case 'U': share_reads = true; break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (optind >= argc)
		fail("Expecting one image file name");
	if (argc - optind > 1)
		fail("Expecting one image file name (extra argument '%s')", argv[optind + 1]);
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	const char *path = argv[optind];
	struct block_opts o = { .no_backing = true };
	struct block_dev *bd = open_img(path, fmt, !repair, &o);
	struct qcow2_check_result r;
	uint64_t leaks_fixed = 0, corruptions_fixed = 0;
	if (block_is_vdi(bd) && !repair) {
		/* the block map only: no cluster statistics, as qemu-img */
		memset(&r, 0, sizeof(r));
		r.corruptions = vdi_check(bd, stderr);
		if (json)
			check_report_json(spec_of(path) ? spec_of(path)->spec : path, bd->format, &r, 0, 0);
		else if (!quiet)
			check_report(&r);
		block_close(bd);
		return r.corruptions ? 2 : 0;
	}
	if (!block_is_qcow2(bd)) {
		fprintf(stderr, "vmm-img: This image format does not support checks\n");
		block_close(bd);
		return 63;
	}
	check_once(bd, repair, &r);
	if (repair && (r.leaks_fixed || r.corruptions_fixed)) {
		leaks_fixed = r.leaks_fixed;
		corruptions_fixed = r.corruptions_fixed;
		if (!json && !quiet)
			printf("The following inconsistencies were found and repaired:\n\n"
			       "    %" PRIu64 " leaked clusters\n    %" PRIu64 " corruptions\n\n"
			       "Double checking the fixed image now...\n", leaks_fixed,
			       corruptions_fixed);
		check_once(bd, 0, &r);
	}
	if (json)
		check_report_json(spec_of(path) ? spec_of(path)->spec : path, bd->format, &r, leaks_fixed, corruptions_fixed);
	else if (!quiet)
		check_report(&r);
	block_close(bd);
	if (r.corruptions)
		return 2;
	if (r.leaks)
		return 3;
	return 0;
}


/* ---- compare ------------------------------------------------------------ */

/* compare on the ordered pool: chunks read and compared on one thread
 * per CPU (reading a compressed image inflates), the verdicts taken in
 * order, so the first mismatch reported is the sequential one. Ranges
 * unallocated in both images, neither with a backing file, read as zeros
 * in both and are not read. */
struct compare {
	struct block_dev *a, *b;
	uint64_t big, off;
	bool skip_holes;
	int rc; /* 1: a mismatch, 4: a read error */
};

struct compare_req {
	uint64_t off, n;
	bool holes;
	int64_t mismatch; /* the first differing 512-byte sector's offset, -1: none */
};

struct compare_thread {
	uint8_t *x, *y;
};

/* The unallocated run at off in both images (0: none), looked for in
 * [off, end of the shorter); under the lock. */
static uint64_t compare_holes(struct compare *c, uint64_t off)
{
	uint64_t pa, pb, common = MIN(c->a->size, c->b->size);
	if (!c->skip_holes || off >= common ||
	    block_status(c->a, off, common - off, &pa) != 0 ||
	    block_status(c->b, off, MIN(pa, common - off), &pb) != 0)
		return 0;
	return MIN(pa, pb);
}

static bool compare_next(void *opaque, void *job)
{
	struct compare *c = opaque;
	struct compare_req *r = job;
	if (c->off >= c->big)
		return false;
	uint64_t n = MIN(CHUNK, c->big - c->off), h = compare_holes(c, c->off);
	*r = (struct compare_req){ .off = c->off, .n = h ? h : n, .holes = h != 0,
				   .mismatch = -1 };
	c->off += r->n;
	return true;
}

static int compare_thread_new(void *opaque, void **ts)
{
	struct compare_thread *t = calloc(1, sizeof(*t));
	if (!t || !(t->x = io_buf(CHUNK)) || !(t->y = io_buf(CHUNK))) {
		if (t)
			free(t->x);
		free(t);
		return -ENOMEM;
	}
	*ts = t;
	return 0;
}

static void compare_thread_free(void *opaque, void *ts)
{
	struct compare_thread *t = ts;
	free(t->x);
	free(t->y);
	free(t);
}

/* Reads one side's part of a chunk, zeros past its end. */
static int compare_read(struct block_dev *bd, uint8_t *buf, uint64_t n, uint64_t off)
{
	uint64_t have = off < bd->size ? MIN(n, bd->size - off) : 0;
	memset(buf + have, 0, n - have);
	return have ? block_pread(bd, buf, have, off) : 0;
}

static int compare_work(void *opaque, void *ts, void *job)
{
	struct compare *c = opaque;
	struct compare_thread *t = ts;
	struct compare_req *r = job;
	if (r->holes)
		return 0;
	int ret = compare_read(c->a, t->x, r->n, r->off);
	if (!ret)
		ret = compare_read(c->b, t->y, r->n, r->off);
	if (ret < 0)
		return ret;
	if (memcmp(t->x, t->y, r->n))
		for (uint64_t i = 0; i < r->n; i += 512)
			if (memcmp(t->x + i, t->y + i, MIN(512, r->n - i))) {
				r->mismatch = (int64_t)(r->off + i);
				break;
			}
	return 0;
}

/* In order: the first mismatch ends the comparison (ECANCELED: not an
 * error, compare_error tells them apart). */
static int compare_commit(void *opaque, void *ts, void *job)
{
	const struct compare_req *r = job;
	return r->mismatch >= 0 ? -ECANCELED : 0;
}

static void compare_error(void *opaque, const void *job, enum opool_stage stage, int err)
{
	struct compare *c = opaque;
	const struct compare_req *r = job;
	if (err == -ECANCELED && r) {
		if (!quiet)
			printf("Content mismatch at offset %" PRId64 "!\n", r->mismatch);
		c->rc = 1;
		return;
	}
	if (r)
		fprintf(stderr, "vmm-img: Error while reading offset %" PRIu64 "\n", r->off);
	else
		fprintf(stderr, "vmm-img: Error while reading: %s\n", strerror(-err));
	c->rc = 4;
}

static const struct opool_ops compare_ops = {
	.job_size = sizeof(struct compare_req),
	.next = compare_next,
	.thread_new = compare_thread_new,
	.thread_free = compare_thread_free,
	.work = compare_work,
	.commit = compare_commit,
	.error = compare_error,
};

static int cmd_compare(int argc, char **argv)
{
	const char *f1 = NULL, *f2 = NULL;
	bool strict = false;
	int ch;

	spec_status = 2;
	while ((ch = getopt_long(argc, argv, ":f:F:spqU", object_image_opts, NULL)) != -1) {
		switch (ch) {
		case 'f': f1 = optarg; break;
		case 'F': f2 = optarg; break;
		case 's': strict = true; break;
		case 'q': quiet = true; break;
		case 'U': share_reads = true; break;
		case 'p': break; /* accepted, no effect here */
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (argc - optind != 2)
		fail("Expecting two image file names");
	/* compare's errors are status 2 (1 means the images differ) */
	compare_open_status = 2;
	if (image_opts)
		image_opts_args(argv, optind, optind + 2, f1 ? f1 : f2);
	struct block_dev *a = open_img(argv[optind], f1, true, NULL);
	struct block_dev *b = open_img(argv[optind + 1], f2, true, NULL);

	if (a->size != b->size) {
		if (strict) {
			printf("Strict mode: Image size mismatch!\n");
			return 1;
		}
		if (!quiet)
			printf("Warning: Image size mismatch!\n");
	}
	struct compare c = { .a = a, .b = b, .big = MAX(a->size, b->size),
			     .skip_holes = !block_has_backing(a) && !block_has_backing(b) };
	opool_run(&compare_ops, &c, MIN(opool_cpus(), 8), true);
	if (!c.rc && !quiet)
		printf("Images are identical.\n");
	block_close(a);
	block_close(b);
	return c.rc;
}

/* ---- commit ------------------------------------------------------------- */

/* Does the backing file 'name' that 'image' records (opened as 'opened')
 * match commit -b's 'want'? As qemu-img: the name as recorded, or the
 * same file, 'want' taken relative to the overlay's directory (or to
 * the working directory). */
static bool commit_base_matches(const char *image, const char *name, const char *opened,
				const char *want)
{
	if (!strcmp(name, want))
		return true;
	char *a = realpath(opened, NULL), *beside = block_path_beside(image, want);
	char *b = realpath(beside, NULL), *c = realpath(want, NULL);
	bool same = a && ((b && !strcmp(a, b)) || (c && !strcmp(a, c)));
	free(a);
	free(b);
	free(c);
	free(beside);
	return same;
}

/* -r: bytes per second, as qemu-img takes it (a size with suffixes). */
static uint64_t parse_rate(const char *s)
{
	uint64_t v = 0;
	int r = parse_option_size(s, &v);
	if (r == -1)
		fail("Invalid rate limit specified: '%s'.", s);
	if (r == -2)
		fail("Invalid rate limit specified. Must be between 0 and %" PRId64 ".", INT64_MAX);
	return v;
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void commit_progress(bool on, uint64_t done, uint64_t total, int *last)
{
	int pct = total ? (int)(done * 10000 / total) : 10000;
	if (!on || pct == *last)
		return;
	printf("    (%d.%02d/100%%)\r", pct / 100, pct % 100);
	fflush(stdout);
	*last = pct;
}

static int cmd_commit(int argc, char **argv)
{
	const char *fmt = NULL, *want = NULL;
	bool keep = false, progress = false;
	int ch, cache = BLOCK_CACHE_WRITEBACK;
	uint64_t rate = 0;

	while ((ch = getopt_long(argc, argv, ":f:dpqt:b:r:", object_image_opts, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'd': keep = true; break;
		case 'q': quiet = true; break;
		case 'p': progress = true; break;
		case 't':
			if ((cache = block_cache_parse(optarg)) < 0)
				fail("Invalid cache option: %s", optarg);
			break;
		case 'b': want = optarg; keep = true; break; /* -b implies -d, as qemu-img */
		case 'r': rate = parse_rate(optarg); break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (optind >= argc)
		fail("Expecting one image file name");
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	progress = progress && !quiet;
	const char *path = argv[optind];
	/* The layers above the base, each on its own (no backing): what any
	 * of them holds goes down, the topmost's contents winning. */
	struct block_opts nb = { .no_backing = true };
	struct block_dev *layers[BLOCK_MAX_CHAIN + 1];
	char *lpath[BLOCK_MAX_CHAIN + 1];
	unsigned nl = 0;
	bool trusted = fmt != NULL;
	struct qcow2_info top_qi;
	struct block_dev *base = NULL;

	layers[nl] = open_img(path, fmt, true, &nb);
	lpath[nl++] = xstrdup(path);
	if (!block_is_qcow2(layers[0]) || (qcow2_get_info(layers[0], &top_qi), !top_qi.backing_file[0]))
		fail("Image does not have a backing file");
	for (;;) {
		struct block_dev *cur = layers[nl - 1];
		struct qcow2_info qi;
		if (!block_is_qcow2(cur) || (qcow2_get_info(cur, &qi), !qi.backing_file[0]) ||
		    nl > BLOCK_MAX_CHAIN)
			fail("Did not find '%s' in the backing chain of '%s'", want, path);
		char *bp = block_path_beside(lpath[nl - 1], qi.backing_file);
		bool is_base = !want || commit_base_matches(lpath[nl - 1], qi.backing_file, bp, want);
		struct block_opts bo = { .no_backing = true, .cache = (enum block_cache)cache };
		struct block_dev *b = open_backing_of(lpath[nl - 1], trusted, &qi, !is_base,
						      is_base ? &bo : &nb);
		trusted = trusted && qi.backing_fmt[0];
		if (is_base) {
			base = b;
			free(bp);
			break;
		}
		layers[nl] = b;
		lpath[nl++] = bp;
	}
	struct block_dev *top = layers[0];
	uint8_t *buf = io_buf(CHUNK);
	int ret = 0, last = -1;
	double t0 = now_sec();

	if (!buf)
		fail("out of memory");
	if (base->size < top->size)
		fail("the backing file is smaller than the image (not supported)");
	commit_progress(progress, 0, top->size, &last);
	for (uint64_t off = 0; off < top->size && !ret;) {
		/* the run where every layer's status stays the same; the data
		 * comes from the topmost layer holding it */
		uint64_t n = MIN(CHUNK, top->size - off);
		int from = -1;
		for (unsigned i = 0; i < nl && !ret; i++) {
			uint64_t pn;
			int st = block_status(layers[i], off, n, &pn);
			if (st < 0)
				ret = st;
			n = MIN(n, MAX(pn, 1));
			if (st > 0 && from < 0)
				from = (int)i;
		}
		if (!ret && from >= 0) {
			ret = block_pread(layers[from], buf, n, off);
			if (!ret)
				ret = block_pwrite(base, buf, n, off);
		}
		off += n;
		commit_progress(progress, off, top->size, &last);
		/* -r: no faster than 'rate' bytes a second on average */
		double ahead = rate ? (double)off / (double)rate - (now_sec() - t0) : 0;
		if (ahead > 0)
			nanosleep(&(struct timespec){ .tv_sec = (time_t)ahead,
				  .tv_nsec = (long)((ahead - (double)(time_t)ahead) * 1e9) }, NULL);
	}
	if (!ret)
		ret = block_flush(base);
	block_close(base);
	free(buf);
	for (unsigned i = 1; i < nl; i++) {
		block_close(layers[i]);
		free(lpath[i]);
	}
	if (progress)
		printf("    (100.00/100%%)\r\n");
	if (ret < 0)
		fail("Commit failed: %s", strerror(-ret));
	struct qcow2_bitmap_info *top_bm;
	int top_nbm = qcow2_bitmap_list(top, &top_bm);
	free(top_bm);
	if (!keep && top_qi.nb_snapshots == 0 && top_nbm > 0) {
		/* its bitmaps stay, their bits untouched, as qemu-img's */
		block_close(top);
		top = open_img(path, fmt, false, &nb);
		int r = qcow2_make_empty(top);
		if (r < 0)
			fail("Could not empty %s: %s", path, strerror(-r));
	} else if (!keep && top_qi.nb_snapshots == 0) {
		/* empty the top image: recreate it with the same parameters */
		struct create_opts c = { .cluster_size = top_qi.cluster_size,
					 .version = top_qi.version,
					 .refcount_bits = top_qi.refcount_bits,
					 .backing_file = top_qi.backing_file,
					 .backing_fmt = top_qi.backing_fmt[0] ? top_qi.backing_fmt : NULL };
		uint64_t size = top->size;
		block_close(top);
		top = NULL;
		create_image(path, "qcow2", size, &c);
	}
	block_close(top);
	free(lpath[0]);
	if (!quiet)
		printf("Image committed.\n");
	return 0;
}

/* ---- resize ------------------------------------------------------------- */

/* qemu-img will not resize an image with an inconsistent (in-use)
 * bitmap: its first line. */
static void refuse_inconsistent_bitmaps(struct block_dev *bd)
{
	struct qcow2_bitmap_info *b;
	int n = qcow2_bitmap_list(bd, &b);
	for (int i = 0; i < n; i++)
		if (b[i].in_use)
			fail("Bitmap '%s' is inconsistent and cannot be used", b[i].name);
	free(b);
}

static int cmd_resize(int argc, char **argv)
{
	const char *fmt = NULL;
	bool shrink = false;
	static const struct option lo[] = {
		{ "shrink", no_argument, NULL, 'S' },
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	/* a negative size looks like an option: stop at the file name */
	while ((ch = getopt_long(argc, argv, "+:f:q", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'q': quiet = true; break;
		case 'S': shrink = true; break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (argc - optind != 2)
		fail("Expecting image file name and size");
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	const char *path = argv[optind], *s = argv[optind + 1];
	struct block_opts o = { .no_backing = true };
	struct block_dev *bd = open_img(path, fmt, false, &o);
	uint64_t sz, cur = bd->size;
	if (*s == '+' || *s == '-') {
		sz = parse_sz(s + 1);
		sz = *s == '+' ? cur + sz : (sz > cur ? 0 : cur - sz);
	} else {
		sz = parse_sz(s);
	}
	if (sz < cur && !shrink)
		fail("Use the --shrink option to perform a shrink operation.");
	if (block_is_qcow2(bd) && sz % 512)
		fail("The new size must be a multiple of 512");
	int ret;
	if (block_is_qcow2(bd)) {
		refuse_inconsistent_bitmaps(bd);
		ret = sz < cur ? qcow2_shrink(bd, sz) : qcow2_grow(bd, sz);
	} else if (!strcmp(bd->format, "raw")) {
		ret = ftruncate(bd->fd, (off_t)sz) < 0 ? -errno : 0;
	} else {
		fail("Image format '%s' does not support resizing", bd->format);
	}
	block_close(bd);
	if (ret < 0)
		fail("Failed to resize the image: %s", ret == -EBUSY ?
		     "Can't resize an image which has snapshots" : strerror(-ret));
	if (!quiet)
		printf("Image resized.\n");
	return 0;
}

/* ---- snapshot ----------------------------------------------------------- */

static int cmd_snapshot(int argc, char **argv)
{
	int ch;
	char op = 0;
	const char *name = NULL, *fmt = NULL;

	while ((ch = getopt_long(argc, argv, ":lc:a:d:f:qU", object_image_opts, NULL)) != -1) {
		switch (ch) {
		case 'l': op = 'l'; break;
		case 'c': case 'a': case 'd': op = (char)ch; name = optarg; break;
		case 'f': fmt = optarg; break;
		case 'q': quiet = true; break;
		case 'U': share_reads = true; break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (optind >= argc || !op)
		fail("Expecting one image file name and an action (-l, -c, -a, -d)");
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	struct block_opts o = { .no_backing = true };
	struct block_dev *bd = open_img(argv[optind], fmt, op == 'l', &o);
	if (!block_is_qcow2(bd))
		fail("This image format does not support snapshots");
	int ret = 0;
	switch (op) {
	case 'l': print_snapshots_human(bd); break;
	case 'c': ret = qcow2_snapshot_create(bd, name); break;
	case 'a': ret = qcow2_snapshot_apply(bd, name); break;
	case 'd': ret = qcow2_snapshot_delete(bd, name); break;
	}
	if (!ret)
		ret = block_flush(bd);
	block_close(bd);
	if (ret < 0)
		fail("Could not %s snapshot '%s': %s", op == 'c' ? "create" : op == 'a' ?
		     "apply" : "delete", name, ret == -ENOENT ? "snapshot not found" :
		     ret == -EEXIST ? "a snapshot with that name exists" :
		     ret == -ENOTSUP ? "the image was resized since" :
		     ret == -EBUSY && op == 'a' ? "Device has active dirty bitmaps" :
		     strerror(-ret));
	return 0;
}

/* ---- map ---------------------------------------------------------------- */

/* One run of qemu-img map's output. */
struct extent {
	uint64_t start, len;
	unsigned depth;
	struct block_map m;
	const char *file;
};

/* What [off, end) of the chain under 'top' holds first: the layer that
 * decides it (its depth), or the deepest layer reached. */
static int map_one(struct block_dev *top, uint64_t off, uint64_t end, struct extent *e)
{
	struct block_dev *bd = top;
	uint64_t len = end - off, n;
	unsigned depth = 0;

	for (;;) {
		int ret = block_map(bd, off, len, &n, &e->m);
		if (ret < 0)
			return ret;
		struct block_dev *b = block_backing(bd);
		if (e->m.allocated || !b || off >= b->size)
			break;
		len = MIN(n, b->size - off);
		bd = b;
		depth++;
	}
	if (!e->m.allocated) {
		e->m.zero = true;
		e->m.data = false;
	}
	e->start = off;
	e->len = n;
	e->depth = depth;
	e->file = e->m.file ? e->m.file : bd->path;
	return 0;
}

static bool extends(const struct extent *a, const struct extent *b)
{
	return a->depth == b->depth && a->m.allocated == b->m.allocated &&
	       a->m.zero == b->m.zero && a->m.data == b->m.data &&
	       a->m.compressed == b->m.compressed && a->m.has_offset == b->m.has_offset &&
	       (!a->m.has_offset || a->m.offset + a->len == b->m.offset) &&
	       !strcmp(a->file, b->file) && a->start + a->len == b->start;
}

static void map_json(const struct extent *e, bool first)
{
	printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %u, "
	       "\"present\": %s, \"zero\": %s, \"data\": %s, \"compressed\": %s",
	       first ? "[" : ",\n", e->start, e->len, e->depth, e->m.allocated ? "true" : "false",
	       e->m.zero ? "true" : "false", e->m.data ? "true" : "false",
	       e->m.compressed ? "true" : "false");
	if (e->m.has_offset)
		printf(", \"offset\": %" PRIu64, e->m.offset);
	printf("}");
}

/* Human output lists where data (not known zeros) lies; data without a
 * place in a file (compressed) ends it with an error, as qemu-img's. */
static bool map_human(const struct extent *e)
{
	if (!e->m.data || e->m.zero)
		return true;
	if (!e->m.has_offset) {
		fflush(stdout);
		fprintf(stderr, "vmm-img: File contains external, encrypted or compressed "
			"clusters.\n");
		return false;
	}
	printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", e->start, e->len,
	       e->m.offset, e->file);
	return true;
}

static int cmd_map(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "format", required_argument, NULL, 'f' },
		{ "start-offset", required_argument, NULL, 's' },
		{ "max-length", required_argument, NULL, 'l' },
		{ "force-share", no_argument, NULL, 'U' },
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL;
	bool json = false;
	uint64_t start = 0, max = UINT64_MAX;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:U", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'O':
			if (!strcmp(optarg, "json"))
				json = true;
			else if (strcmp(optarg, "human"))
				fail("--output must be used with human or json as argument.");
			break;
		case 's': start = parse_sz(optarg); break;
		case 'l': max = parse_sz(optarg); break;
		case 'U': share_reads = true; break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (argc - optind != 1)
		fail("Expecting one image file name");
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	struct block_dev *bd = open_img(argv[optind], fmt, true, NULL);
	uint64_t end = max > bd->size - MIN(start, bd->size) ? bd->size : start + max;
	struct extent cur = { 0 }, next;
	bool have = false, first = true, ok = true;
	int ret = 0;

	if (!json)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	for (uint64_t off = start; off < end && ok; off += next.len) {
		ret = map_one(bd, off, end, &next);
		if (ret < 0)
			break;
		if (have && extends(&cur, &next)) {
			cur.len += next.len;
			continue;
		}
		if (have) {
			if (json)
				map_json(&cur, first);
			else
				ok = map_human(&cur);
			first = false;
		}
		cur = next;
		have = true;
	}
	if (have && ok && ret >= 0) {
		if (json)
			map_json(&cur, first);
		else
			ok = map_human(&cur);
	}
	if (json)
		printf("%s]\n", have ? "" : "[");
	block_close(bd);
	if (ret < 0)
		fail("Failed to get block status: %s", strerror(-ret));
	return ok ? 0 : 1;
}

/* ---- measure ------------------------------------------------------------ */

/* Refcount table and block clusters for 'clusters' clusters, the blocks
 * and the table counting themselves too (until it settles). */
static uint64_t refcount_meta_clusters(uint64_t clusters, uint64_t cs, unsigned bits)
{
	uint64_t per_block = cs * 8 / bits, per_table = cs / 8;
	uint64_t table = 0, blocks = 0, n = 0, last;

	do {
		last = n;
		blocks = (clusters + table + blocks + per_block - 1) / per_block;
		table = (blocks + per_table - 1) / per_table;
		n = clusters + blocks + table;
	} while (n != last);
	return blocks + table;
}

/* A fully allocated qcow2 of 'size' bytes (cluster-aligned): the data,
 * the header cluster, L2 and L1 tables filling whole clusters, and the
 * refcounts of all that. */
static uint64_t qcow2_full_size(uint64_t size, uint64_t cs, unsigned refcount_bits)
{
	uint64_t per_cluster = cs / 8;
	uint64_t l2_entries = (size / cs + per_cluster - 1) / per_cluster * per_cluster;
	uint64_t l1_entries = (l2_entries / per_cluster + per_cluster - 1) / per_cluster *
			      per_cluster;
	uint64_t meta = cs + l2_entries * 8 + l1_entries * 8;
	meta += refcount_meta_clusters((meta + size) / cs, cs, refcount_bits) * cs;
	return meta + size;
}

/* The bytes of the image's data (allocated and not known zeros, anywhere
 * in its chain), in whole clusters of 'cs' as the target would hold it. */
static int data_clusters_bytes(struct block_dev *bd, uint64_t cs, uint64_t *bytes)
{
	struct extent e;
	*bytes = 0;
	for (uint64_t off = 0, n; off < bd->size; off += n) {
		int ret = map_one(bd, off, bd->size, &e);
		if (ret < 0)
			return ret;
		n = e.len;
		if (e.m.data && !e.m.zero) {
			/* to the end of its cluster: the next run starts there */
			n = (off + n + cs - 1) / cs * cs - off;
			*bytes += off % cs + n;
		}
	}
	return 0;
}

/* What the image's persistent bitmaps take in a qcow2 of cluster size
 * 'cs' (qemu-img measure's "bitmaps size": what convert --bitmaps would
 * copy): each bitmap's data and table clusters, and the directory's. */
static uint64_t measure_bitmaps(struct block_dev *bd, uint64_t cs)
{
	struct qcow2_bitmap_info *b;
	int n = qcow2_bitmap_list(bd, &b);
	uint64_t total = 0, dir = 0;
	for (int i = 0; i < n; i++) {
		uint64_t bits = (bd->size + b[i].granularity - 1) / b[i].granularity;
		uint64_t data = ((bits + 7) / 8 + cs - 1) / cs;
		total += data * cs + (data * 8 + cs - 1) / cs * cs;
		dir += (24 + strlen(b[i].name) + 7) & ~7ULL;
	}
	free(b);
	return total + (dir + cs - 1) / cs * cs;
}

static int cmd_measure(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'j' },
		{ "size", required_argument, NULL, 's' },
		{ "force-share", no_argument, NULL, 'U' },
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *ifmt = NULL, *ofmt = "raw", *snap = NULL, *size_arg = NULL;
	struct create_opts c = { 0 };
	bool json = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:O:o:l:U", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': ifmt = optarg; break;
		case 'O': ofmt = optarg; break;
		case 'o': parse_o(optarg, &c); break;
		case 'l':
			snap = !strncmp(optarg, "snapshot.name=", 14) ? optarg + 14 :
			       !strncmp(optarg, "snapshot.id=", 12) ? optarg + 12 : optarg;
			break;
		case 's': size_arg = optarg; break;
		case 'j':
			if (!strcmp(optarg, "json"))
				json = true;
			else if (strcmp(optarg, "human"))
				fail("--output must be used with human or json as argument.");
			break;
		case 'U': share_reads = true; break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (size_arg && optind < argc)
		fail("--size N cannot be used together with a filename.");
	if (!size_arg && argc - optind != 1)
		fail("Either --size N or one filename must be specified.");
	if (image_opts && optind < argc)
		image_opts_args(argv, optind, optind + 1, ifmt);
	if (strcmp(ofmt, "raw") && strcmp(ofmt, "qcow2")) {
		if (!creatable(ofmt))
			fail("Unknown file format '%s'", ofmt);
		fail("Block driver '%s' does not support size measurement", ofmt);
	}
	if (c.backing_file || c.subformat || c.is_static || c.force_size)
		fail("Invalid parameter for format '%s'", ofmt);
	if (!strcmp(ofmt, "raw") && (c.cluster_size || c.version || c.refcount_bits))
		fail("Invalid parameter '%s'", c.cluster_size ? "cluster_size" :
		     c.version ? "compat" : "refcount_bits");
	uint64_t cs = c.cluster_size ? c.cluster_size : 65536;
	unsigned bits = c.refcount_bits ? c.refcount_bits : 16;
	if (cs < 512 || cs > 2 * MiB || (cs & (cs - 1)))
		fail("Cluster size must be a power of two between 512 and 2048k");
	if (bits > 64 || (bits & (bits - 1)))
		fail("Refcount width must be a power of two and may not exceed 64 bits");
	if (c.version == 2 && bits != 16)
		fail("Different refcount widths than 16 bits require compatibility level 1.1 or "
		     "above (use compat=1.1 or greater)");

	uint64_t size, data = 0;
	bool bitmaps = false;
	uint64_t bitmaps_size = 0;
	if (size_arg) {
		size = parse_sz(size_arg);
		if (size > INT64_MAX - 4 * GiB) /* leaves room for the metadata sums */
			fail("Invalid image size specified. Must be between 0 and %" PRId64 ".",
			     INT64_MAX);
	} else {
		struct block_opts io = { .snapshot = snap };
		struct block_dev *bd = open_img(argv[optind], ifmt, true, &io);
		size = bd->size;
		int ret = !strcmp(ofmt, "qcow2") ? data_clusters_bytes(bd, cs, &data) : 0;
		/* qemu-img shows a bitmaps line when both could hold bitmaps */
		bitmaps = block_is_qcow2(bd) && c.version != 2 && !strcmp(ofmt, "qcow2");
		if (bitmaps)
			bitmaps_size = measure_bitmaps(bd, cs);
		block_close(bd);
		if (ret < 0)
			fail("Error while reading the image: %s", strerror(-ret));
	}
	uint64_t required, full;
	if (!strcmp(ofmt, "raw")) {
		required = full = (size + 511) / 512 * 512;
	} else {
		uint64_t vsize = (size + cs - 1) / cs * cs;
		/* qcow2's L1 table may not pass 32 MiB */
		if ((vsize + cs * (cs / 8) - 1) / (cs * (cs / 8)) > 32 * MiB / 8)
			fail("The image size is too large (try using a larger cluster size)");
		full = qcow2_full_size(vsize, cs, bits);
		required = full - vsize + data;
		if (c.prealloc_full)
			required = full;
	}
	if (json) {
		printf("{\n");
		if (bitmaps)
			printf("    \"bitmaps\": %" PRIu64 ",\n", bitmaps_size);
		printf("    \"required\": %" PRIu64 ",\n    \"fully-allocated\": %" PRIu64 "\n}\n",
		       required, full);
	} else {
		printf("required size: %" PRIu64 "\nfully allocated size: %" PRIu64 "\n", required,
		       full);
		if (bitmaps)
			printf("bitmaps size: %" PRIu64 "\n", bitmaps_size);
	}
	return 0;
}

/* ---- rebase ------------------------------------------------------------- */

/* Writes what differs between the old backing file's bytes x and the new
 * one's y at [off, off+n) of top: each run of differing sectors widened to
 * whole clusters of top (as qemu-img's rebase: no copy-on-write, and the
 * top's bitmaps marked just there). */
static int rebase_write_diff(struct block_dev *top, const uint8_t *x, const uint8_t *y,
			     uint64_t n, uint64_t off)
{
	uint64_t cs = block_is_qcow2(top) ? qcow2_cluster_size(top) : 512;
	uint64_t i = 0;
	while (i < n) {
		uint64_t len = MIN(512, n - i);
		if (!memcmp(x + i, y + i, len)) {
			i += len;
			continue;
		}
		uint64_t end = i + len;
		while (end < n && memcmp(x + end, y + end, MIN(512, n - end)))
			end += MIN(512, n - end);
		/* whole clusters of the image (offsets are the disk's) */
		uint64_t from = (off + i) / cs * cs, to = (off + end + cs - 1) / cs * cs;
		from = MAX(from, off) - off;
		to = MIN(to, off + n) - off;
		int ret = block_pwrite(top, x + from, to - from, off + from);
		if (ret < 0)
			return ret;
		i = to;
	}
	return 0;
}

static int cmd_rebase(int argc, char **argv)
{
	const char *fmt = NULL, *nb = NULL, *nbf = NULL;
	bool unsafe = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:b:F:upqt:T:U", object_image_opts, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'b': nb = optarg; break;
		case 'F': nbf = optarg; break;
		case 'u': unsafe = true; break;
		case 'q': quiet = true; break;
		case 'U': share_reads = true; break;
		case 'p': case 't': case 'T': break; /* accepted, no effect here */
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (optind >= argc || !nb)
		fail("Expecting one image file name and -b BACKING");
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	const char *path = argv[optind];
	struct block_dev *top;
	int ret = 0;

	if (*nb && !nbf)
		nbf = backing_format_of(path, nb, NULL);
	if (unsafe) {
		struct block_opts o = { .no_backing = true };
		top = open_img(path, fmt, false, &o);
	} else {
		/* copy into the image whatever the old and new backing differ in */
		top = open_img(path, fmt, false, NULL);
		struct block_opts o = { .no_backing = true };
		struct block_dev *raw_top = NULL;
		struct qcow2_info qi;
		if (!block_is_qcow2(top))
			fail("Image format does not support backing files");
		qcow2_get_info(top, &qi);
		struct block_dev *oldb = NULL, *newb = NULL;
		if (qi.backing_file[0])
			oldb = open_backing_of(path, fmt != NULL, &qi, true, NULL);
		if (*nb) {
			char *p = block_path_beside(path, nb);
			newb = open_img(p, nbf, true, NULL);
			free(p);
		}
		raw_top = top;
		(void)o;
		uint8_t *x = io_buf(CHUNK), *y = io_buf(CHUNK);
		for (uint64_t off = 0; off < top->size && !ret;) {
			uint64_t n;
			int st = block_status(raw_top, off, MIN(CHUNK, top->size - off), &n);
			if (st < 0) {
				ret = st;
				break;
			}
			n = MIN(n, CHUNK);
			if (!st) {
				memset(x, 0, n);
				memset(y, 0, n);
				if (oldb && off < oldb->size)
					ret = block_pread(oldb, x, MIN(n, oldb->size - off), off);
				if (!ret && newb && off < newb->size)
					ret = block_pread(newb, y, MIN(n, newb->size - off), off);
				if (!ret)
					ret = rebase_write_diff(top, x, y, n, off);
			}
			off += n;
		}
		free(x);
		free(y);
		block_close(oldb);
		block_close(newb);
	}
	if (!ret && !block_is_qcow2(top))
		fail("Image format does not support backing files");
	if (!ret)
		ret = qcow2_set_backing(top, *nb ? nb : NULL, *nb ? nbf : NULL);
	if (!ret)
		ret = block_flush(top);
	block_close(top);
	if (ret < 0)
		fail("Could not change the backing file: %s", strerror(-ret));
	return 0;
}

/* ---- amend -------------------------------------------------------------- */

/* qcow2's amendable options, for amend -o help (qemu-img's list). */
static void amend_help(void)
{
	printf("Amend options for 'qcow2':\n"
	       "  backing_file=<str>     - File name of a base image\n"
	       "  backing_fmt=<str>      - Image format of the base image\n"
	       "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
	       "  data_file=<str>        - File name of an external data file\n"
	       "  data_file_raw=<bool (on/off)> - The external data file must stay valid as a "
	       "raw image\n"
	       "  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds\n"
	       "  encrypt.keyslot=<num>  - Select a single keyslot to modify explicitly\n"
	       "  encrypt.new-secret=<str> - New secret to set in the matching keyslots. Empty "
	       "string to erase\n"
	       "  encrypt.old-secret=<str> - Select all keyslots that match this password\n"
	       "  encrypt.state=<str>    - Select new state of affected keyslots (active/inactive)\n"
	       "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
	       "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
	       "  size=<size>            - Virtual disk size\n");
}

static bool has_help(const char *opts)
{
	char *dup = xstrdup(opts);
	bool help = false;
	for (char *t = strtok(dup, ","); t; t = strtok(NULL, ","))
		help |= !strcmp(t, "help") || !strcmp(t, "?");
	free(dup);
	return help;
}

/* The values amend -o gives, as text: checked in qemu-img's order once
 * every name is known (amend_check). */
struct amend_req {
	const char *compat, *lazy, *refcount_bits, *size, *backing_file, *backing_fmt;
	const char *data_file, *data_file_raw, *encrypt;
};

/* First pass, in -o order: names, and values that are not of their type. */
static void amend_parse(char *s, struct amend_req *r)
{
	static const char *const create_only[] = {
		"cluster_size", "preallocation", "encryption", "encrypt.format", "compression_type",
		"extended_l2",
	};
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');
		const char *v = eq ? eq + 1 : "on"; /* a bare name means on */
		if (eq)
			*eq = 0;
		for (size_t i = 0; i < ARRAY_SIZE(create_only); i++)
			if (!strcmp(tok, create_only[i]))
				fail("Invalid parameter '%s'\nThis option is only supported for image "
				     "creation", tok);
		bool on;
		if (!strcmp(tok, "compat")) {
			r->compat = v;
		} else if (!strcmp(tok, "lazy_refcounts") || !strcmp(tok, "data_file_raw")) {
			if (parse_on_off(v, &on) < 0)
				fail("Parameter '%s' expects 'on' or 'off'", tok);
			*(!strcmp(tok, "lazy_refcounts") ? &r->lazy : &r->data_file_raw) = v;
		} else if (!strcmp(tok, "refcount_bits")) {
			char *end;
			errno = 0;
			(void)strtoull(v, &end, 0);
			if (!*v || *end || errno)
				fail("Parameter 'refcount_bits' expects a number");
			r->refcount_bits = v;
		} else if (!strcmp(tok, "size")) {
			uint64_t sz;
			if (*v == '-' || !parse_size(v, 1, &sz))
				fail("Parameter 'size' expects a non-negative number below 2^64\n"
				     "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
				     "tera-, peta-\nand exabytes, respectively.");
			r->size = v;
		} else if (!strcmp(tok, "backing_file")) {
			r->backing_file = v;
		} else if (!strcmp(tok, "backing_fmt")) {
			r->backing_fmt = v;
		} else if (!strcmp(tok, "data_file")) {
			r->data_file = v;
		} else if (!strncmp(tok, "encrypt.", 8)) {
			r->encrypt = v;
		} else {
			fail("Invalid parameter '%s'", tok);
		}
	}
}

/* Second pass, qemu-img's order: what the values mean for this image. */
static void amend_check(const struct amend_req *r, const struct qcow2_info *qi,
			struct qcow2_amend_opts *o)
{
	if (r->compat) {
		if (!strcmp(r->compat, "0.10") || !strcmp(r->compat, "v2"))
			o->version = 2;
		else if (!strcmp(r->compat, "1.1") || !strcmp(r->compat, "v3"))
			o->version = 3;
		else
			fail("Unknown compatibility level %s", r->compat);
	}
	if ((r->backing_file && strcmp(r->backing_file, qi->backing_file)) ||
	    (r->backing_fmt && strcmp(r->backing_fmt, qi->backing_fmt)))
		fail("Cannot amend the backing file\nYou can use 'qemu-img rebase' instead.");
	if (r->data_file)
		fail("data-file can only be set for images that use an external data file");
	if (r->data_file_raw)
		fail("data-file-raw cannot be set on existing images");
	if (r->encrypt)
		fail("Can't amend encryption options - encryption not present");
	if (r->lazy) {
		bool on;
		parse_on_off(r->lazy, &on);
		o->lazy_refcounts = on;
	}
	if (r->refcount_bits) {
		uint64_t b = strtoull(r->refcount_bits, NULL, 0);
		if (!b || b > 64 || (b & (b - 1)))
			fail("Refcount width must be a power of two and may not exceed 64 bits");
		o->refcount_bits = (unsigned)b;
	}
	if (r->size) {
		uint64_t sz = 0;
		parse_size(r->size, 1, &sz);
		if (sz % 512)
			fail("The new size must be a multiple of 512");
		o->size = sz;
	}
}

static int cmd_amend(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'F' },
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL;
	char *opts = NULL;
	bool progress = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":ho:f:t:pq", lo, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (opts) { /* several -o add up */
				char *m = xzalloc(strlen(opts) + strlen(optarg) + 2);
				sprintf(m, "%s,%s", opts, optarg);
				free(opts);
				opts = m;
			} else {
				opts = xstrdup(optarg);
			}
			break;
		case 'f': fmt = optarg; break;
		case 'p': progress = true; break;
		case 'q': quiet = true; break;
		case 't': case 'F': break; /* cache mode, --force (encryption): no effect here */
		case 'h': usage(stdout); return 0;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (!opts)
		fail("Must specify options (-o)");
	if (has_help(opts) && fmt && optind == argc) {
		if (strcmp(fmt, "qcow2")) {
			if (!creatable(fmt))
				fail("Unknown file format '%s'", fmt);
			fail("Format driver '%s' does not support option amendment", fmt);
		}
		amend_help();
		return 0;
	}
	if (argc - optind != 1)
		fail("Expecting one image file name");
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	const char *path = argv[optind];
	struct block_opts bo = { .no_backing = true };
	struct block_dev *bd = open_img(path, fmt, !has_help(opts) ? false : true, &bo);
	if (!block_is_qcow2(bd))
		fail("Format driver '%s' does not support option amendment", bd->format);
	if (has_help(opts)) {
		amend_help();
		block_close(bd);
		return 0;
	}
	struct amend_req r = { 0 };
	struct qcow2_info qi;
	struct qcow2_amend_opts o = { .lazy_refcounts = -1 };
	amend_parse(opts, &r);
	qcow2_get_info(bd, &qi);
	amend_check(&r, &qi, &o);
	if (o.size && o.size != qi.size && qi.nb_snapshots && qi.version == 2 && o.version != 3)
		fail("Can't resize a v2 image which has snapshots");
	if (o.size && o.size != qi.size)
		refuse_inconsistent_bitmaps(bd);
	if (progress && !quiet) {
		printf("    (0.00/100%%)\r");
		fflush(stdout);
	}
	char err[512];
	int ret = qcow2_amend(bd, &o, err, sizeof(err));
	if (!ret)
		ret = block_flush(bd);
	block_close(bd);
	free(opts);
	if (ret < 0) {
		if (progress && !quiet)
			printf("\n");
		fail("%s", *err ? err : strerror(-ret));
	}
	if (progress && !quiet)
		printf("    (100.00/100%%)\n");
	return 0;
}

/* ---- dd ----------------------------------------------------------------- */

/* qemu-img dd's bs=: a decimal number (a fraction only with a unit
 * suffix) or a 0x hex one without suffix, then an optional unit b k M G T
 * P E (either case). 0 parsed, -EINVAL if malformed, -ERANGE if negative
 * or past 64 bits. */
static int dd_parse_size(const char *s, uint64_t *out)
{
	const char *p = s;
	while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
		p++;
	bool negative = *p == '-';
	if (*p == '-' || *p == '+')
		p++;
	if (!strncmp(p, "0x", 2) || !strncmp(p, "0X", 2)) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(p + 2, &end, 16);
		if (end == p + 2 || *end || strchr(" \t+-", p[2]))
			return -EINVAL;
		if (errno == ERANGE || negative)
			return -ERANGE;
		*out = v;
		return 0;
	}
	uint64_t whole = 0;
	bool digits = false, overflow = false;
	for (; *p >= '0' && *p <= '9'; p++, digits = true) {
		if (whole > (UINT64_MAX - 9) / 10)
			overflow = true;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	double frac = 0, scale = 0.1;
	bool has_frac = *p == '.';
	if (has_frac)
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true, scale /= 10)
			frac += (*p - '0') * scale;
	if (!digits)
		return -EINVAL;
	static const char units[] = "bkmgtpe";
	const char *u = *p ? strchr(units, *p | 0x20) : NULL;
	if (*p && (!u || p[1]))
		return -EINVAL;
	unsigned shift = u ? (unsigned)(u - units) * 10 : 0;
	if (has_frac && !shift)
		return -EINVAL; /* a fraction of a byte */
	if (overflow || negative || (shift && whole > UINT64_MAX >> shift))
		return -ERANGE;
	double f = frac * (double)(1ULL << shift) + 0.5;
	uint64_t v = whole << shift;
	if ((double)(UINT64_MAX - v) < f)
		return -ERANGE;
	*out = v + (uint64_t)f;
	return 0;
}

/* count= and skip=: an integer as strtoll reads it with base 0, taken
 * whole. */
static int dd_parse_int(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (end == s || *end)
		return -EINVAL;
	if (errno == ERANGE || v < 0)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

/* A number option of bench (or dd operand): qemu-img's two messages, for
 * a value it cannot read and one outside [min, max]. */
static uint64_t ranged(const char *what, const char *val, bool is_size, uint64_t min, uint64_t max)
{
	uint64_t v = 0;
	int ret = is_size ? dd_parse_size(val, &v) : dd_parse_int(val, &v);
	if (ret == -EINVAL)
		fail("Invalid %s specified: '%s'.", what, val);
	if (ret < 0 || v < min || v > max)
		fail("Invalid %s specified. Must be between %" PRIu64 " and %" PRIu64 ".", what, min,
		     max);
	return v;
}

/* Reads [off, off+len) of 'bd', zeros past its end: qemu-img sees every
 * image in whole 512-byte sectors. */
static int pread_padded(struct block_dev *bd, uint8_t *buf, uint64_t len, uint64_t off)
{
	uint64_t have = off < bd->size ? MIN(len, bd->size - off) : 0;
	memset(buf + have, 0, len - have);
	return have ? block_pread(bd, buf, have, off) : 0;
}

static int cmd_dd(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output-format", required_argument, NULL, 'O' },
		{ "force-share", no_argument, NULL, 'U' },
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *ifmt = NULL, *ofmt = "raw", *in_path = NULL, *out_path = NULL;
	uint64_t bs = 512, count = 0, skip = 0;
	bool has_count = false, has_skip = false, force_share = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:O:U", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': ifmt = optarg; break;
		case 'O': ofmt = optarg; break;
		case 'U': force_share = true; break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	/* operands in order, a later one of a name replacing an earlier */
	for (int i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		size_t n = eq ? (size_t)(eq - argv[i]) : 0;
		const char *v = eq ? eq + 1 : NULL;
		if (n == 2 && !strncmp(argv[i], "bs", 2))
			bs = ranged("bs", v, true, 1, INT32_MAX);
		else if (n == 5 && !strncmp(argv[i], "count", 5))
			count = ranged("count", v, false, 0, INT64_MAX), has_count = true;
		else if (n == 4 && !strncmp(argv[i], "skip", 4))
			skip = ranged("skip", v, false, 0, INT64_MAX), has_skip = true;
		else if (n == 2 && !strncmp(argv[i], "if", 2))
			in_path = v;
		else if (n == 2 && !strncmp(argv[i], "of", 2))
			out_path = v;
		else /* qemu-img names the operand without its value */
			fail("unrecognized operand %.*s", (int)(eq ? n : strlen(argv[i])), argv[i]);
	}
	if (!in_path || !out_path)
		fail("Must specify both input and output files");
	if (!*in_path)
		fail("Could not open '': The 'file' block driver requires a file name");
	if (image_opts) {
		if (ifmt)
			fail("--image-opts and --format are mutually exclusive");
		in_path = image_spec(in_path);
	}

	share_reads = force_share;
	struct block_opts io = { 0 };
	struct block_dev *in = open_img(in_path, ifmt, true, &io);
	if (!creatable(ofmt))
		fail("Unknown file format");
	uint64_t size = (in->size + 511) / 512 * 512, pos = 0;
	if (has_count && count <= INT64_MAX / bs && count * bs < size)
		size = count * bs;
	/* skip= past the input: an empty output, as dd(1) (status 0) */
	bool skip_past = has_skip && (skip > INT64_MAX / bs || skip * bs > size);
	if (!skip_past)
		pos = skip * bs;
	struct create_opts c = { 0 };
	create_for_dd = true;
	create_image(out_path, ofmt, skip_past ? 0 : (size - pos + 511) / 512 * 512, &c);
	if (skip_past) {
		fprintf(stderr, "vmm-img: %s: cannot skip to specified offset\n", in_path);
		pos = size;
	}
	struct block_opts oo = { .no_barriers = true };
	struct block_dev *out = open_img(out_path, ofmt, false, &oo);
	/* whole blocks at a time, as many as fit a chunk: the bytes written
	 * are the same as one block per request */
	uint64_t chunk = MAX(bs, CHUNK / bs * bs);
	uint8_t *buf = io_buf(chunk);
	int ret = 0;
	if (!buf)
		fail("out of memory");
	for (uint64_t opos = 0; pos < size;) {
		uint64_t n = MIN(chunk, size - pos);
		ret = pread_padded(in, buf, n, pos);
		if (ret < 0) {
			fprintf(stderr, "vmm-img: error while reading from input image file: %s\n",
				strerror(-ret));
			break;
		}
		ret = block_pwrite(out, buf, n, opos);
		if (ret < 0) {
			fprintf(stderr, "vmm-img: error while writing to output image file: %s\n",
				strerror(-ret));
			break;
		}
		pos += n;
		opos += n;
	}
	/* no fdatasync at the end: qemu-img dd leaves the output in the
	 * page cache too (it was 0.4 s of a 1.1 s copy of 512 MiB here) */
	free(buf);
	block_close(out);
	block_close(in);
	return ret < 0 ? 1 : 0;
}

/* ---- bench -------------------------------------------------------------- */

struct bench {
	struct block_dev *bd;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	uint64_t count, issued, in_flight, offset, step, bufsize, flush_interval;
	bool write, drain;
	int error; /* the first failed request's -errno */
	uint8_t pattern;
};

/* One of the parallel submitters: takes the next request (its offset
 * wraps at the image size, as qemu-img's), and before every
 * flush_interval-th one waits for those in flight (unless --no-drain)
 * and flushes. */
static void *bench_worker(void *opaque)
{
	struct bench *b = opaque;
	uint8_t *buf = io_buf(b->bufsize);
	if (!buf)
		fail("out of memory");
	memset(buf, b->pattern, b->bufsize);
	pthread_mutex_lock(&b->lock);
	while (!b->error && b->issued < b->count) {
		uint64_t i = b->issued++, off = b->offset;
		b->offset = (b->offset + b->step) % b->bd->size;
		if (b->flush_interval && i && i % b->flush_interval == 0) {
			while (b->drain && b->in_flight)
				pthread_cond_wait(&b->idle, &b->lock);
			int ret = block_flush(b->bd);
			if (ret < 0 && !b->error)
				b->error = ret;
		}
		b->in_flight++;
		pthread_mutex_unlock(&b->lock);
		int ret = off > b->bd->size || b->bufsize > b->bd->size - off ? -EIO :
			  b->write ? block_pwrite(b->bd, buf, b->bufsize, off) :
				     block_pread(b->bd, buf, b->bufsize, off);
		pthread_mutex_lock(&b->lock);
		if (ret < 0 && !b->error)
			b->error = ret;
		if (!--b->in_flight)
			pthread_cond_broadcast(&b->idle);
	}
	pthread_mutex_unlock(&b->lock);
	free(buf);
	return NULL;
}

static int cmd_bench(int argc, char **argv)
{
	enum { OPT_FLUSH = 256, OPT_NO_DRAIN, OPT_PATTERN };
	static const struct option lo[] = {
		{ "flush-interval", required_argument, NULL, OPT_FLUSH },
		{ "no-drain", no_argument, NULL, OPT_NO_DRAIN },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "force-share", no_argument, NULL, 'U' },
		LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .count = 75000, .bufsize = 4096, .drain = true };
	uint64_t depth = 64;
	const char *fmt = NULL;
	bool has_flush = false;
	enum block_cache cache = BLOCK_CACHE_WRITEBACK;
	int ch;

	while ((ch = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", lo, NULL)) != -1) {
		switch (ch) {
		case 'h': usage(stdout); return 0;
		case 'c': b.count = ranged("request count", optarg, false, 1, INT32_MAX); break;
		case 'd': depth = ranged("queue depth", optarg, false, 1, INT32_MAX); break;
		case 'f': fmt = optarg; break;
		case 'n': break; /* native AIO: the block layer's own I/O here */
		case 'i':
			if (strcmp(optarg, "threads") && strcmp(optarg, "native") &&
			    strcmp(optarg, "io_uring"))
				fail("Invalid aio option: %s", optarg);
			break;
		case 'o': b.offset = ranged("offset", optarg, true, 0, INT64_MAX); break;
		case 'q': quiet = true; break;
		case 's': b.bufsize = ranged("buffer size", optarg, true, 1, INT32_MAX); break;
		case 'S': b.step = ranged("step size", optarg, true, 0, INT32_MAX); break;
		case 't': {
			int c = block_cache_parse(optarg);
			if (c < 0)
				fail("Invalid cache mode");
			cache = (enum block_cache)c;
			break;
		}
		case 'w': b.write = true; break;
		case 'U': share_reads = true; break;
		case OPT_FLUSH:
			b.flush_interval = ranged("flush interval", optarg, false, 0, INT32_MAX);
			has_flush = true;
			break;
		case OPT_NO_DRAIN: b.drain = false; break;
		case OPT_PATTERN:
			b.pattern = (uint8_t)ranged("pattern byte", optarg, false, 0, 255);
			break;
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (argc - optind != 1)
		fail("Expecting one image file name");
	if (has_flush && !b.write)
		fail("--flush-interval is only available in write tests");
	if (b.flush_interval && b.flush_interval < depth)
		fail("Flush interval can't be smaller than depth");
	if (!b.step)
		b.step = b.bufsize;
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	struct block_opts o = { .cache = cache };
	b.bd = open_img(argv[optind], fmt, !b.write, &o);
	printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %" PRIu64 " in parallel "
	       "(starting at offset %" PRIu64 ", step size %" PRIu64 ")\n", b.count,
	       b.write ? "write" : "read", b.bufsize, depth, b.offset, b.step);
	if (b.flush_interval)
		printf("Sending flush every %" PRIu64 " requests\n", b.flush_interval);
	fflush(stdout);

	/* the parallel requests: one thread each, up to 16 (the block
	 * layer is synchronous; more threads only contend) */
	unsigned nthreads = (unsigned)MIN(MIN(depth, 16), b.count);
	pthread_t *t = xzalloc(nthreads * sizeof(*t));
	struct timespec t0, t1;
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.idle, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, bench_worker, &b))
			fail("cannot start a thread");
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	if (!b.error && b.write && b.flush_interval)
		b.error = block_flush(b.bd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(t);
	block_close(b.bd);
	if (b.error)
		fail("Failed request: %s", strerror(-b.error));
	printf("Run completed in %3.3f seconds.\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

/* ---- bitmap ------------------------------------------------------------- */

/* qemu-img bitmap: changes to a qcow2 image's persistent dirty bitmaps,
 * done in the order given. All are checked first (names, granularity,
 * the merge sources) on a read-only open, so a failing one leaves the
 * image as it was (qemu-img does the ones before it). */
struct bitmap_step {
	enum qcow2_bitmap_op op;
	const char *src; /* --merge */
};

static const char *const bitmap_op_names[] = {
	[QCOW2_BITMAP_ADD] = "add", [QCOW2_BITMAP_REMOVE] = "remove",
	[QCOW2_BITMAP_CLEAR] = "clear", [QCOW2_BITMAP_ENABLE] = "enable",
	[QCOW2_BITMAP_DISABLE] = "disable", [QCOW2_BITMAP_MERGE] = "merge",
};

static void bitmap_step_failed(const struct bitmap_step *st, const char *name, const char *why)
	__attribute__((noreturn));
static void bitmap_step_failed(const struct bitmap_step *st, const char *name, const char *why)
{
	fail("Operation %s on bitmap %s failed: %s", bitmap_op_names[st->op], name, why);
}

static bool bitmap_listed(char **names, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return true;
	return false;
}

static int cmd_bitmap(int argc, char **argv)
{
	enum { OPT_ADD = 256, OPT_REMOVE, OPT_CLEAR, OPT_ENABLE, OPT_DISABLE, OPT_MERGE,
	       OPT_DISABLED };
	static const struct option lo[] = {
		{ "add", no_argument, NULL, OPT_ADD }, { "remove", no_argument, NULL, OPT_REMOVE },
		{ "clear", no_argument, NULL, OPT_CLEAR }, { "enable", no_argument, NULL, OPT_ENABLE },
		{ "disable", no_argument, NULL, OPT_DISABLE },
		{ "merge", required_argument, NULL, OPT_MERGE },
		{ "disabled", no_argument, NULL, OPT_DISABLED },
		{ "format", required_argument, NULL, 'f' },
		{ "source-file", required_argument, NULL, 'b' },
		{ "source-format", required_argument, NULL, 'F' },
		{ "granularity", required_argument, NULL, 'g' },
		LONG_OBJECT, LONG_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct bitmap_step steps[64];
	unsigned nsteps = 0;
	const char *fmt = NULL, *src_file = NULL, *src_fmt = NULL;
	uint64_t granularity = 0;
	bool has_g = false, has_add = false, has_merge = false, disabled = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:b:F:g:q", lo, NULL)) != -1) {
		if (ch >= OPT_ADD && ch <= OPT_MERGE) {
			if (nsteps == ARRAY_SIZE(steps))
				fail("too many operations");
			steps[nsteps++] = (struct bitmap_step){ .op = (enum qcow2_bitmap_op)(ch - OPT_ADD),
							       .src = ch == OPT_MERGE ? optarg : NULL };
			has_add |= ch == OPT_ADD;
			has_merge |= ch == OPT_MERGE;
			continue;
		}
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'b': src_file = optarg; break;
		case 'F': src_fmt = optarg; break;
		case 'q': quiet = true; break;
		case 'g':
			if (parse_option_size(optarg, &granularity) < 0)
				fail("Invalid granularity specified: '%s'.", optarg);
			has_g = true;
			break;
		case OPT_DISABLED: disabled = true; break; /* vmm-img's: --add then --disable */
		default: common_opt(argv[0], ch, argv);
		}
	}
	if (!nsteps)
		fail("Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
	if (has_g && !has_add)
		fail("granularity only supported with --add");
	if (disabled && !has_add)
		fail("--disabled only supported with --add");
	if (src_fmt && !src_file)
		fail("-F only supported with -b");
	if (src_file && !has_merge)
		fail("Merge bitmap source file only supported with --merge");
	if (argc - optind != 2)
		fail("Expecting filename and bitmap name");
	if (image_opts)
		image_opts_args(argv, optind, optind + 1, fmt);
	const char *path = argv[optind], *name = argv[optind + 1];
	if (disabled) {
		for (unsigned i = 0; i < nsteps; i++) {
			if (steps[i].op != QCOW2_BITMAP_ADD)
				continue;
			if (nsteps == ARRAY_SIZE(steps))
				fail("too many operations");
			memmove(&steps[i + 2], &steps[i + 1], (nsteps - i - 1) * sizeof(steps[0]));
			steps[i + 1] = (struct bitmap_step){ .op = QCOW2_BITMAP_DISABLE };
			nsteps++;
			i++;
		}
	}

	/* the checks, on the names the steps would leave */
	struct block_dev *bd = open_img(path, fmt, true, NULL);
	if (!block_is_qcow2(bd))
		fail("Operation %s on bitmap %s failed: Can't store persistent bitmaps to '%s': "
		     "Operation not supported", bitmap_op_names[steps[0].op], name, path);
	struct qcow2_info qi;
	qcow2_get_info(bd, &qi);
	struct qcow2_bitmap_info *have;
	int n = qcow2_bitmap_list(bd, &have);
	char **names = xzalloc((size_t)(n + 1) * sizeof(*names));
	for (int i = 0; i < n; i++)
		names[i] = have[i].name;
	bool exists = bitmap_listed(names, (unsigned)n, name);
	uint8_t **src_bits = xzalloc(nsteps * sizeof(*src_bits));
	uint64_t *src_gran = xzalloc(nsteps * sizeof(*src_gran));
	for (unsigned i = 0; i < nsteps; i++) {
		const struct bitmap_step *st = &steps[i];
		char why[1200];
		if (st->op == QCOW2_BITMAP_ADD) {
			uint64_t g = has_g ? granularity : 1;
			if (qi.version < 3) {
				snprintf(why, sizeof(why), "Can't make bitmap '%s' persistent in '%s': "
					 "Cannot store dirty bitmaps in qcow2 v2 files", name, path);
				bitmap_step_failed(st, name, why);
			}
			if (exists) {
				snprintf(why, sizeof(why), "Bitmap already exists: %s", name);
				bitmap_step_failed(st, name, why);
			}
			if (has_g && (g < 512 || g > (1ULL << 31) || (g & (g - 1))))
				bitmap_step_failed(st, name,
						   "Granularity must be power of 2 and at least 512");
			if (!*name)
				bitmap_step_failed(st, name, "Bitmap name cannot be empty");
			/* the bitmap's size: at most 512 MiB, as QEMU's */
			uint64_t gr = has_g ? g : MAX(4096, qi.cluster_size);
			uint64_t bytes = (bd->size / gr + (bd->size % gr != 0) + 7) / 8;
			if (bytes > 512 * MiB) {
				snprintf(why, sizeof(why), "Too large bitmap: %" PRIu64 " bytes (at most "
					 "%" PRIu64 ")", bytes, (uint64_t)(512 * MiB));
				bitmap_step_failed(st, name, why);
			}
			if (strlen(name) > 1023) {
				snprintf(why, sizeof(why), "Can't make bitmap '%s' persistent in '%s': "
					 "Name length exceeds maximum (1023 characters)", name, path);
				bitmap_step_failed(st, name, why);
			}
			exists = true;
			continue;
		}
		if (st->op == QCOW2_BITMAP_MERGE) {
			/* the source is read now: a later step may change it */
			struct block_dev *sb = src_file ? open_img(src_file, src_fmt, true, NULL) : bd;
			int r = block_is_qcow2(sb) ? qcow2_bitmap_read(sb, st->src, &src_bits[i],
								       &src_gran[i]) : -ENOENT;
			if (r == -ENOENT) {
				snprintf(why, sizeof(why), "Dirty bitmap '%s' not found", st->src);
				bitmap_step_failed(st, name, why);
			}
			if (r < 0)
				bitmap_step_failed(st, name, strerror(-r));
			if (sb->size != bd->size)
				bitmap_step_failed(st, name, "Bitmaps are of different sizes");
			if (sb != bd)
				block_close(sb);
		}
		if (!exists) {
			snprintf(why, sizeof(why), "Dirty bitmap '%s' not found", name);
			bitmap_step_failed(st, name, why);
		}
		if (st->op == QCOW2_BITMAP_REMOVE)
			exists = false;
	}
	free(names);
	free(have);
	block_close(bd);

	bd = open_img(path, fmt, false, NULL);
	for (unsigned i = 0; i < nsteps; i++) {
		char err[1200] = "";
		if (qcow2_bitmap_change(bd, steps[i].op, name, granularity, src_bits[i], src_gran[i],
					err, sizeof(err)) < 0)
			bitmap_step_failed(&steps[i], name, err);
		free(src_bits[i]);
	}
	int ret = block_flush(bd);
	block_close(bd);
	free(src_bits);
	free(src_gran);
	if (ret < 0)
		fail("%s: %s", path, strerror(-ret));
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmm-img COMMAND [options]\n"
		"  create [--object OBJ] [-f fmt] [-b base -F fmt] [-o cluster_size=..,compat=..,refcount_bits=..] "
		"FILE [SIZE]\n"
		"  info [--object OBJ] [--image-opts] [-f fmt] [--output=human|json] [--backing-chain] FILE\n"
		"  convert [-c] [-p] [-n] [-f fmt] [-O fmt] [-B base] [-o opts] [-l snapshot]\n"
		"          [--object OBJ] [--image-opts] [--target-image-opts]\n"
		"          [--bitmaps [--skip-broken-bitmaps]]\n"
		"          [-S size] [-m N] [-W] [-t cache] [-T cache] IN... OUT\n"
		"  check [--object OBJ] [--image-opts] [-f fmt] [-r leaks|all] FILE\n"
		"  commit [--object OBJ] [--image-opts] [-f fmt] [-d] [-p] [-b base] [-r rate] [-t cache] FILE\n"
		"  compare [--object OBJ] [--image-opts] [-f fmt] [-F fmt] [-s] FILE1 FILE2\n"
		"  resize [--object OBJ] [--image-opts] [-f fmt] [--shrink] FILE [+-]SIZE\n"
		"  snapshot [--object OBJ] [--image-opts] -l|-c NAME|-a NAME|-d NAME FILE\n"
		"  rebase [--object OBJ] [--image-opts] [-f fmt] [-u] -b base [-F fmt] FILE\n"
		"  map [--object OBJ] [--image-opts] [-f fmt] [--output=human|json]\n"
		"        [--start-offset=N] [--max-length=N] FILE\n"
		"  measure [--object OBJ] [--image-opts] [--output=human|json] [-O fmt] [-o opts]\n"
		"          [--size N | [-f fmt] [-l snap] FILE]\n"
		"  amend [--object OBJ] [--image-opts] [-f fmt] [-p] [-q] -o compat=..,lazy_refcounts=..,refcount_bits=..,size=.. "
		"FILE\n"
		"  bench [--image-opts] [-c count] [-d depth] [-f fmt] [--flush-interval=N] [--no-drain] [-o offset]\n"
		"        [--pattern=byte] [-q] [-s size] [-S step] [-t cache] [-w] [-U] FILE\n"
		"  dd [--object OBJ] [--image-opts] [-f fmt] [-O fmt] [-U] [bs=N] [count=N] [skip=N] if=IN of=OUT\n"
		"  bitmap (--add [-g size] [--disabled] | --remove | --clear | --enable | --disable |\n"
		"          --merge SRC [-b SRC_FILE [-F fmt]])... [--object OBJ] [--image-opts] [-f fmt]\n"
		"          FILE BITMAP\n"
		"  --help, -h\n"
		"  --version, -V\n"
		"Formats: raw, qcow2, qcow (version 1), vmdk (monolithicSparse, monolithicFlat),\n"
		"vdi (-o static=on|off), vpc (-o subformat=dynamic|fixed, force_size=on|off):\n"
		"read and write, and created by create and convert -O. vhdx and qed images are\n"
		"recognised and refused.\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "create", cmd_create }, { "info", cmd_info }, { "convert", cmd_convert },
		{ "check", cmd_check }, { "compare", cmd_compare }, { "commit", cmd_commit },
		{ "resize", cmd_resize }, { "snapshot", cmd_snapshot }, { "rebase", cmd_rebase },
		{ "map", cmd_map }, { "measure", cmd_measure }, { "dd", cmd_dd },
		{ "amend", cmd_amend }, { "bench", cmd_bench }, { "bitmap", cmd_bitmap },
	};

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	opterr = 0; /* each command reports a bad option itself: opt_error() */
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("vmm-img version " VMM_VERSION "\n");
		return 0;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmm-img: Command not found: %s\n", argv[1]);
	return 1;
}
