// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The sandbox: a seccomp allow-list per thread kind, plus -runas and -chroot.
 * The lists are written with libseccomp's header and compiled to BPF by
 * src/core/seccomp_bpf.c (libseccomp itself cost every start ~0.25 MiB).
 *
 * Design (docs/security.md has the why of every list):
 * - Each thread loads its own kind's filter as the first thing it does
 *   (sandbox_thread_start), so no thread ever runs guest-driven code
 *   unfiltered, whether it starts during set-up (I/O threads, the block
 *   pool, the network backends) or later (vCPUs at a reset). The main
 *   thread loads its filter last, in sandbox_enter, once set-up is over.
 *   A filter applies to the thread that loads it and to the threads it
 *   creates afterwards; filters stack and the strictest answer wins, so a
 *   thread created by another runs under both lists. No TSYNC: every
 *   thread is covered by its own list and TSYNC would refuse to run over
 *   threads that already carry a different filter.
 * - A call outside the list traps (SCMP_ACT_TRAP): the SIGSYS handler
 *   writes the thread kind, the system call's name and number to stderr
 *   with write(2) alone (names come from a static table, so the handler
 *   never allocates), then makes the one call every filter
 *   answers with SCMP_ACT_KILL_PROCESS. If even write(2) is refused the
 *   second trap arrives with SIGSYS blocked, and the kernel then kills the
 *   process anyway. Installing another SIGSYS handler is itself a kill, so
 *   the message cannot be silenced into a survivable error; and a system
 *   call through a foreign ABI (int 0x80, x32) is a kill too.
 */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_tun.h>
#include <linux/sched.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>

/* libseccomp's SCMP_A0..A5 comparisons of one datum leave datum_b to the
 * zero initialiser, which clang (the fuzz and TSan builds) warns about. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "seccomp_bpf.h"
#include "syscall_names.h"
#include "util.h"

/* The call the SIGSYS handler makes to die: in every list as a kill. */
#define SANDBOX_DEATH_CALL __NR_kexec_load

/* ioctl request numbers carry their "type" in bits 8..15. */
#define IOCTL_TYPE_MASK 0xff00
#define IOCTL_TYPE_KVM (0xAE << 8)  /* KVMIO: every KVM ioctl */
#define IOCTL_TYPE_TTY ('T' << 8)   /* termios, FIONREAD, FIONBIO, TUNSET* */
#define IOCTL_TYPE_ALSA_PCM ('A' << 8) /* SNDRV_PCM_IOCTL_*: an ALSA PCM device */
#define IOCTL_TYPE_OSS_DSP ('P' << 8)  /* SNDCTL_DSP_*: an OSS /dev/dsp */
#define IOCTL_TYPE_VHOST (0xAF << 8) /* VHOST_VIRTIO: /dev/vhost-net */

static struct sandbox_config config;
static struct sock_fprog programs[SANDBOX_KINDS];
static uid_t runas_uid;
static gid_t runas_gid;
static __thread enum sandbox_kind thread_kind = SANDBOX_MAIN;

static const char *const kind_names[SANDBOX_KINDS] = {
	[SANDBOX_MAIN] = "main",
	[SANDBOX_VCPU] = "vcpu",
	[SANDBOX_IO] = "io",
	[SANDBOX_WORKER] = "blk-worker",
	[SANDBOX_NET] = "net",
	[SANDBOX_UI] = "vnc",
	[SANDBOX_AUDIO] = "audio",
	[SANDBOX_MIGRATION] = "migration",
};

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return kind < SANDBOX_KINDS ? kind_names[kind] : "?";
}

/* ---- -sandbox ------------------------------------------------------------ */

static int allow_deny(const char *key, const char *v, bool *out, char *err, size_t errlen)
{
	if (!strcmp(v, "allow"))
		*out = true;
	else if (!strcmp(v, "deny"))
		*out = false;
	else
		return set_err(err, errlen, "-sandbox: %s: expected 'allow' or 'deny', got '%s'",
			       key, v);
	return 0;
}

