// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VNC server (include/vnc.h) on libvncserver, loaded on demand.
 *
 * libvncserver runs in its single-threaded mode: vmm's "vmm-vnc" thread
 * calls rfbProcessEvents, which reads every client's messages and sends
 * the updates they asked for; no thread of libvncserver's own exists. The
 * listening socket is vmm's (libvncserver's listener is left off: it
 * cannot bind a Unix socket), and a connection is handed over with
 * rfbNewClient.
 *
 * The picture: the thread has the display device refresh the surface
 * (display.h) at its own pace (33 ms while things change, backing off to
 * 500 ms on a still screen), takes it as a display_client, and within the
 * rectangle that changed copies the 16x16 tiles whose pixels differ from
 * the clients' copy (converted to libvncserver's default pixel layout),
 * marking them modified (no I/O), while holding the surface's lock. The
 * sending, which may block on a slow client, happens after, without it:
 * the vCPU that draws never waits for a client.
 */
#include "vnc.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfb.h>

#include "display.h"
#include "input.h"
#include "keymap.h"
#include "lazylib.h"
#include "sandbox.h"
#include "util.h"

/* How often a connected server looks at the picture: every 33 ms while it
 * changes or the clients type and point, then 33 ms later each quiet round,
 * up to half a second (a still screen costs a few refreshes a second;
 * QEMU's VNC backs off the same way, to 3 s). */
#define VNC_REFRESH_MIN_NS (33 * 1000 * 1000LL)
#define VNC_REFRESH_MAX_NS (500 * 1000 * 1000LL)
/* A client that accepts nothing this long is dropped (ms). */
#define VNC_CLIENT_WAIT_MS 5000

/* ---- libvncserver, loaded on demand -------------------------------------- */

static struct {
	rfbScreenInfoPtr (*get_screen)(int *, char **, int, int, int, int, int);
	void (*init_server)(rfbScreenInfoPtr);
	void (*shutdown_server)(rfbScreenInfoPtr, rfbBool);
	void (*screen_cleanup)(rfbScreenInfoPtr);
	rfbBool (*process_events)(rfbScreenInfoPtr, long);
	rfbClientPtr (*new_client)(rfbScreenInfoPtr, rfbSocket);
	void (*new_framebuffer)(rfbScreenInfoPtr, char *, int, int, int, int, int);
	void (*mark_rect)(rfbScreenInfoPtr, int, int, int, int);
	void (*log_enable)(int);
	void (*encrypt_bytes)(unsigned char *, char *);
	int (*read_exact)(rfbClientPtr, char *, int);
	int (*write_exact)(rfbClientPtr, const char *, int);
	void (*register_extension)(rfbProtocolExtension *);
	void (*unregister_extension)(rfbProtocolExtension *);
	uint64_t (*stat_sent_bytes)(rfbClientPtr);
	void (*close_client)(rfbClientPtr);
	rfbClientIteratorPtr (*client_iterator)(rfbScreenInfoPtr);
	rfbClientPtr (*client_next)(rfbClientIteratorPtr);
	void (*client_iterator_release)(rfbClientIteratorPtr);
} rfb;

static const struct lazysym rfb_syms[] = {
	{ "rfbGetScreen", (void **)&rfb.get_screen },
	{ "rfbInitServerWithPthreadsAndZRLE", (void **)&rfb.init_server },
	{ "rfbShutdownServer", (void **)&rfb.shutdown_server },
	{ "rfbScreenCleanup", (void **)&rfb.screen_cleanup },
	{ "rfbProcessEvents", (void **)&rfb.process_events },
	{ "rfbNewClient", (void **)&rfb.new_client },
	{ "rfbNewFramebuffer", (void **)&rfb.new_framebuffer },
	{ "rfbMarkRectAsModified", (void **)&rfb.mark_rect },
	{ "rfbLogEnable", (void **)&rfb.log_enable },
	{ "rfbEncryptBytes", (void **)&rfb.encrypt_bytes },
	{ "rfbReadExact", (void **)&rfb.read_exact },
	{ "rfbWriteExact", (void **)&rfb.write_exact },
	{ "rfbRegisterProtocolExtension", (void **)&rfb.register_extension },
	{ "rfbUnregisterProtocolExtension", (void **)&rfb.unregister_extension },
	{ "rfbStatGetSentBytes", (void **)&rfb.stat_sent_bytes },
	{ "rfbCloseClient", (void **)&rfb.close_client },
	{ "rfbGetClientIterator", (void **)&rfb.client_iterator },
	{ "rfbClientIteratorNext", (void **)&rfb.client_next },
	{ "rfbReleaseClientIterator", (void **)&rfb.client_iterator_release },
	{ NULL, NULL },
};

