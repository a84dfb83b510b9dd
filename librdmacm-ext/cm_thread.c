// SPDX-License-Identifier: MIT
/*
 * The background thread: one per process, started by the first socket it
 * has to watch (a listener or a connecting id), never by merely loading
 * the library. It waits in epoll_wait on every CM socket and, holding
 * cm_g.lock, accepts connections, completes connects, reads whole messages
 * and hands them to cm_conn.c, flushes queued output, and fires timers
 * (connect and REQ timeouts, lingering closes, TIMEWAIT_EXIT, a UD id's
 * unanswered SIDR request).
 *
 * Output: cm_conn_send() appends a message to the connection's buffer and
 * sends what the socket takes at once (CM messages are small, so normally
 * everything); the rest goes when the socket is writable.
 *
 * Freed connections: a connection closed while the thread may hold it in
 * the batch epoll_wait just returned is marked dead and put in a
 * graveyard; the thread skips dead entries and frees the graveyard before
 * its next epoll_wait, when no stale pointer can remain.
 *
 * fork(): the child gets no thread and a fresh epoll set (the parent's
 * would otherwise be shared); its inherited CM sockets are left alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ext.h"

#define BATCH 64

struct cm_globals cm_g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.epfd = -1,
};

int cm_debug_level;

void cm_debug(const char *fmt, ...)
{
	int saved = errno;
	char buf[256];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "librdmacm-ext[%d/%ld] %llu: ", getpid(),
		     (long)syscall(SYS_gettid),
		     (unsigned long long)cm_now_ms());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	if (write(STDERR_FILENO, buf, strlen(buf)) < 0)
		errno = saved; /* a log line is not worth an error */
	errno = saved;
}

uint64_t cm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t cm_random_psn(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)cm_now_ms() * 2654435761u;
	return v & 0xffffff;
}

struct cm_conn *cm_conn_new(int fd, enum cm_conn_kind kind)
{
	struct cm_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->fd = fd;
	c->kind = kind;
	c->next = cm_g.conns;
	cm_g.conns = c;
	return c;
}