static int sandbox_param(const char *key, const char *v, struct sandbox_config *c, char *err,
			 size_t errlen)
{
	if (!strcmp(key, "enable")) {
		if (parse_on_off(v, &c->enabled) < 0)
			return set_err(err, errlen, "-sandbox: expected 'on' or 'off', got '%s'", v);
		return 0;
	}
	if (!strcmp(key, "obsolete"))
		return allow_deny(key, v, &c->obsolete, err, errlen);
	if (!strcmp(key, "spawn"))
		return allow_deny(key, v, &c->spawn, err, errlen);
	if (!strcmp(key, "resourcecontrol"))
		return allow_deny(key, v, &c->resourcecontrol, err, errlen);
	if (!strcmp(key, "elevateprivileges")) {
		/* children: vmm always sets no_new_privs (seccomp needs it), so
		 * "allow" already keeps children from gaining privileges. */
		if (!strcmp(v, "children")) {
			c->elevate = true;
			return 0;
		}
		return allow_deny(key, v, &c->elevate, err, errlen);
	}
	return set_err(err, errlen, "-sandbox: unknown parameter '%s'", key);
}

int sandbox_parse(const char *arg, struct sandbox_config *c, char *err, size_t errlen)
{
	char field[256];
	const char *p = arg;
	bool first = true;

	if (!*arg)
		return set_err(err, errlen, "-sandbox: expected 'on' or 'off'");
	while (*p) {
		p = opt_field(p, field, sizeof(field));
		if (!p)
			return set_err(err, errlen, "-sandbox: parameter too long");
		char *eq = strchr(field, '=');
		if (!eq && first) {
			if (sandbox_param("enable", field, c, err, errlen) < 0)
				return -1;
		} else if (!eq) {
			return set_err(err, errlen, "-sandbox: '%s' needs a value", field);
		} else {
			*eq = 0;
			if (sandbox_param(field, eq + 1, c, err, errlen) < 0)
				return -1;
		}
		first = false;
	}
	return 0;
}

/* ---- the lists ------------------------------------------------------------- */

/* The name of call nr (a static string; "unknown" when it has none). */
static const char *syscall_name(int nr)
{
	if (nr < 0 || nr >= SYSCALL_NAME_COUNT || syscall_name_at[nr] == SYSCALL_NAME_NONE)
		return "unknown";
	return syscall_name_text + syscall_name_at[nr];
}

static void add_rule(struct bpf_rules *ctx, uint32_t action, int nr, unsigned nargs,
		     const struct scmp_arg_cmp *args)
{
	int ret = bpf_rules_add(ctx, action, nr, nargs, args);
	if (ret < 0)
		die("-sandbox: cannot add the rule for %s: %s", syscall_name(nr), strerror(-ret));
}

static void allow(struct bpf_rules *ctx, const int *nrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		add_rule(ctx, SCMP_ACT_ALLOW, nrs[i], 0, NULL);
}

#define ALLOW(ctx, ...)                                                     \
	do {                                                                \
		static const int list_[] = { __VA_ARGS__ };                 \
		allow((ctx), list_, ARRAY_SIZE(list_));                     \
	} while (0)