static struct lazylib libvncserver = LAZYLIB_INIT("libvncserver.so.1", rfb_syms);

/* ---- the server --------------------------------------------------------------- */

struct vnc {
	struct vnc_config cfg;
	int listen_fd, wake_fd;
	int listen6_fd;             /* ":N": IPv6's every interface too, or -1 */
	int family;                 /* AF_INET, AF_INET6, AF_UNIX */
	char bound_host[sizeof(((struct vnc_config *)0)->unix_path)], bound_port[16];
	rfbScreenInfoPtr screen;
	uint32_t *fb;               /* what the clients see */
	unsigned width, height;
	struct display_surface *surface;
	struct display_client view;
	int64_t refresh_ns;         /* the current interval, see VNC_REFRESH_* */
	int64_t next_refresh;       /* CLOCK_MONOTONIC ns */
	bool input_seen;            /* a client typed or pointed this round */
	/* -k: keysyms through the layout (NULL: as on a US keyboard) */
	struct keymap *keymap;
	pthread_t thread;
	bool started;
	atomic_bool stop;

	pthread_mutex_t lock;       /* the fields below (read by QMP) */
	char password[9];
	unsigned clients;
	unsigned long long bytes_gone; /* bytes sent to clients that left */
	unsigned long long bytes_live; /* to the clients connected now */
	unsigned long long updates;
};

static struct vnc *current;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct vnc *vnc_current(void)
{
	return current;
}

/* ---- -vnc ------------------------------------------------------------------------ */

static int parse_address(const char *a, struct vnc_config *c, char *err, size_t errlen)
{
	if (!strncmp(a, "unix:", 5)) {
		if (!a[5] || strlen(a + 5) >= sizeof(c->unix_path))
			return set_err(err, errlen, "-vnc: bad Unix socket path '%s'", a + 5);
		memcpy(c->unix_path, a + 5, strlen(a + 5) + 1);
		return 0;
	}
	const char *colon = strrchr(a, ':');
	if (!colon)
		return set_err(err, errlen, "-vnc: expected [HOST]:DISPLAY, unix:PATH or none, got '%s'", a);
	size_t hl = (size_t)(colon - a);
	if (hl >= 2 && a[0] == '[' && a[hl - 1] == ']') { /* [IPv6] */
		a++;
		hl -= 2;
	}
	if (hl >= sizeof(c->host))
		return set_err(err, errlen, "-vnc: host name too long");
	memcpy(c->host, a, hl);
	c->host[hl] = 0;
	char *end;
	long n = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || n < 0 || n > 65535 - VNC_PORT_BASE)
		return set_err(err, errlen, "-vnc: bad display number '%s'", colon + 1);
	c->display = (int)n;
	return 0;
}

static int parse_option(const char *field, struct vnc_config *c, char *err, size_t errlen)
{
	const char *eq = strchr(field, '=');
	char key[32];
	const char *v = eq ? eq + 1 : "on";
	size_t kl = eq ? (size_t)(eq - field) : strlen(field);

	if (kl >= sizeof(key))
		return set_err(err, errlen, "-vnc: unknown option '%s'", field);
	memcpy(key, field, kl);
	key[kl] = 0;
	if (!strcmp(key, "password")) {
		if (parse_on_off(v, &c->password) < 0)
			return set_err(err, errlen, "-vnc: password: expected on or off, got '%s'", v);
		return 0;
	}
	if (!strcmp(key, "to")) {
		char *end;
		long n = strtol(v, &end, 10);
		if (!*v || *end || n < 0 || n > 65535 - VNC_PORT_BASE)
			return set_err(err, errlen, "-vnc: to: bad display number '%s'", v);
		c->to = (int)n;
		c->has_to = true;
		return 0;
	}
	/* QEMU options that change nothing here: one desktop, every client
	 * shares it; the encodings are the client's choice */
	if (!strcmp(key, "share") || !strcmp(key, "lossy") || !strcmp(key, "non-adaptive") ||
	    !strcmp(key, "key-delay-ms"))
		return 0;
	return set_err(err, errlen, "-vnc: unsupported option '%s' (supported: password=on|off, to=L)",
		       key);
}