static void unlink_conn(struct cm_conn *c)
{
	struct cm_conn **pp;

	for (pp = &cm_g.conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

void cm_conn_close(struct cm_conn *c)
{
	if (c->dead)
		return;
	if (c->in_ep && cm_g.epfd >= 0)
		epoll_ctl(cm_g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	cm_sec_release(c);
	if (c->fd >= 0)
		close(c->fd);
	c->dead = true;
	if (c->id && c->id->conn == c)
		c->id->conn = NULL;
	c->id = NULL;
	unlink_conn(c);
	if (!cm_g.thread_running) {
		/* no thread, no batch that could still name it */
		free(c->out);
		free(c);
		return;
	}
	c->next = cm_g.grave;
	cm_g.grave = c;
}

void cm_conn_update(struct cm_conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	if (!c->watched || c->dead)
		return;
	if (c->retry) {
		/* an unconnected socket polls as hung up whatever the mask:
		 * out of the set until the retry */
		if (c->in_ep &&
		    !epoll_ctl(cm_g.epfd, EPOLL_CTL_DEL, c->fd, NULL))
			c->in_ep = false;
		return;
	}
	ev.events = EPOLLIN;
	/* TLS says when it waits for room (cm_sec.c) */
	/* nothing goes out while the routing answer is awaited */
	if (c->kind == CONN_STREAM &&
	    (c->connecting ||
	     (!c->route_wait &&
	      (c->sec == CM_SEC_PLAIN ? c->out_len > 0 : c->hs_write))))
		ev.events |= EPOLLOUT;
	if (!c->in_ep) {
		if (!epoll_ctl(cm_g.epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
			c->in_ep = true;
			c->ev_mask = ev.events;
		}
	} else if (ev.events != c->ev_mask &&
		   !epoll_ctl(cm_g.epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
		c->ev_mask = ev.events;
	}
}

void cm_conn_flush(struct cm_conn *c)
{
	ssize_t n;

	if (c->route_wait || c->fd < 0) {
		cm_conn_update(c);
		return;
	}
	if (c->sec != CM_SEC_PLAIN)
		cm_sec_flush(c);
	while (c->sec == CM_SEC_PLAIN && c->out_len) {
		n = send(c->fd, c->out, c->out_len,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->out_len =
					0; /* the read side sees the error */
			break;
		}
		memmove(c->out, c->out + n, c->out_len - n);
		c->out_len -= n;
	}
	if (!c->out_len && !c->rec_pending && c->closing && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	cm_conn_update(c);
}

int cm_conn_send(struct cm_conn *c, uint8_t type, const void *body, size_t len)
{
	/* TLS: a record of RTCP_CM_MAX_MSG bytes per message (cm_sec.c) */
	size_t msg = c->sec == CM_SEC_PLAIN ? RTCP_CM_HDR_LEN + len
					    : RTCP_CM_MAX_MSG;
	size_t need = c->out_len + msg;
	uint8_t *p;

	if (c->dead || c->closing || len > RTCP_CM_MAX_BODY)
		return ext_err(EINVAL);
	if (need > c->out_cap) {
		p = realloc(c->out, need);
		if (!p)
			return ext_err(ENOMEM);
		c->out = p;
		c->out_cap = need;
	}
	CM_DBG("fd %d: send message %u (%zu bytes)", c->fd, type, len);
	memset(c->out + c->out_len, 0, msg);
	rtcp_cm_encode(c->out + c->out_len, type, body, len);
	c->out_len = need;
	if (c->watched && !c->connecting)
		cm_conn_flush(c);
	return 0;
}

void cm_conn_finish(struct cm_conn *c)
{
	c->id = NULL;
	/* a TLS connection not up yet has nothing worth finishing */
	if (!c->watched || c->connecting || c->kind != CONN_STREAM ||
	    (c->sec != CM_SEC_PLAIN && c->sec != CM_SEC_UP)) {
		cm_conn_close(c);
		return;
	}
	c->closing = true;
	c->deadline = cm_now_ms() + CM_LINGER_MS;
	cm_conn_flush(c);
}

/*
 * A close() with unread input sends a reset, and a reset can make the
 * peer's kernel drop what we sent just before it: a TLS alert saying why
 * its credentials were refused. So a broken connection is shut for
 * writing and read to its end instead.
 */
void cm_conn_drain(struct cm_conn *c)
{
	cm_sec_release(c);
	c->sec = CM_SEC_PLAIN;
	c->hs_write = false;
	c->id = NULL;
	c->listen_id = NULL;
	c->out_len = 0;
	c->drain = c->closing = c->shut = true;
	if (shutdown(c->fd, SHUT_WR) || !c->watched) {
		cm_conn_close(c);
		return;
	}
	c->deadline = cm_now_ms() + CM_LINGER_MS;
	cm_conn_update(c);
}

static void drain_input(struct cm_conn *c)
{
	uint8_t buf[512];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		cm_conn_close(c);
		return;
	}
}

/* Reads whole messages and dispatches them until the socket is dry. */
static void conn_read(struct cm_conn *c)
{
	size_t body;
	uint8_t type;
	ssize_t n;
	int r;

	while (!c->dead) {
		n = recv(c->fd, c->in + c->in_len,
			 rtcp_cm_want(c->in, c->in_len), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			CM_DBG("fd %d: %s", c->fd, n ? strerror(errno) : "EOF");
			/* EOF or error: a finished conn is done, a live one
			 * lost its peer */
			if (c->closing)
				cm_conn_close(c);
			else
				cm_on_lost(c, n ? errno : 0);
			return;
		}
		c->in_len += n;
		r = rtcp_cm_parse(c->in, c->in_len, &type, &body);
		if (r == RTCP_CM_MORE)
			continue;
		if (r == RTCP_CM_BAD) {
			if (c->closing)
				cm_conn_close(c);
			else
				cm_on_lost(c, EPROTO);
			return;
		}
		c->in_len = 0;
		CM_DBG("fd %d: message %u (%zu bytes)%s", c->fd, type, body,
		       c->closing ? ", ignored: closing" : "");
		if (!c->closing)
			cm_on_message(c, type, c->in + RTCP_CM_HDR_LEN, body);
	}
}

/*
 * A connecting socket's event can predate its connect: it joins the epoll
 * set before connect() (cm_conn_start), and an unconnected socket polls as
 * hung up, so a thread waiting in epoll_wait may harvest that and handle
 * it once connect() has begun. Its SYN may still be unanswered then
 * (held by a full backlog, or a softirq deferred on a busy CPU): no error
 * yet, and a send would fail with EAGAIN. A SYN_SENT socket polls as
 * nothing, so waiting for its next event costs no spin.
 */
static bool syn_sent(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return !getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
	       ti.tcpi_state == TCP_SYN_SENT;
}

static void handle(struct cm_conn *c, uint32_t events)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	if (c->kind == CONN_CTL) {
		cm_route_accept(c);
		return;
	}
	if (c->kind == CONN_MBOX) {
		cm_route_mbox_ready(c);
		return;
	}
	if (c->retry)
		return; /* left the set in this batch */
	if (c->drain) {
		drain_input(c);
		return;
	}
	if (c->connecting) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl))
			err = errno;
		if (!err && syn_sent(c->fd))
			return;
		CM_DBG("fd %d: connect: %s", c->fd, err ? strerror(err) : "ok");
		/* connected: the routing prefix goes out (cm_route.c) */
		cm_on_connected(c, err);
		return;
	}
	if (c->route_in) {
		cm_route_read(c);
		return;
	}
	if (c->route_wait) {
		cm_route_answer(c);
		return;
	}
	if (c->sec != CM_SEC_PLAIN) {
		cm_sec_handle(c, events);
		return;
	} else if (events & EPOLLOUT) {
		cm_conn_flush(c);
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(c);
}

/* Fires due timers; returns ms until the next one (-1: none). */
static int timers(void)
{
	uint64_t now = cm_now_ms(), next = 0;
	int t;
	struct cm_conn *c, *cn;
	struct cm_id *id, *in;

	for (c = cm_g.conns; c; c = cn) {
		cn = c->next;
		if (!c->deadline)
			continue;
		if (c->deadline <= now) {
			if (c->closing)
				cm_conn_close(c);
			else
				cm_on_timeout(c);
			/* the conn list may have changed under us */
			cn = cm_g.conns;
			continue;
		}
		if (!next || c->deadline < next)
			next = c->deadline;
	}
	for (id = cm_g.ids; id; id = in) {
		in = id->next;
		if (id->sidr_at && id->sidr_at <= now)
			cm_on_sidr_timeout(id);
		else if (id->sidr_at && (!next || id->sidr_at < next))
			next = id->sidr_at;
		if (!id->timewait_at)
			continue;
		if (id->timewait_at <= now)
			cm_on_timewait(id);
		else if (!next || id->timewait_at < next)
			next = id->timewait_at;
	}
	t = cm_route_timer(now);
	if (t >= 0 && (!next || now + t < next))
		next = now + t;
	if (!next)
		return -1;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

static void *cm_thread(void *arg)
{
	struct epoll_event evs[BATCH];
	struct cm_conn *c;
	int n, i, timeout, epfd;

	pthread_mutex_lock(&cm_g.lock);
	for (;;) {
		while ((c = cm_g.grave)) {
			cm_g.grave = c->next;
			free(c->out);
			free(c);
		}
		timeout = timers();
		epfd = cm_g.epfd;
		pthread_mutex_unlock(&cm_g.lock);
		n = epoll_wait(epfd, evs, BATCH, timeout);
		pthread_mutex_lock(&cm_g.lock);
		for (i = 0; i < n; i++) {
			c = evs[i].data.ptr;
			if (!c->dead)
				handle(c, evs[i].events);
		}
	}
	return NULL;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&cm_g.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&cm_g.lock);
}

static void atfork_child(void)
{
	pthread_mutex_unlock(&cm_g.lock);
	if (cm_g.epfd >= 0)
		close(cm_g.epfd);
	cm_g.epfd = -1;
	cm_g.thread_running = false;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Locked. */
static int thread_start(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int err;

	if (cm_g.epfd < 0) {
		cm_g.epfd = epoll_create1(EPOLL_CLOEXEC);
		if (cm_g.epfd < 0)
			return -1;
	}
	if (cm_g.thread_running)
		return 0;
	pthread_once(&atfork_once, atfork_register);
	/* signals are the application's: the thread takes none */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, cm_thread, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return ext_err(err);
	cm_g.thread_running = true;
	return 0;
}

int cm_conn_watch(struct cm_conn *c, enum cm_conn_kind kind)
{
	if (thread_start())
		return -1;
	c->kind = kind;
	c->watched = true;
	cm_conn_update(c);
	return c->in_ep || c->retry ? 0 : -1;
}