static void allow_if(struct bpf_rules *ctx, int nr, struct scmp_arg_cmp cmp)
{
	add_rule(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
}

/* What every thread does: memory (never executable), locks, time, its own
 * descriptors, exiting, and the signal returns. */
static void allow_common(struct bpf_rules *ctx)
{
	ALLOW(ctx, __NR_read, __NR_write, __NR_readv, __NR_writev, __NR_close, __NR_lseek,
	      __NR_fstat, __NR_newfstatat, __NR_futex, __NR_munmap, __NR_madvise, __NR_brk,
	      __NR_mremap, __NR_rt_sigprocmask, __NR_rt_sigreturn, __NR_restart_syscall,
	      /* the vDSO falls back to the real calls on some clocksources
	       * (a nested L1's, for one) */
	      __NR_clock_gettime, __NR_gettimeofday, __NR_time, __NR_clock_getres,
	      __NR_clock_nanosleep, __NR_nanosleep, __NR_gettid,
	      __NR_getpid, __NR_sched_yield, __NR_set_robust_list, __NR_rseq, __NR_exit,
	      __NR_exit_group);
	/* Executable mappings would be a way to run injected code. */
	allow_if(ctx, __NR_mmap, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	allow_if(ctx, __NR_mprotect, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* KVM ioctls only: interrupt lines, MSIs, MSI routes and irqfds
	 * (every thread that completes guest work raises an interrupt; a
	 * virtio MSI-X vector gets its irqfd, an eventfd, at its first one). */
	allow_if(ctx, __NR_ioctl, SCMP_A1(SCMP_CMP_MASKED_EQ, IOCTL_TYPE_MASK, IOCTL_TYPE_KVM));
	ALLOW(ctx, __NR_eventfd2);
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's start and end of every thread: its stack's bounds
	 * (pthread_getattr_np reads the affinity mask), its alternate signal
	 * stack. */
	ALLOW(ctx, __NR_sched_getaffinity, __NR_sigaltstack);
#endif
}

/* The thread that creates threads: the main one, vCPUs at start and at
 * every reset (device threads are all started during set-up, before any
 * filter). Only threads: clone without CLONE_THREAD is a fork. clone3
 * passes its flags in memory a filter cannot read, so it answers ENOSYS
 * and glibc falls back to clone. */
static void allow_threads(struct bpf_rules *ctx)
{
	allow_if(ctx, __NR_clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), __NR_clone3, 0, NULL);
	/* What a new thread does before its own filter: its name, then
	 * loading its filter (which can only narrow). */
	allow_if(ctx, __NR_prctl, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	allow_if(ctx, __NR_prctl, SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
	allow_if(ctx, __NR_seccomp, SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER));
}

/* vhost=on: /dev/vhost-net's ioctls; the queue's notify eventfd leaves
 * the I/O thread's epoll while the kernel reads it; the tap's receive
 * offloads are set before the kernel takes the rings. */
static void allow_vhost(struct bpf_rules *ctx)
{
	allow_if(ctx, __NR_ioctl, SCMP_A1(SCMP_CMP_MASKED_EQ, IOCTL_TYPE_MASK, IOCTL_TYPE_VHOST));
	allow_if(ctx, __NR_ioctl, SCMP_A1(SCMP_CMP_EQ, TUNSETOFFLOAD));
	ALLOW(ctx, __NR_epoll_ctl);
}

/* pthread_kill: the vCPU kick (a pause, or a vCPU's reset or exit request
 * stopping the others), only to this process's threads. */
static void allow_kick(struct bpf_rules *ctx)
{
	allow_if(ctx, __NR_tgkill, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
}

/* Disk images: IDE from vCPUs, virtio-blk from the pool. */
static void allow_file_io(struct bpf_rules *ctx)
{
	ALLOW(ctx, __NR_pread64, __NR_pwrite64, __NR_preadv, __NR_pwritev, __NR_fsync,
	      __NR_fdatasync, __NR_fallocate, __NR_ftruncate);
}

/* libslirp: the guest's TCP/UDP/ICMP flows become host sockets created on
 * demand, and its DNS proxy rereads /etc/resolv.conf when it changes. */
static void allow_slirp(struct bpf_rules *ctx)
{
	allow_if(ctx, __NR_socket, SCMP_A0(SCMP_CMP_EQ, AF_INET));
	allow_if(ctx, __NR_socket, SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	/* smb=: each guest connection to the SMB port is a connection to
	 * the smbd launcher's unix socket (src/net/smb_share.c); only the
	 * launcher, outside vmm, forks and execs */
	if (config.slirp_unix)
		allow_if(ctx, __NR_socket, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	ALLOW(ctx, __NR_connect, __NR_bind, __NR_listen, __NR_accept, __NR_accept4,
	      __NR_setsockopt, __NR_getsockopt, __NR_getsockname, __NR_getpeername,
	      __NR_sendto, __NR_recvfrom, __NR_sendmsg, __NR_recvmsg, __NR_shutdown, __NR_fcntl,
	      __NR_poll, __NR_ppoll, __NR_getrandom);
	/* the size of a waiting UDP datagram; non-blocking mode */
	allow_if(ctx, __NR_ioctl, SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	allow_if(ctx, __NR_ioctl, SCMP_A1(SCMP_CMP_EQ, FIONBIO));
	allow_if(ctx, __NR_openat,
		 SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY));
}

/* An audio device SDL plays to: ALSA's PCM ioctls and OSS's DSP ioctls,
 * and waiting for the device. */
static void allow_audio_device(struct bpf_rules *ctx)
{
	ALLOW(ctx, __NR_poll, __NR_ppoll);
	allow_if(ctx, __NR_ioctl, SCMP_A1(SCMP_CMP_MASKED_EQ, IOCTL_TYPE_MASK, IOCTL_TYPE_ALSA_PCM));
	allow_if(ctx, __NR_ioctl, SCMP_A1(SCMP_CMP_MASKED_EQ, IOCTL_TYPE_MASK, IOCTL_TYPE_OSS_DSP));
}

static void allow_kind(struct bpf_rules *ctx, enum sandbox_kind kind)
{
	switch (kind) {
	case SANDBOX_MAIN:
		/* The main thread creates the vCPU threads, so it carries
		 * their list too (a filter can only narrow). */
		allow_kind(ctx, SANDBOX_VCPU);
		allow_threads(ctx);
		/* the event loop (src/core/event.c): epoll and its timerfd */
		ALLOW(ctx, __NR_epoll_wait, __NR_epoll_pwait, __NR_epoll_ctl, __NR_timerfd_settime);
		ALLOW(ctx, __NR_poll, __NR_ppoll, __NR_accept, __NR_accept4, __NR_recvfrom,
		      __NR_sendto, __NR_recvmsg, __NR_sendmsg, __NR_setsockopt, __NR_getsockopt,
		      __NR_shutdown, __NR_fcntl,
		      /* -daemonize: stdio onto /dev/null once ready */
		      __NR_dup2, __NR_dup3,
		      /* exit: sockets and the pidfile are removed */
		      __NR_unlink, __NR_unlinkat,
		      /* exit: the tap downscript helper is reaped */
		      __NR_wait4,
		      /* exit: virtio-blk submits the NOP that ends its io_uring
		       * completion thread (the ring takes only its own ops) */
		      __NR_io_uring_enter);
		/* -audiodev sdl: at exit SDL closes its device here (alsa:
		 * its PCM ioctls; dsp: its ioctls) */
		if (config.sdl_audio) {
			allow_audio_device(ctx);
		}
		/* the SDL window: X11's shared-memory images, made again when
		 * the window changes size; the X server's socket is the
		 * event loop's poll and the socket calls above */
		if (config.sdl) {
			ALLOW(ctx, __NR_shmget, __NR_shmat, __NR_shmdt, __NR_shmctl,
			      __NR_getsockname, __NR_getpeername, __NR_uname);
			/* Xlib reads its locale and keyboard tables when the
			 * first key arrives (read-only; nothing mapped runs) */
			allow_if(ctx, __NR_openat,
				 SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY));
		}
		/* screendump: the picture goes to a file the user names (write
		 * only: nothing is read back, no code is mapped from it); so
		 * does QMP migrate to file: */
		allow_if(ctx, __NR_openat, SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_WRONLY));
		/* blockdev-change-medium / change: the new disc's image opens
		 * read-only (a CD is never written; nothing is mapped from it) */
		allow_if(ctx, __NR_openat,
			 SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY));
		/* QMP migrate to unix: or tcp: connects a stream socket;
		 * migrate-incoming (after -incoming defer) listens on one */
		allow_if(ctx, __NR_socket, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
		allow_if(ctx, __NR_socket, SCMP_A0(SCMP_CMP_EQ, AF_INET));
		allow_if(ctx, __NR_socket, SCMP_A0(SCMP_CMP_EQ, AF_INET6));
		ALLOW(ctx, __NR_connect, __NR_bind, __NR_listen);
		break;
	case SANDBOX_VCPU:
		/* No thread creation: the RTC's interrupts are timers of the
		 * main loop now, not a thread a vCPU starts. */
		allow_kick(ctx);
		allow_file_io(ctx);
		/* termios (the serial console on a terminal), TUNSETOFFLOAD
		 * when the guest negotiates virtio-net offloads */
		allow_if(ctx, __NR_ioctl,
			 SCMP_A1(SCMP_CMP_MASKED_EQ, IOCTL_TYPE_MASK, IOCTL_TYPE_TTY));
		/* COM1 on a socket chardev (send) */
		ALLOW(ctx, __NR_sendto);
		/* the emulated NICs transmit through slirp within the
		 * doorbell's register write (src/board/pc_nics.c) */
		if (config.slirp)
			allow_slirp(ctx);
		/* vhost=on: virtio-net hands its rings to the kernel and takes
		 * them back when the driver starts or resets it, or changes
		 * its vectors (and the main thread, which carries this list:
		 * pause, saved state, set_link) */
		if (config.vhost)
			allow_vhost(ctx);
		break;
	case SANDBOX_IO:
		/* getrandom: virtio-rng; sendto: virtio-console on a socket */
		ALLOW(ctx, __NR_epoll_wait, __NR_epoll_pwait, __NR_io_uring_enter,
		      __NR_getrandom, __NR_sendto);
		/* virtio-net tells a tap the receive offloads the driver took
		 * when it next processes a queue (its control queue, which
		 * attaches and detaches a multiqueue tap's queues, runs on the
		 * vCPU threads) */
		allow_if(ctx, __NR_ioctl, SCMP_A1(SCMP_CMP_EQ, TUNSETOFFLOAD));
		allow_file_io(ctx);
		/* virtio-net transmits through slirp on its I/O thread */
		if (config.slirp)
			allow_slirp(ctx);
		break;
	case SANDBOX_WORKER:
		allow_file_io(ctx);
		break;
	case SANDBOX_NET:
		ALLOW(ctx, __NR_poll, __NR_ppoll);
		if (config.slirp)
			allow_slirp(ctx);
		break;
	case SANDBOX_UI:
		/* libvncserver: select on the clients, the listening socket's
		 * accept, its client sockets' options and peer names */
		ALLOW(ctx, __NR_poll, __NR_ppoll, __NR_select, __NR_pselect6, __NR_accept,
		      __NR_accept4, __NR_recvfrom, __NR_sendto, __NR_recvmsg, __NR_sendmsg,
		      __NR_setsockopt, __NR_getsockopt, __NR_getpeername, __NR_getsockname,
		      __NR_fcntl, __NR_shutdown, __NR_getrandom);
		/* VNC authentication's challenge: libvncserver reads
		 * /dev/urandom for each (read-only, nothing mapped from it) */
		allow_if(ctx, __NR_openat,
			 SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY));
		break;
	case SANDBOX_AUDIO:
		/* SDL's audio thread once it calls vmm's callback: the
		 * samples to its device (alsa: PCM ioctls and poll; dsp:
		 * write and its ioctls; disk: write; dummy: nothing),
		 * SDL_Delay's sleeps (common). Drivers with threads of their
		 * own are refused with the sandbox on (src/audio/audio_sdl.c). */
		allow_audio_device(ctx);
		break;
	case SANDBOX_MIGRATION:
		/* Writes to the channel the main thread opened, KVM's dirty
		 * log (a VM ioctl), sleeps: all in the common list. With
		 * vhost=on, pre-copy's start and end move virtio-net's rings
		 * from the kernel to vmm and back (its writes are not in the
		 * dirty log). */
		if (config.vhost)
			allow_vhost(ctx);
		break;
	case SANDBOX_KINDS:
		break;
	}
}

/* The sub-options widen every list. */
static void allow_options(struct bpf_rules *ctx)
{
	if (config.obsolete)
		ALLOW(ctx, __NR_uselib, __NR_ustat, __NR_sysfs, __NR__sysctl, __NR_create_module,
		      __NR_get_kernel_syms, __NR_query_module, __NR_nfsservctl, __NR_getpmsg,
		      __NR_putpmsg, __NR_afs_syscall, __NR_tuxcall, __NR_security, __NR_vserver);
	if (config.elevate)
		ALLOW(ctx, __NR_setuid, __NR_setgid, __NR_setreuid, __NR_setregid,
		      __NR_setresuid, __NR_setresgid, __NR_setgroups, __NR_setfsuid,
		      __NR_setfsgid, __NR_capset);
	if (config.spawn)
		ALLOW(ctx, __NR_fork, __NR_vfork, __NR_execve, __NR_execveat, __NR_clone,
		      __NR_wait4);
	if (config.resourcecontrol)
		ALLOW(ctx, __NR_setpriority, __NR_sched_setparam, __NR_sched_setscheduler,
		      __NR_sched_setaffinity, __NR_sched_setattr, __NR_getpriority,
		      __NR_sched_getaffinity, __NR_sched_getparam, __NR_sched_getscheduler,
		      __NR_sched_getattr, __NR_sched_get_priority_max,
		      __NR_sched_get_priority_min, __NR_sched_rr_get_interval);
	/* glibc's setuid/setgid/setgroups run the call in every thread; the
	 * threads filtered before -runas takes effect must let exactly that
	 * change through (and nothing else). */
	if (config.runas) {
		allow_if(ctx, __NR_setgroups, SCMP_A0(SCMP_CMP_EQ, 1));
		allow_if(ctx, __NR_setgid, SCMP_A0(SCMP_CMP_EQ, runas_gid));
		allow_if(ctx, __NR_setuid, SCMP_A0(SCMP_CMP_EQ, runas_uid));
	}
}

struct bpf_rules *sandbox_rules(enum sandbox_kind kind)
{
	/* a foreign architecture or ABI (int 0x80, x32) is a kill */
	struct bpf_rules *ctx = bpf_rules_new(SCMP_ACT_TRAP, SCMP_ACT_KILL_PROCESS);

	if (!ctx)
		die("-sandbox: cannot create a seccomp filter");
	add_rule(ctx, SCMP_ACT_KILL_PROCESS, SANDBOX_DEATH_CALL, 0, NULL);
	/* A new SIGSYS handler could turn violations into mere errors. */
	add_rule(ctx, SCMP_ACT_KILL_PROCESS, __NR_rt_sigaction, 1,
		 &SCMP_A0(SCMP_CMP_EQ, SIGSYS));
	allow_common(ctx);
	allow_kind(ctx, kind);
	allow_options(ctx);
	return ctx;
}

/* One kind's list as a BPF program, kept for its threads; the rules go. */
static void compile_filter(enum sandbox_kind kind)
{
	struct bpf_rules *rules = sandbox_rules(kind);

	free(programs[kind].filter); /* sandbox_init() again (the unit test) */
	programs[kind].filter = NULL;
	int ret = bpf_rules_compile(rules, &programs[kind]);

	bpf_rules_free(rules);
	if (ret < 0)
		die("-sandbox: cannot compile the %s thread's seccomp filter: %s",
		    sandbox_kind_name(kind), strerror(-ret));
}

/* ---- the violation report ---------------------------------------------------- */

static size_t put_str(char *buf, size_t n, size_t size, const char *s)
{
	while (*s && n + 1 < size)
		buf[n++] = *s++;
	return n;
}

static size_t put_num(char *buf, size_t n, size_t size, long v)
{
	char digits[24];
	int d = 0;
	unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

	do
		digits[d++] = (char)('0' + u % 10);
	while ((u /= 10) && d < (int)sizeof(digits));
	if (v < 0 && n + 1 < size)
		buf[n++] = '-';
	while (d && n + 1 < size)
		buf[n++] = digits[--d];
	return n;
}

/* Async-signal-safe: no stdio, no allocation. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char msg[256];
	size_t n = 0;
	int nr = si->si_syscall;
	const char *name = syscall_name(nr);

	n = put_str(msg, n, sizeof(msg), "vmm: sandbox: the ");
	n = put_str(msg, n, sizeof(msg), sandbox_kind_name(thread_kind));
	n = put_str(msg, n, sizeof(msg), " thread made a forbidden system call: ");
	n = put_str(msg, n, sizeof(msg), name);
	n = put_str(msg, n, sizeof(msg), " (");
	n = put_num(msg, n, sizeof(msg), nr);
	n = put_str(msg, n, sizeof(msg), "); killing vmm\n");
	if (write(STDERR_FILENO, msg, n) < 0) {
		/* nothing else to tell */
	}
#if defined(__SANITIZE_ADDRESS__)
	/* Where the call came from, in the sanitizer builds (the release
	 * objects have no unwind tables): a violation seen once in a long
	 * run is otherwise a guess. The unwinder was loaded before the
	 * filters (hook_sigsys): only write() here. */
	void *frames[24];
	backtrace_symbols_fd(frames, backtrace(frames, 24), STDERR_FILENO);
#endif
	syscall(SANDBOX_DEATH_CALL, 0, 0, 0, 0);
	_exit(128 + SIGSYS); /* not reached: the call above kills the process */
}

static void hook_sigsys(void)
{
	struct sigaction sa;

#if defined(__SANITIZE_ADDRESS__)
	/* glibc loads libgcc's unwinder (an openat) on the first backtrace() */
	void *frame;
	backtrace(&frame, 1);
#endif

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		die_errno("-sandbox: cannot handle SIGSYS");
}

/* ---- set-up ------------------------------------------------------------------ */

static void resolve_runas(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (pw) {
		runas_uid = pw->pw_uid;
		runas_gid = pw->pw_gid;
		return;
	}
	/* QEMU also takes uid:gid. */
	unsigned long uid, gid;
	char *end;
	errno = 0;
	uid = strtoul(user, &end, 10);
	if (end != user && *end == ':' && end[1] && user[0] != '-') {
		const char *g = end + 1;
		gid = strtoul(g, &end, 10);
		if (!errno && !*end && *g != '-' && uid < (uid_t)-1 && gid < (gid_t)-1) {
			runas_uid = (uid_t)uid;
			runas_gid = (gid_t)gid;
			return;
		}
	}
	die("-runas: no such user '%s'", user);
}

/* Gives back the top of this thread's malloc arena: three chunks under
 * the mmap threshold, one byte of each written (a few pages resident;
 * the byte keeps the compiler from dropping the pair), freed last first
 * so that they merge into a top past the trim threshold. */
static void trim_thread_arena(void)
{
	char *volatile chunk[3];

	for (int i = 0; i < 3; i++) {
		chunk[i] = malloc(100 * 1024);
		if (chunk[i])
			chunk[i][0] = 1;
	}
	for (int i = 2; i >= 0; i--)
		free(chunk[i]);
}

/* The first time glibc shrinks a thread arena's heap, it reads
 * /proc/sys/vm/overcommit_memory (and keeps the answer). That can be any
 * thread freeing memory another allocated (the main thread at exit, in
 * libslirp's cleanup: seen killing vmm once in five runs); do it here,
 * in a thread of its own, before any filter. It ends without glibc's
 * per-thread clean-up: its chunks are freed (only its malloc cache, a few
 * hundred bytes, stays), and the clean-up's code would be mapped in for
 * it alone (~0.15 MiB of RSS). */
static void *warm_up_thread(void *arg)
{
	trim_thread_arena();
	thread_exit_raw();
	return arg;
}

/* glibc installs its own signal handlers (thread cancellation, setxid)
 * when the process creates its first thread; with no device thread that
 * would be the first vCPU, under the main thread's filter. */
static void init_glibc_threads(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, warm_up_thread, NULL) != 0)
		die("-sandbox: cannot start a thread");
	pthread_join(t, NULL);
}