int vnc_parse(const char *arg, struct vnc_config *c, char *err, size_t errlen)
{
	char field[320];
	memset(c, 0, sizeof(*c));
	const char *p = opt_field(arg, field, sizeof(field));
	if (!p)
		return set_err(err, errlen, "-vnc: address too long");
	if (!strcmp(field, "none"))
		return *p ? set_err(err, errlen, "-vnc none takes no options") : 0;
	if (parse_address(field, c, err, errlen) < 0)
		return -1;
	while (*p) {
		p = opt_field(p, field, sizeof(field));
		if (!p)
			return set_err(err, errlen, "-vnc: option too long");
		if (parse_option(field, c, err, errlen) < 0)
			return -1;
	}
	if (c->has_to && (c->unix_path[0] || c->to < c->display))
		return set_err(err, errlen, "-vnc: to=%d needs a TCP display at most %d", c->to,
			       c->to);
	c->enabled = true;
	return 0;
}

/* ---- the socket ------------------------------------------------------------------ */

static int bind_unix(struct vnc *v, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, v->cfg.unix_path, sizeof(v->cfg.unix_path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return set_err(err, errlen, "-vnc: socket: %s", strerror(errno));
	unlink(sa.sun_path); /* a stale socket of an earlier run, as QEMU */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return set_err(err, errlen, "-vnc: cannot listen on %s: %s", sa.sun_path, strerror(e));
	}
	v->listen_fd = fd;
	v->family = AF_UNIX;
	memcpy(v->bound_host, v->cfg.unix_path, sizeof(v->bound_host));
	return 0;
}

/* ":N" also listens on IPv6's every interface, as QEMU's does, when the
 * host has IPv6 (IPV6_V6ONLY: the IPv4 socket has the IPv4 side). */
static void bind_any_ipv6(struct vnc *v, const char *port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT,
				   .sin6_port = htons((uint16_t)atoi(port)) };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0)
		return;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0)
		v->listen6_fd = fd;
	else
		close(fd);
}

/* The first of 'display'..'to' that binds. */
static int bind_tcp(struct vnc *v, char *err, size_t errlen)
{
	int last = v->cfg.has_to ? v->cfg.to : v->cfg.display;
	int e = 0;

	for (int d = v->cfg.display; d <= last; d++) {
		char port[16];
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
				*res;
		snprintf(port, sizeof(port), "%d", VNC_PORT_BASE + d);
		int r = getaddrinfo(v->cfg.host[0] ? v->cfg.host : NULL, port, &hints, &res);
		if (r)
			return set_err(err, errlen, "-vnc: %s: %s", v->cfg.host, gai_strerror(r));
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			/* every interface: IPv4's, as QEMU's ":N" */
			if (!v->cfg.host[0] && ai->ai_family != AF_INET)
				continue;
			int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			int one = 1;
			if (fd < 0)
				continue;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0) {
				v->listen_fd = fd;
				v->family = ai->ai_family;
				getnameinfo(ai->ai_addr, ai->ai_addrlen, v->bound_host,
					    sizeof(v->bound_host), NULL, 0, NI_NUMERICHOST);
				snprintf(v->bound_port, sizeof(v->bound_port), "%s", port);
				freeaddrinfo(res);
				if (!v->cfg.host[0])
					bind_any_ipv6(v, port);
				return 0;
			}
			e = errno;
			close(fd);
		}
		freeaddrinfo(res);
	}
	return set_err(err, errlen, "-vnc: cannot listen on %s:%d%s: %s",
		       v->cfg.host[0] ? v->cfg.host : "", VNC_PORT_BASE + v->cfg.display,
		       v->cfg.has_to ? " and up" : "", strerror(e ? e : EADDRNOTAVAIL));
}

/* ---- keys and pointer ----------------------------------------------------------- */

