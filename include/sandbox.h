/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sandbox: -sandbox (seccomp allow-lists per thread kind), -runas and
 * -chroot. See docs/security.md for the threat model and the lists.
 *
 * Order of use: sandbox_parse() from the command line; sandbox_init() once
 * the configuration is known (resolves -runas, builds the filters, hooks
 * SIGSYS); sandbox_thread_start() first thing in every thread vmm creates;
 * sandbox_enter() in the main thread once set-up is done (chroot, drop
 * privileges, then the main thread's own filter).
 */
#ifndef VMM_SANDBOX_H
#define VMM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* What a thread does decides what it may ask the kernel for. */
enum sandbox_kind {
	SANDBOX_MAIN,   /* event loop: QMP, monitor, chardevs, signals, reset, device timers */
	SANDBOX_VCPU,   /* KVM_RUN and the device emulation it calls */
	SANDBOX_IO,     /* virtio I/O threads and the io_uring completion thread */
	SANDBOX_WORKER, /* the virtio-blk worker pool: file I/O */
	SANDBOX_NET,    /* the tap and user-networking (slirp) backend threads */
	SANDBOX_UI,     /* the VNC server's thread: its clients' sockets */
	SANDBOX_AUDIO,  /* SDL's audio thread (-audiodev sdl): its device */
	SANDBOX_MIGRATION, /* QMP migrate's sender: guest RAM to the channel */
	SANDBOX_KINDS
};

struct sandbox_config {
	bool enabled;         /* -sandbox on (the default) */
	bool obsolete;        /* obsolete=allow */
	bool elevate;         /* elevateprivileges=allow|children */
	bool spawn;           /* spawn=allow */
	bool resourcecontrol; /* resourcecontrol=allow */
	bool slirp;           /* a user-mode netdev exists (set by the CLI) */
	bool slirp_unix;      /* one has smb=: slirp connects to smbd's unix socket */
	bool vhost;           /* a tap netdev has vhost=on (/dev/vhost-net's ioctls) */
	bool sdl;             /* the SDL window (its X11 shared memory) */
	bool sdl_audio;       /* -audiodev sdl: the device is closed on the main thread */
	const char *runas;    /* -runas USER (NULL: keep the identity) */
	const char *chroot;   /* -chroot DIR (NULL: none) */
};

/* The -sandbox argument: "on|off[,obsolete=allow|deny][,elevateprivileges=
 * allow|deny|children][,spawn=allow|deny][,resourcecontrol=allow|deny]"
 * (also "enable=on|off"). 0, or -1 with one line in err. */
int sandbox_parse(const char *arg, struct sandbox_config *c, char *err, size_t errlen);

/* Dies with one line when -runas names no user or -chroot no directory. */
void sandbox_init(const struct sandbox_config *c);

/* Names the calling thread after its kind and, with the sandbox on, loads
 * the kind's filter for this thread (and the threads it creates later). */
void sandbox_thread_start(enum sandbox_kind kind);

/* -chroot and -runas, as the main thread takes them (the command launcher
 * takes them too: its commands run as vmm would). Dies with one line. */
void sandbox_drop_privileges(void);
/* Main thread, after set-up: chroot, drop to -runas, filter the main thread. */
void sandbox_enter(void);

/* The kind's list for the configuration sandbox_init() was given, before
 * it is compiled (tests/unit/test_seccomp_bpf.c); bpf_rules_free() it. */
struct bpf_rules;
struct bpf_rules *sandbox_rules(enum sandbox_kind kind);

/* The kind's name ("vcpu", "io", ...), for messages and thread names. */
const char *sandbox_kind_name(enum sandbox_kind kind);

#endif