void sandbox_init(const struct sandbox_config *c)
{
	struct stat st;

	config = *c;
	/* glibc sizes its malloc arenas from the CPU count it reads from
	 * /sys the first time a thread needs a new arena, which may happen
	 * under a filter: fix glibc's default limit (8 per CPU) now. The
	 * count comes from the affinity mask: sysconf would read and parse
	 * /sys with strtoul, whose locale table costs 64 KiB of peak RSS. */
	cpu_set_t cpus;
	int ncpus = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
	mallopt(M_ARENA_MAX, 8 * (ncpus > 0 ? ncpus : 1));
	if (config.runas)
		resolve_runas(config.runas);
	if (config.chroot && (stat(config.chroot, &st) < 0 || !S_ISDIR(st.st_mode)))
		die("-chroot: '%s' is not a directory", config.chroot);
	if ((config.runas || config.chroot) && geteuid() != 0)
		die("%s needs vmm to start as root", config.runas ? "-runas" : "-chroot");
	if (!config.enabled)
		return;
	init_glibc_threads();
	hook_sigsys();
	for (int k = 0; k < SANDBOX_KINDS; k++)
		compile_filter((enum sandbox_kind)k);
}

/* VMM_SANDBOX_SELFTEST=KIND[:CALL] makes the first thread of that kind make
 * a call its list refuses, right after loading its filter: the tests' proof
 * that a violation kills vmm with the message. CALL: getppid (default),
 * execve, fork, open (for writing), socket (slirp's first call for a
 * guest's flow), and one call per -sandbox sub-option: setuid,
 * getpriority, sysfs. Each is harmless where it is allowed. "trim"
 * is no forbidden call but a malloc arena giving memory back, which must
 * not make one. */