static const struct {
	unsigned keysym;
	const char *key;
} keysyms[] = {
	{ 0xff08, "backspace" }, { 0xff09, "tab" }, { 0xff0d, "ret" }, { 0xff13, "pause" },
	{ 0xff14, "scroll_lock" }, { 0xff15, "print" }, { 0xff1b, "esc" }, { 0xffff, "delete" },
	{ 0xff50, "home" }, { 0xff51, "left" }, { 0xff52, "up" }, { 0xff53, "right" },
	{ 0xff54, "down" }, { 0xff55, "pgup" }, { 0xff56, "pgdn" }, { 0xff57, "end" },
	{ 0xff61, "print" }, { 0xff63, "insert" }, { 0xff67, "menu" }, { 0xff7f, "num_lock" },
	{ 0xff8d, "kp_enter" }, { 0xff95, "kp_7" }, { 0xff96, "kp_4" }, { 0xff97, "kp_8" },
	{ 0xff98, "kp_6" }, { 0xff99, "kp_2" }, { 0xff9a, "kp_9" }, { 0xff9b, "kp_3" },
	{ 0xff9c, "kp_1" }, { 0xff9d, "kp_5" }, { 0xff9e, "kp_0" }, { 0xff9f, "kp_decimal" },
	{ 0xffaa, "kp_multiply" }, { 0xffab, "kp_add" }, { 0xffad, "kp_subtract" },
	{ 0xffae, "kp_decimal" }, { 0xffaf, "kp_divide" },
	{ 0xffe1, "shift" }, { 0xffe2, "shift_r" }, { 0xffe3, "ctrl" }, { 0xffe4, "ctrl_r" },
	{ 0xffe5, "caps_lock" }, { 0xffe7, "meta_l" }, { 0xffe8, "meta_r" }, { 0xffe9, "alt" },
	{ 0xffea, "alt_r" }, { 0xffeb, "meta_l" }, { 0xffec, "meta_r" }, { 0xfe03, "alt_r" },
	{ ' ', "spc" }, { '-', "minus" }, { '_', "minus" }, { '=', "equal" }, { '+', "equal" },
	{ '[', "bracket_left" }, { '{', "bracket_left" }, { ']', "bracket_right" },
	{ '}', "bracket_right" }, { ';', "semicolon" }, { ':', "semicolon" },
	{ '\'', "apostrophe" }, { '"', "apostrophe" }, { '`', "grave_accent" },
	{ '~', "grave_accent" }, { '\\', "backslash" }, { '|', "backslash" }, { ',', "comma" },
	{ '<', "comma" }, { '.', "dot" }, { '>', "dot" }, { '/', "slash" }, { '?', "slash" },
	{ '!', "1" }, { '@', "2" }, { '#', "3" }, { '$', "4" }, { '%', "5" }, { '^', "6" },
	{ '&', "7" }, { '*', "8" }, { '(', "9" }, { ')', "0" },
};

int vnc_keysym_to_key(unsigned ks)
{
	char name[4] = { 0 };

	if ((ks >= 'a' && ks <= 'z') || (ks >= '0' && ks <= '9')) {
		name[0] = (char)ks;
		return input_key_by_name(name);
	}
	if (ks >= 'A' && ks <= 'Z') {
		name[0] = (char)(ks - 'A' + 'a');
		return input_key_by_name(name);
	}
	if (ks >= 0xffbe && ks <= 0xffc9) { /* F1-F12 */
		snprintf(name, sizeof(name), "f%u", ks - 0xffbe + 1);
		return input_key_by_name(name);
	}
	if (ks >= 0xffb0 && ks <= 0xffb9) { /* KP_0-KP_9 */
		char kp[8];
		snprintf(kp, sizeof(kp), "kp_%u", ks - 0xffb0);
		return input_key_by_name(kp);
	}
	for (size_t i = 0; i < ARRAY_SIZE(keysyms); i++)
		if (keysyms[i].keysym == ks)
			return input_key_by_name(keysyms[i].key);
	return 0;
}

/* A keysym from a client: through the -k layout, else (no -k, or a keysym
 * the layout has no key for) as on a US keyboard, else dropped. */
static void keysym_event(struct vnc *v, unsigned keysym, bool down)
{
	struct keymap_key k = { 0 };

	v->input_seen = true;
	if (!v->keymap || !keymap_lookup(v->keymap, keysym, &k))
		k.key = vnc_keysym_to_key(keysym);
	if (!k.key) {
		debug("vnc: keysym 0x%x has no key", keysym);
		return;
	}
	/* the release is the key's alone: a keysym always means the same
	 * key, and clients send the press's keysym with the release */
	if (v->keymap && down)
		keymap_press(v->keymap, &k);
	else
		input_key(k.key, down);
}

static void key_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	keysym_event(cl->screen->screenData, (unsigned)keysym, down);
}

