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
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "qcow.h"
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
static const struct option no_long_options[] = { { NULL, 0, NULL, 0 } };

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

static struct block_dev *open_img(const char *path, const char *fmt, bool ro,
				  const struct block_opts *o)
{
	char err[512];
	struct block_dev *bd = block_open(path, fmt, ro, o, err, sizeof(err));
	if (!bd)
		fail("Could not open '%s': %s", path, err);
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
	const char *prealloc;  /* preallocation= other than off: measure only */
	bool prealloc_full;    /* falloc or full */
};

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
			if (strcmp(v, "off") && strcmp(v, "metadata") && strcmp(v, "falloc") &&
			    strcmp(v, "full"))
				fail("Parameter 'preallocation' does not accept value '%s'", v);
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

static void create_image(const char *path, const char *fmt, uint64_t size,
			 const struct create_opts *c)
{
	char err[512];
	if (c->prealloc)
		fail("preallocation=%s is not supported (only measure takes it)", c->prealloc);
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
			fail("%s: %s", path, strerror(errno));
		close(fd);
	} else if (!strcmp(fmt, "qcow2")) {
		struct qcow2_create_opts o = {
			.size = size, .cluster_size = c->cluster_size, .version = c->version,
			.refcount_bits = c->refcount_bits, .backing_file = c->backing_file,
			.backing_fmt = c->backing_fmt,
		};
		if (qcow2_create(path, &o, err, sizeof(err)) < 0)
			fail("%s: %s", path, err);
	} else if (!strcmp(fmt, "qcow")) {
		if (c->cluster_size || c->version || c->refcount_bits)
			fail("Invalid parameter '%s'", c->cluster_size ? "cluster_size" :
			     c->version ? "compat" : "refcount_bits");
		if (qcow_create(path, size, c->backing_file, err, sizeof(err)) < 0)
			fail("%s: %s", path, err);
	} else if (!strcmp(fmt, "vdi")) {
		if (vdi_create(path, size, c->is_static, err, sizeof(err)) < 0)
			fail("%s: %s", path, err);
	} else if (!strcmp(fmt, "vpc")) {
		bool fixed = c->subformat && !strcmp(c->subformat, "fixed");
		if (vpc_create(path, size, fixed, c->force_size, err, sizeof(err)) < 0)
			fail("%s: %s", path, err);
	} else if (!strcmp(fmt, "vmdk")) {
		if (c->backing_file)
			fail("Backing files are not supported for file format 'vmdk' here");
		enum vmdk_subformat sub = c->subformat && !strcmp(c->subformat, "monolithicFlat")
						  ? VMDK_MONOLITHIC_FLAT : VMDK_MONOLITHIC_SPARSE;
		if (vmdk_create(path, size, sub, err, sizeof(err)) < 0)
			fail("%s: %s", path, err);
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
	struct block_dev *bd = block_open_backing(image, qi->backing_file, bfmt, ro, o, !trusted,
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

static int cmd_create(int argc, char **argv)
{
	const char *fmt = "raw";
	struct create_opts c = { 0 };
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:b:F:o:qu", no_long_options, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'b': c.backing_file = optarg; break;
		case 'F': c.backing_fmt = optarg; break;
		case 'o': parse_o(optarg, &c); break;
		case 'q': quiet = true; break;
		case 'u': break;
		default: opt_error(argv[0], ch, argv);
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
	if (!quiet) {
		if (!strcmp(fmt, "qcow2"))
			printf("Formatting '%s', fmt=qcow2 cluster_size=%u extended_l2=off "
			       "compression_type=zlib size=%" PRIu64 "%s%s%s%s lazy_refcounts=off "
			       "refcount_bits=%u\n", path, c.cluster_size ? c.cluster_size : 65536,
			       size, c.backing_file ? " backing_file=" : "",
			       c.backing_file ? c.backing_file : "",
			       c.backing_fmt ? " backing_fmt=" : "", c.backing_fmt ? c.backing_fmt : "",
			       c.refcount_bits ? c.refcount_bits : 16);
		else if (!strcmp(fmt, "vdi"))
			printf("Formatting '%s', fmt=vdi size=%" PRIu64 " static=%s\n", path, size,
			       c.is_static ? "on" : "off");
		else
			printf("Formatting '%s', fmt=%s size=%" PRIu64 "%s%s%s%s%s%s%s\n", path, fmt,
			       size, c.backing_file ? " backing_file=" : "",
			       c.backing_file ? c.backing_file : "",
			       c.backing_fmt ? " backing_fmt=" : "", c.backing_fmt ? c.backing_fmt : "",
			       c.subformat && !strcmp(fmt, "vpc") ? " subformat=" : "",
			       c.subformat && !strcmp(fmt, "vpc") ? c.subformat : "",
			       c.force_size ? " force_size=on" : "");
	}
	create_image(path, fmt, size, &c);
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

static void info_one(const char *path, struct block_dev *bd, bool json, bool last)
{
	struct stat st;
	struct qcow2_info qi;
	bool q = block_is_qcow2(bd);
	uint64_t actual = stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
	char sz[32], asz[32];

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
		printf("    \"format\": \"%s\",\n", bd->format);
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
			printf("    \"dirty-flag\": false\n");
		}
		printf("}%s\n", last ? "" : ",");
		return;
	}
	size_str(sz, sizeof(sz), bd->size);
	size_str(asz, sizeof(asz), actual);
	printf("image: %s\nfile format: %s\nvirtual size: %s (%" PRIu64 " bytes)\ndisk size: %s\n",
	       path, bd->format, sz, bd->size, asz);
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
		case 'U': break;
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (optind >= argc)
		fail("Expecting one image file name");
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

static int cmd_convert(int argc, char **argv)
{
	const char *ifmt = NULL, *ofmt = "raw", *base = NULL, *snap = NULL;
	struct create_opts c = { 0 };
	bool compress = false, progress = false, no_create = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":cpf:O:B:o:l:qnt:T:m:WU", no_long_options, NULL)) != -1) {
		switch (ch) {
		case 'c': compress = true; break;
		case 'p': progress = true; break;
		case 'f': ifmt = optarg; break;
		case 'O': ofmt = optarg; break;
		case 'B': base = optarg; break;
		case 'o': parse_o(optarg, &c); break;
		case 'l':
			snap = !strncmp(optarg, "snapshot.name=", 14) ? optarg + 14 :
			       !strncmp(optarg, "snapshot.id=", 12) ? optarg + 12 : optarg;
			break;
		case 'q': quiet = true; break;
		case 'n': no_create = true; break;
		case 't': case 'T': case 'm': case 'W': case 'U': break; /* accepted, no effect here */
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (argc - optind < 2)
		fail("Expecting image file name");
	int nin = argc - optind - 1;
	const char *out = argv[argc - 1];
	struct block_dev **in = xzalloc((size_t)nin * sizeof(*in));
	struct block_opts io = { .snapshot = snap };
	uint64_t total = 0;
	for (int i = 0; i < nin; i++) {
		in[i] = open_img(argv[optind + i], ifmt, true, &io);
		total += in[i]->size;
	}
	if (compress && strcmp(ofmt, "qcow2"))
		fail("Compression not supported for this file format");
	if (base) {
		c.backing_file = base;
		c.backing_fmt = backing_format_of(out, base, c.backing_fmt);
	}
	if (no_create && (base || c.cluster_size || c.subformat || c.version || c.is_static ||
			  c.force_size))
		fail("-n cannot be combined with -B or -o");
	if (!no_create)
		create_image(out, ofmt, total, &c);
	/* An existing target (-n) may be worth keeping after a crash: keep
	 * its metadata ordered. */
	struct block_opts oo = { .no_barriers = !no_create };
	struct block_dev *o = open_img(out, ofmt, false, &oo);
	if (no_create && o->size < total)
		fail("Target image is smaller than the source (%" PRIu64 " < %" PRIu64 " bytes)",
		     o->size, total);
	uint64_t cs = block_is_qcow2(o) ? qcow2_cluster_size(o) : 65536;
	uint64_t chunk = MAX(CHUNK, cs);
	uint8_t *buf = malloc(chunk), *bbuf = base ? malloc(chunk) : NULL;
	uint64_t done = 0, opos = 0;
	int ret = 0, lastpct = -1;

	if (!buf || (base && !bbuf))
		fail("out of memory");
	for (int i = 0; i < nin && !ret; i++) {
		for (uint64_t off = 0; off < in[i]->size && !ret;) {
			uint64_t n = MIN(chunk, in[i]->size - off), pn;
			/* holes of a layer without backing read as zeros: skip them */
			if (!base && !block_has_backing(in[i])) {
				/* in whole output clusters, so -c sees whole ones */
				int st = block_status(in[i], off, n, &pn);
				uint64_t lim = n;
				if (st == 0) {
					uint64_t e = (opos + MIN(n, pn)) / cs * cs;
					if (e > opos) {
						n = e - opos;
						/* an existing target may hold data there */
						if (no_create &&
						    (ret = block_pwrite_zeroes(o, n, opos)) < 0) {
							fprintf(stderr, "vmm-img: error while writing "
								"at byte %" PRIu64 ": %s\n", opos,
								strerror(-ret));
							break;
						}
						goto next;
					}
					st = 1; /* a hole inside a cluster: read it */
				}
				if (st > 0) {
					uint64_t e = (opos + MIN(n, pn) + cs - 1) / cs * cs;
					n = MIN(lim, e - opos);
				}
			}
			ret = block_pread(in[i], buf, n, off);
			if (ret < 0) {
				fprintf(stderr, "vmm-img: error while reading at byte %" PRIu64 ": %s\n",
					off, strerror(-ret));
				break;
			}
			for (uint64_t p = 0, run = 0, run_len = 0; p <= n && !ret;) {
				/* per output cluster (the last may be short); runs of
				 * non-zero clusters go out in one write */
				uint64_t q = p < n ? MIN(n - p, cs - ((opos + p) % cs)) : 0;
				const uint8_t *d = buf + p;
				bool zero = p < n ? is_zero(d, q) : true;
				if (p < n && zero && no_create) {
					ret = block_pwrite_zeroes(o, q, opos + p);
				} else if (p < n && base) {
					ret = block_pread(o, bbuf, q, opos + p);
					if (!ret && !memcmp(bbuf, d, q))
						zero = true; /* same as the base: leave it to it */
					else if (!ret && zero)
						ret = block_pwrite_zeroes(o, q, opos + p);
					else
						zero = false;
				}
				if (ret < 0)
					break;
				if (!zero && compress && q == cs) {
					ret = qcow2_write_compressed(o, opos + p, d);
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
			if (ret < 0) {
				fprintf(stderr, "vmm-img: error while writing at byte %" PRIu64 ": %s\n",
					opos, strerror(-ret));
				break;
			}
next:
			off += n;
			opos += n;
			done += n;
			if (progress && !quiet && total) {
				int pct = (int)(done * 10000 / total);
				if (pct != lastpct) {
					printf("    (%d.%02d/100%%)\r", pct / 100, pct % 100);
					fflush(stdout);
					lastpct = pct;
				}
			}
		}
	}
	if (progress && !quiet)
		printf("    (100.00/100%%)\n");
	if (!ret)
		ret = block_flush(o);
	block_close(o);
	for (int i = 0; i < nin; i++)
		block_close(in[i]);
	free(in);
	free(buf);
	free(bbuf);
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
	if (r->compressed_clusters)
		printf(",\n    \"compressed-clusters\": %" PRIu64, r->compressed_clusters);
	printf("\n}\n");
}

static int cmd_check(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "repair", required_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
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
		case 'U': break;
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (optind >= argc)
		fail("Expecting one image file name");
	if (argc - optind > 1)
		fail("Expecting one image file name (extra argument '%s')", argv[optind + 1]);
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
			check_report_json(path, bd->format, &r, 0, 0);
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
		check_report_json(path, bd->format, &r, leaks_fixed, corruptions_fixed);
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

static int cmd_compare(int argc, char **argv)
{
	const char *f1 = NULL, *f2 = NULL;
	bool strict = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:F:spqU", no_long_options, NULL)) != -1) {
		switch (ch) {
		case 'f': f1 = optarg; break;
		case 'F': f2 = optarg; break;
		case 's': strict = true; break;
		case 'q': quiet = true; break;
		case 'p': case 'U': break; /* accepted, no effect here */
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (argc - optind != 2)
		fail("Expecting two image file names");
	struct block_dev *a = open_img(argv[optind], f1, true, NULL);
	struct block_dev *b = open_img(argv[optind + 1], f2, true, NULL);
	uint64_t common = MIN(a->size, b->size), big = MAX(a->size, b->size);
	uint8_t *x = malloc(CHUNK), *y = malloc(CHUNK);
	int rc = 0;

	if (a->size != b->size) {
		if (strict) {
			printf("Strict mode: Image size mismatch!\n");
			return 1;
		}
		if (!quiet)
			printf("Warning: Image size mismatch!\n");
	}
	for (uint64_t off = 0; off < big && !rc; off += CHUNK) {
		uint64_t n = MIN(CHUNK, big - off);
		uint64_t na = off < a->size ? MIN(n, a->size - off) : 0;
		uint64_t nb = off < b->size ? MIN(n, b->size - off) : 0;
		memset(x, 0, n);
		memset(y, 0, n);
		if ((na && block_pread(a, x, na, off) < 0) || (nb && block_pread(b, y, nb, off) < 0)) {
			fprintf(stderr, "vmm-img: Error while reading offset %" PRIu64 "\n", off);
			rc = 4;
			break;
		}
		if (memcmp(x, y, n)) {
			for (uint64_t i = 0; i < n; i += 512)
				if (memcmp(x + i, y + i, MIN(512, n - i))) {
					if (!quiet)
						printf("Content mismatch at offset %" PRIu64 "!\n",
						       off + i);
					break;
				}
			rc = 1;
		}
	}
	(void)common;
	if (!rc && !quiet)
		printf("Images are identical.\n");
	free(x);
	free(y);
	block_close(a);
	block_close(b);
	return rc;
}

/* ---- commit ------------------------------------------------------------- */

static int cmd_commit(int argc, char **argv)
{
	const char *fmt = NULL;
	bool keep = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:dpqt:b:", no_long_options, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'd': keep = true; break;
		case 'q': quiet = true; break;
		case 'p': case 't': break; /* accepted, no effect here */
		case 'b': fail("-b is not supported (commits into the direct backing file)");
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (optind >= argc)
		fail("Expecting one image file name");
	const char *path = argv[optind];
	struct block_opts o = { .no_backing = true };
	struct block_dev *top = open_img(path, fmt, true, &o);
	struct qcow2_info qi;
	if (!block_is_qcow2(top) || (qcow2_get_info(top, &qi), !qi.backing_file[0]))
		fail("Image does not have a backing file");
	char *bp = block_path_beside(path, qi.backing_file);
	struct block_dev *base = open_backing_of(path, fmt != NULL, &qi, false, NULL);
	uint8_t *buf = malloc(CHUNK);
	int ret = 0;

	if (base->size < top->size)
		fail("the backing file is smaller than the image (not supported)");
	for (uint64_t off = 0; off < top->size && !ret;) {
		uint64_t n;
		int st = block_status(top, off, MIN(CHUNK, top->size - off), &n);
		if (st < 0) {
			ret = st;
			break;
		}
		n = MIN(n, CHUNK);
		if (st) {
			ret = block_pread(top, buf, n, off);
			if (!ret)
				ret = block_pwrite(base, buf, n, off);
		}
		off += n;
	}
	if (!ret)
		ret = block_flush(base);
	block_close(base);
	free(buf);
	if (ret < 0)
		fail("Commit failed: %s", strerror(-ret));
	if (!keep && qi.nb_snapshots == 0) {
		/* empty the top image: recreate it with the same parameters */
		struct create_opts c = { .cluster_size = qi.cluster_size, .version = qi.version,
					 .refcount_bits = qi.refcount_bits,
					 .backing_file = qi.backing_file,
					 .backing_fmt = qi.backing_fmt[0] ? qi.backing_fmt : NULL };
		uint64_t size = top->size;
		block_close(top);
		top = NULL;
		create_image(path, "qcow2", size, &c);
	}
	block_close(top);
	free(bp);
	if (!quiet)
		printf("Image committed.\n");
	return 0;
}

/* ---- resize ------------------------------------------------------------- */

static int cmd_resize(int argc, char **argv)
{
	const char *fmt = NULL;
	bool shrink = false;
	static const struct option lo[] = {
		{ "shrink", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	/* a negative size looks like an option: stop at the file name */
	while ((ch = getopt_long(argc, argv, "+:f:q", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'q': quiet = true; break;
		case 'S': shrink = true; break;
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (argc - optind != 2)
		fail("Expecting image file name and size");
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

	while ((ch = getopt_long(argc, argv, ":lc:a:d:f:qU", no_long_options, NULL)) != -1) {
		switch (ch) {
		case 'l': op = 'l'; break;
		case 'c': case 'a': case 'd': op = (char)ch; name = optarg; break;
		case 'f': fmt = optarg; break;
		case 'q': quiet = true; break;
		case 'U': break; /* accepted, no effect here */
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (optind >= argc || !op)
		fail("Expecting one image file name and an action (-l, -c, -a, -d)");
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
		     ret == -ENOTSUP ? "the image was resized since" : strerror(-ret));
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
		case 'U': break;
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (argc - optind != 1)
		fail("Expecting one image file name");
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

static int cmd_measure(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'j' },
		{ "size", required_argument, NULL, 's' },
		{ "force-share", no_argument, NULL, 'U' },
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
		case 'U': break;
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (size_arg && optind < argc)
		fail("--size N cannot be used together with a filename.");
	if (!size_arg && argc - optind != 1)
		fail("Either --size N or one filename must be specified.");
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
			printf("    \"bitmaps\": 0,\n");
		printf("    \"required\": %" PRIu64 ",\n    \"fully-allocated\": %" PRIu64 "\n}\n",
		       required, full);
	} else {
		printf("required size: %" PRIu64 "\nfully allocated size: %" PRIu64 "\n", required,
		       full);
		if (bitmaps)
			printf("bitmaps size: 0\n");
	}
	return 0;
}

/* ---- rebase ------------------------------------------------------------- */

static int cmd_rebase(int argc, char **argv)
{
	const char *fmt = NULL, *nb = NULL, *nbf = NULL;
	bool unsafe = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":f:b:F:upqt:T:U", no_long_options, NULL)) != -1) {
		switch (ch) {
		case 'f': fmt = optarg; break;
		case 'b': nb = optarg; break;
		case 'F': nbf = optarg; break;
		case 'u': unsafe = true; break;
		case 'q': quiet = true; break;
		case 'p': case 't': case 'T': case 'U': break; /* accepted, no effect here */
		default: opt_error(argv[0], ch, argv);
		}
	}
	if (optind >= argc || !nb)
		fail("Expecting one image file name and -b BACKING");
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
		uint8_t *x = malloc(CHUNK), *y = malloc(CHUNK);
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
				if (!ret && memcmp(x, y, n))
					ret = block_pwrite(top, x, n, off);
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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmm-img COMMAND [options]\n"
		"  create [-f fmt] [-b base -F fmt] [-o cluster_size=..,compat=..,refcount_bits=..] "
		"FILE [SIZE]\n"
		"  info [-f fmt] [--output=human|json] [--backing-chain] FILE\n"
		"  convert [-c] [-p] [-n] [-f fmt] [-O fmt] [-B base] [-o opts] [-l snapshot] IN... OUT\n"
		"  check [-f fmt] [-r leaks|all] FILE\n"
		"  commit [-f fmt] [-d] FILE\n"
		"  compare [-f fmt] [-F fmt] [-s] FILE1 FILE2\n"
		"  resize [-f fmt] [--shrink] FILE [+-]SIZE\n"
		"  snapshot -l|-c NAME|-a NAME|-d NAME FILE\n"
		"  rebase [-f fmt] [-u] -b base [-F fmt] FILE\n"
		"  map [-f fmt] [--output=human|json] [--start-offset=N] [--max-length=N] FILE\n"
		"  measure [--output=human|json] [-O fmt] [-o opts] [--size N | [-f fmt] [-l snap] FILE]\n"
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
		{ "map", cmd_map }, { "measure", cmd_measure },
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