static void selftest_call(const char *call)
{
	if (!strcmp(call, "execve")) {
		char *argv[] = { (char *)"/nonexistent/vmm-sandbox-selftest", NULL };
		execve(argv[0], argv, argv + 1);
	} else if (!strcmp(call, "fork")) {
		pid_t pid = (pid_t)syscall(__NR_clone, SIGCHLD, 0, 0, 0, 0);
		if (pid == 0)
			_exit(0);
	} else if (!strcmp(call, "open")) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
	} else if (!strcmp(call, "socket")) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			close(fd);
	} else if (!strcmp(call, "setuid")) {
		/* the raw call (glibc's runs it in every thread); -1 is
		 * refused by the kernel even where the filter allows it */
		syscall(__NR_setuid, -1);
	} else if (!strcmp(call, "getpriority")) {
		syscall(__NR_getpriority, 0 /* PRIO_PROCESS */, 0);
	} else if (!strcmp(call, "sysfs")) {
		syscall(__NR_sysfs, 3);
	} else if (!strcmp(call, "trim")) {
		trim_thread_arena();
	} else {
		syscall(__NR_getppid);
	}
}

static void selftest(enum sandbox_kind kind)
{
	static atomic_bool done;
	const char *env = getenv("VMM_SANDBOX_SELFTEST");
	const char *name = sandbox_kind_name(kind);
	size_t len = strlen(name);

	if (!env || strncmp(env, name, len) || (env[len] && env[len] != ':'))
		return;
	if (atomic_exchange(&done, true))
		return;
	selftest_call(env[len] ? env + len + 1 : "getppid");
}