static void pointer_event(int mask, int x, int y, rfbClientPtr cl)
{
	unsigned buttons = (mask & 1 ? INPUT_BUTTON_LEFT : 0) |
			   (mask & 2 ? INPUT_BUTTON_MIDDLE : 0) |
			   (mask & 4 ? INPUT_BUTTON_RIGHT : 0);
	/* buttons 4 and 5: the wheel up (away from the user) and down */
	int dz = (mask & 8 ? -1 : 0) + (mask & 16 ? 1 : 0);
	((struct vnc *)cl->screen->screenData)->input_seen = true;
	input_mouse_abs(x, y, dz, buttons);
}

/* QEMU's extended key event (pseudo-encoding -258): the client sends the
 * key's scan code with the keysym, so no keyboard layout is needed. */
#define QEMU_EXT_KEY_ENCODING (-258)
#define QEMU_CLIENT_MESSAGE 255

/* Off until the client asks for the pseudo-encoding. */
static rfbBool ext_new_client(rfbClientPtr cl, void **data)
{
	return FALSE;
}

/* The client offers the pseudo-encoding: say yes with an empty
 * rectangle of it, as the protocol asks. */
static rfbBool ext_enable(rfbClientPtr cl, void **data, int encoding)
{
	if (encoding != QEMU_EXT_KEY_ENCODING)
		return FALSE;
	uint8_t msg[16] = { 0 };  /* FramebufferUpdate, 1 rectangle at 0,0, 0x0 */
	msg[3] = 1;
	put_be32(msg + 12, (uint32_t)QEMU_EXT_KEY_ENCODING);
	rfb.write_exact(cl, (const char *)msg, sizeof(msg));
	return TRUE;
}

static rfbBool ext_message(rfbClientPtr cl, void *data, const rfbClientToServerMsg *msg)
{
	uint8_t rest[11];

	if (msg->type != QEMU_CLIENT_MESSAGE)
		return FALSE;
	if (rfb.read_exact(cl, (char *)rest, sizeof(rest)) <= 0) {
		rfb.close_client(cl);
		return TRUE;
	}
	if (rest[0] != 0) { /* no other QEMU message is offered */
		rfb.close_client(cl);
		return TRUE;
	}
	bool down = get_be16(rest + 1) != 0;
	unsigned keysym = get_be32(rest + 3), code = get_be32(rest + 7);
	int key = input_key_by_scancode(code);
	if (key) {
		((struct vnc *)cl->screen->screenData)->input_seen = true;
		input_key(key, down);
	} else {
		keysym_event(cl->screen->screenData, keysym, down);
	}
	return TRUE;
}

static int ext_encodings[] = { QEMU_EXT_KEY_ENCODING, 0 };
static rfbProtocolExtension qemu_ext_key = {
	.newClient = ext_new_client,
	.pseudoEncodings = ext_encodings,
	.enablePseudoEncoding = ext_enable,
	.handleMessage = ext_message,
};

/* ---- clients ----------------------------------------------------------------------- */

/* The configured password, checked against the DES response. */
static rfbBool check_password(rfbClientPtr cl, const char *response, int len)
{
	struct vnc *v = cl->screen->screenData;
	char pw[9];
	unsigned char expect[CHALLENGESIZE];

	pthread_mutex_lock(&v->lock);
	memcpy(pw, v->password, sizeof(pw));
	pthread_mutex_unlock(&v->lock);
	if (!pw[0] || len != CHALLENGESIZE) /* none set: nobody gets in (QEMU) */
		return FALSE;
	memcpy(expect, cl->authChallenge, CHALLENGESIZE);
	rfb.encrypt_bytes(expect, pw);
	bool ok = !memcmp(expect, response, CHALLENGESIZE);
	explicit_bzero(pw, sizeof(pw));
	return ok;
}

static void client_gone(rfbClientPtr cl)
{
	struct vnc *v = cl->screen->screenData;
	pthread_mutex_lock(&v->lock);
	v->clients--;
	v->bytes_gone += rfb.stat_sent_bytes(cl);
	v->bytes_live -= MIN(v->bytes_live, rfb.stat_sent_bytes(cl));
	pthread_mutex_unlock(&v->lock);
	/* libvncserver frees neither a client's list of enabled extensions
	 * when it goes, nor the entry rfbDisableExtension unlinks (0.9.14):
	 * ours (it has no data of its own) is unlinked and freed here */
	for (rfbExtensionData **e = &cl->extensions; *e;) {
		rfbExtensionData *d = *e;
		if (d->extension == &qemu_ext_key) {
			*e = d->next;
			free(d);
		} else {
			e = &d->next;
		}
	}
	/* keys it held must not stay down in the guest */
	input_release_all();
}

static enum rfbNewClientAction client_new(rfbClientPtr cl)
{
	struct vnc *v = cl->screen->screenData;
	cl->clientGoneHook = client_gone;
	pthread_mutex_lock(&v->lock);
	v->clients++;
	pthread_mutex_unlock(&v->lock);
	input_mouse_abs_reset();
	return RFB_CLIENT_ACCEPT;
}

static bool update_picture(struct vnc *v);

static void accept_clients(struct vnc *v, int listen_fd)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		/* the picture as it is now, not as it was when the last
		 * client left: the size the new client is told first is right */
		if (v->surface)
			display_refresh(v->surface);
		update_picture(v);
		v->refresh_ns = VNC_REFRESH_MIN_NS;
		v->next_refresh = now_ns() + VNC_REFRESH_MIN_NS;
		if (!rfb.new_client(v->screen, fd))
			debug("vnc: a connection could not start");
	}
}

/* ---- the picture -------------------------------------------------------------------- */

/* 0x00RRGGBB to libvncserver's default 32-bit layout (red in the lowest byte). */
static void copy_rect(uint32_t *dst, unsigned dst_stride, const uint32_t *src,
		      unsigned src_stride, const struct display_rect *r)
{
	for (unsigned y = r->y; y < r->y + r->h; y++) {
		const uint32_t *s = src + (size_t)y * src_stride + r->x;
		uint32_t *d = dst + (size_t)y * dst_stride + r->x;
		for (unsigned x = 0; x < r->w; x++) {
			uint32_t p = s[x];
			d[x] = ((p >> 16) & 0xff) | (p & 0xff00) | ((p & 0xff) << 16);
		}
	}
}

#define VNC_TILE 16

/* Copies the tile x, y, w, h if any of its pixels differ from what the
 * clients have; true if it did. */
static bool copy_tile_if_changed(struct vnc *v, const uint32_t *src, unsigned src_stride,
				 unsigned x, unsigned y, unsigned w, unsigned h)
{
	for (unsigned ty = y; ty < y + h; ty++) {
		const uint32_t *sp = src + (size_t)ty * src_stride + x;
		const uint32_t *dp = v->fb + (size_t)ty * v->width + x;
		for (unsigned tx = 0; tx < w; tx++) {
			uint32_t p = sp[tx];
			if (dp[tx] != (((p >> 16) & 0xff) | (p & 0xff00) | ((p & 0xff) << 16))) {
				struct display_rect t = { x, y, w, h };
				copy_rect(v->fb, v->width, src, src_stride, &t);
				return true;
			}
		}
	}
	return false;
}

/* The changed rectangle, 16x16 tile by tile against what the clients have
 * (as QEMU's server compares): a text scroll of identical lines, or a
 * rectangle spanning two distant changes, sends only the tiles that
 * differ. Runs of changed tiles in a row are marked as one rectangle.
 * false: nothing differs. */
static bool copy_changed_tiles(struct vnc *v, const uint32_t *src, unsigned src_stride,
			       const struct display_rect *r)
{
	bool any = false;
	for (unsigned y = r->y; y < r->y + r->h;) {
		unsigned h = MIN(VNC_TILE - y % VNC_TILE, r->y + r->h - y);
		unsigned run_x = 0, run_w = 0;
		for (unsigned x = r->x; x < r->x + r->w;) {
			unsigned w = MIN(VNC_TILE - x % VNC_TILE, r->x + r->w - x);
			if (copy_tile_if_changed(v, src, src_stride, x, y, w, h)) {
				if (!run_w)
					run_x = x;
				run_w = x + w - run_x;
			} else if (run_w) {
				rfb.mark_rect(v->screen, (int)run_x, (int)y, (int)(run_x + run_w),
					      (int)(y + h));
				run_w = 0;
				any = true;
			}
			x += w;
		}
		if (run_w) {
			rfb.mark_rect(v->screen, (int)run_x, (int)y, (int)(run_x + run_w), (int)(y + h));
			any = true;
		}
		y += h;
	}
	return any;
}

/* Takes what changed; a new size becomes a new framebuffer (clients that
 * know the desktop-size pseudo-encoding are told). */