static void load_filter(enum sandbox_kind kind)
{
	int ret = bpf_program_load(&programs[kind]);
	if (ret < 0)
		die("-sandbox: cannot load the %s thread's seccomp filter: %s",
		    sandbox_kind_name(kind), strerror(-ret));
}

void sandbox_thread_start(enum sandbox_kind kind)
{
	char name[16] = "vmm-";

	thread_kind = kind;
	/* a plain copy: snprintf's code is not mapped in for this alone */
	strncpy(name + 4, sandbox_kind_name(kind), sizeof(name) - 5);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	if (config.enabled)
		load_filter(kind);
	selftest(kind);
}

void sandbox_drop_privileges(void)
{
	if (config.chroot) {
		if (chroot(config.chroot) < 0 || chdir("/") < 0)
			die_errno("-chroot %s", config.chroot);
	}
	if (config.runas) {
		if (setgroups(1, &runas_gid) < 0)
			die_errno("-runas: setgroups");
		if (setgid(runas_gid) < 0)
			die_errno("-runas: setgid");
		if (setuid(runas_uid) < 0)
			die_errno("-runas: setuid");
		if (getuid() != runas_uid || geteuid() != runas_uid || getegid() != runas_gid)
			die("-runas: the identity did not change");
	}
}

void sandbox_enter(void)
{
	sandbox_drop_privileges();
	thread_kind = SANDBOX_MAIN;
	if (config.enabled)
		load_filter(SANDBOX_MAIN);
	selftest(SANDBOX_MAIN);
}