static bool update_picture(struct vnc *v)
{
	struct display_surface *s = v->surface;
	struct display_rect r;
	bool resized;
	uint32_t *fresh = NULL, *old = NULL;

	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	bool any = display_client_take_locked(s, &v->view, &r, &resized);
	if (any && (resized || s->width != v->width || s->height != v->height)) {
		fresh = xzalloc((size_t)s->width * s->height * 4);
		r = (struct display_rect){ 0, 0, s->width, s->height };
		copy_rect(fresh, s->width, s->pixels, s->width, &r);
	} else if (any) {
		any = copy_changed_tiles(v, s->pixels, s->width, &r);
	}
	unsigned w = s->width, h = s->height;
	pthread_mutex_unlock(&s->lock);
	if (!any)
		return false;
	if (fresh) {
		old = v->fb;
		v->fb = fresh;
		v->width = w;
		v->height = h;
		rfb.new_framebuffer(v->screen, (char *)fresh, (int)w, (int)h, 8, 3, 4);
		free(old);
	}
	pthread_mutex_lock(&v->lock);
	v->updates++;
	pthread_mutex_unlock(&v->lock);
	return true;
}

static unsigned client_count(struct vnc *v)
{
	pthread_mutex_lock(&v->lock);
	unsigned n = v->clients;
	pthread_mutex_unlock(&v->lock);
	return n;
}

/* Brings the picture up to date when its time has come (the device draws
 * on this thread: the surface's own timer is for front-ends without a
 * pace of their own), and sets the next time. */
static void refresh_when_due(struct vnc *v)
{
	int64_t now = now_ns();
	if (v->input_seen) /* an answer to typing comes at the fast pace */
		v->next_refresh = MIN(v->next_refresh, now + VNC_REFRESH_MIN_NS);
	if (now < v->next_refresh)
		return;
	if (v->surface)
		display_refresh(v->surface);
	bool changed = update_picture(v);
	if (changed || v->input_seen)
		v->refresh_ns = VNC_REFRESH_MIN_NS;
	else
		v->refresh_ns = MIN(v->refresh_ns + VNC_REFRESH_MIN_NS, VNC_REFRESH_MAX_NS);
	v->input_seen = false;
	v->next_refresh = now + v->refresh_ns;
}

/* What libvncserver counted for the clients now connected (its counters
 * belong to this thread; QMP reads the sum). */
static void count_bytes(struct vnc *v)
{
	unsigned long long sum = 0;
	rfbClientIteratorPtr it = rfb.client_iterator(v->screen);
	for (rfbClientPtr cl; (cl = rfb.client_next(it));)
		sum += rfb.stat_sent_bytes(cl);
	rfb.client_iterator_release(it);
	pthread_mutex_lock(&v->lock);
	v->bytes_live = sum;
	pthread_mutex_unlock(&v->lock);
}

static void *vnc_thread(void *opaque)
{
	struct vnc *v = opaque;

	sandbox_thread_start(SANDBOX_UI);
	while (!atomic_load(&v->stop)) {
		struct pollfd p[3] = { { .fd = v->wake_fd, .events = POLLIN },
				       { .fd = v->listen_fd, .events = POLLIN },
				       { .fd = v->listen6_fd, .events = POLLIN } };
		/* nobody connected: sleep until someone does */
		bool idle = client_count(v) == 0;
		if (poll(p, v->listen6_fd >= 0 ? 3 : 2, idle ? -1 : 0) > 0)
			for (int i = 1; i < 3; i++)
				if (p[i].revents & POLLIN)
					accept_clients(v, p[i].fd);
		if (client_count(v) == 0)
			continue;
		refresh_when_due(v);
		int64_t wait = v->next_refresh - now_ns();
		/* returns early when a client sends something */
		rfb.process_events(v->screen, (long)(MAX(wait, 0) / 1000));
		count_bytes(v);
	}
	return NULL;
}

/* ---- set-up ------------------------------------------------------------------------- */

static bool setup_screen(struct vnc *v, const char *name)
{
	v->width = 640;
	v->height = 480;
	v->fb = xzalloc((size_t)v->width * v->height * 4);
	int argc = 0;
	v->screen = rfb.get_screen(&argc, NULL, (int)v->width, (int)v->height, 8, 3, 4);
	if (!v->screen)
		return false;
	rfbScreenInfoPtr sc = v->screen;
	sc->frameBuffer = (char *)v->fb;
	sc->desktopName = name;
	sc->screenData = v;
	/* vmm's own socket; libvncserver's listeners and HTTP server off */
	sc->autoPort = FALSE;
	sc->port = 0;
	sc->ipv6port = 0;
	sc->httpPort = 0;
	sc->httpDir = NULL;
	sc->alwaysShared = TRUE;
	sc->maxClientWait = VNC_CLIENT_WAIT_MS;
	sc->deferUpdateTime = 0; /* the round's pace already gathers changes */
	sc->kbdAddEvent = key_event;
	sc->ptrAddEvent = pointer_event;
	sc->newClientHook = client_new;
	sc->cursor = NULL; /* the guest draws its own pointer */
	if (v->cfg.password) {
		sc->authPasswdData = v; /* non-NULL: VNC authentication */
		sc->passwordCheck = check_password;
	}
	rfb.init_server(sc);
	return true;
}

struct vnc *vnc_create(const struct vnc_config *c, const char *name, char *err, size_t errlen)
{
	char why[200];

	if (lazylib_load(&libvncserver, why, sizeof(why)) < 0) {
		set_err(err, errlen, "-vnc: %s (Debian: libvncserver1)", why);
		return NULL;
	}
	rfb.log_enable(debug_enabled);
	struct vnc *v = xzalloc(sizeof(*v));
	v->cfg = *c;
	v->listen_fd = v->listen6_fd = v->wake_fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	/* the layout now, before the sandbox: XKB reads its files */
	if (c->keymap[0] && !(v->keymap = keymap_load(c->keymap, err, errlen)))
		goto fail;
	if ((c->unix_path[0] ? bind_unix(v, err, errlen) : bind_tcp(v, err, errlen)) < 0)
		goto fail;
	v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->wake_fd < 0) {
		set_err(err, errlen, "-vnc: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (c->password) {
		/* libvncserver's DES is libgcrypt's, which initialises itself
		 * (and tells syslog, through a socket of its own) on first use:
		 * that happens now, during set-up, not under the thread's filter */
		unsigned char warm[CHALLENGESIZE] = { 0 };
		char key[9] = "warm-up";
		rfb.encrypt_bytes(warm, key);
	}
	rfb.register_extension(&qemu_ext_key);
	if (!setup_screen(v, name && *name ? name : "vmm")) {
		set_err(err, errlen, "-vnc: libvncserver cannot set up its screen");
		goto fail;
	}
	current = v;
	return v;
fail:
	vnc_destroy(v);
	return NULL;
}

void vnc_start(struct vnc *v)
{
	v->surface = display_console(0);
	if (v->surface && display_client_add(v->surface, &v->view) < 0)
		v->surface = NULL;
	if (pthread_create(&v->thread, NULL, vnc_thread, v))
		die("-vnc: cannot start its thread");
	v->started = true;
}

void vnc_destroy(struct vnc *v)
{
	if (!v)
		return;
	if (v->started) {
		uint64_t one = 1;
		atomic_store(&v->stop, true);
		if (write(v->wake_fd, &one, sizeof(one)) < 0)
			warn("vnc: cannot wake its thread");
		pthread_join(v->thread, NULL);
	}
	if (v->surface)
		display_client_remove(v->surface, &v->view);
	if (v->screen) {
		rfb.shutdown_server(v->screen, TRUE);
		rfb.screen_cleanup(v->screen);
	}
	if (libvncserver.ok)
		rfb.unregister_extension(&qemu_ext_key);
	if (v->listen6_fd >= 0)
		close(v->listen6_fd);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		if (v->family == AF_UNIX)
			unlink(v->cfg.unix_path);
	}
	if (v->wake_fd >= 0)
		close(v->wake_fd);
	if (current == v)
		current = NULL;
	free(v->fb);
	keymap_free(v->keymap);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int vnc_set_password(struct vnc *v, const char *password)
{
	if (!v->cfg.password)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	memset(v->password, 0, sizeof(v->password));
	snprintf(v->password, sizeof(v->password), "%s", password);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

void vnc_query(struct vnc *v, struct vnc_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->host, sizeof(out->host), "%s", v->bound_host);
	snprintf(out->service, sizeof(out->service), "%s", v->bound_port);
	out->family = v->family == AF_UNIX ? "unix" : v->family == AF_INET6 ? "ipv6" : "ipv4";
	out->auth = v->cfg.password ? "vnc" : "none";
	pthread_mutex_lock(&v->lock);
	out->clients = v->clients;
	out->bytes_sent = v->bytes_gone + v->bytes_live;
	out->updates = v->updates;
	pthread_mutex_unlock(&v->lock);
}
