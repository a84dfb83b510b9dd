// SPDX-License-Identifier: MIT
/*
 * Event channels: a queue of rdma_cm events per channel, and an eventfd
 * (the channel's public fd) whose counter is non-zero exactly while the
 * queue holds events, so poll/epoll on it say "an event is waiting" and
 * nothing else. The counter is only ever 0 or 1: raised when the queue
 * goes from empty to non-empty, drained (a read that cannot block: the
 * counter is 1) when it goes empty again.
 *
 * rdma_get_cm_event takes the head of the queue; on an empty queue it
 * waits in poll() on the fd, or fails with EAGAIN if the application made
 * the fd O_NONBLOCK, as with the kernel's rdma_cm fd.
 *
 * Event accounting follows librdmacm: each event counts on its owner id
 * (the listener for CONNECT_REQUEST); rdma_destroy_id and rdma_migrate_id
 * wait until every event handed out has been acked, and events still
 * queued for a destroyed id are dropped.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ext.h"

struct cm_channel *cm_channel_new(void)
{
	struct cm_channel *ch = calloc(1, sizeof(*ch));

	if (!ch) {
		errno = ENOMEM;
		return NULL;
	}
	ch->ch.fd = eventfd(0, EFD_CLOEXEC);
	if (ch->ch.fd < 0) {
		free(ch);
		return NULL;
	}
	return ch;
}

static void chan_signal(struct cm_channel *ch)
{
	uint64_t one = 1;

	if (!ch->signaled && write(ch->ch.fd, &one, sizeof(one)) == sizeof(one))
		ch->signaled = true;
}

static void chan_unsignal(struct cm_channel *ch)
{
	uint64_t v;

	/* the counter is 1: this read never blocks, O_NONBLOCK or not */
	if (ch->signaled && read(ch->ch.fd, &v, sizeof(v)) == sizeof(v))
		ch->signaled = false;
}

/*
 * Destroyed channels are kept (a few dozen bytes each, on a list so leak
 * checkers see them) and never touched again but for their `dead` flag.
 * Programs wait for events in one thread and destroy the channel in
 * another (rping does): with the kernel's rdma_cm, a thread blocked in
 * the channel's read stays blocked, the process exits normally. Here such
 * a thread may wake or come back; it finds the channel dead and waits
 * forever, as it would have on the kernel's fd, instead of reading freed
 * memory.
 */
static struct cm_channel *dead_channels;
static bool interruptible(void);

/* Locked. Every id still on @ch loses its channel (its events are then
 * dropped), as the kernel's rdma_cm drops ids with their file. */
void cm_channel_free(struct cm_channel *ch)
{
	struct cm_event *e, *n;
	struct cm_id *id;

	for (id = cm_g.ids; id; id = id->next)
		if (id->id.channel == &ch->ch)
			id->chan_dead = true;
	for (e = ch->head; e; e = n) {
		n = e->next;
		if (e->ev.event == RDMA_CM_EVENT_CONNECT_REQUEST &&
		    e->target != e->owner)
			cm_id_discard(e->target);
		free(e);
	}
	ch->head = ch->tail = NULL;
	/* a thread in poll() on it keeps sleeping: nothing wakes it now */
	close(ch->ch.fd);
	ch->dead = true;
	ch->next_dead = dead_channels;
	dead_channels = ch;
}

/* rdma_get_cm_event on a destroyed channel: no event will ever come. */
static int wait_forever(void)
{
	for (;;) {
		pause();
		if (interruptible())
			return ext_err(EINTR);
	}
}

struct cm_event *cm_event_new(struct cm_id *id, enum rdma_cm_event_type type,
			      int status)
{
	struct cm_event *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->ev.id = &id->id;
	e->ev.event = type;
	e->ev.status = status;
	e->owner = id;
	e->target = id;
	return e;
}

/* Locked. The owner's channel gets @e (the listener's for a request). */
void cm_event_post(struct cm_event *e)
{
	struct cm_channel *ch = cm_id_channel(e->owner);

	CM_DBG("id %p: event %d status %d%s", (void *)e->target, e->ev.event,
	       e->ev.status, ch ? "" : " dropped (no channel)");
	if (!ch) {
		free(e);
		return;
	}
	if (e->ev.event == RDMA_CM_EVENT_DISCONNECTED)
		e->target->disc_queued = true;
	e->next = NULL;
	if (ch->tail)
		ch->tail->next = e;
	else
		ch->head = e;
	ch->tail = e;
	chan_signal(ch);
}

static struct cm_event *chan_pop(struct cm_channel *ch)
{
	struct cm_event *e = ch->head;

	if (!e)
		return NULL;
	ch->head = e->next;
	if (!ch->head) {
		ch->tail = NULL;
		chan_unsignal(ch);
	}
	e->next = NULL;
	return e;
}

/* Unlinks the events @pick selects from @ch, in order, into a list. */
static struct cm_event *chan_take(struct cm_channel *ch, struct cm_id *id,
				  bool (*pick)(struct cm_event *,
					       struct cm_id *))
{
	struct cm_event **pp = &ch->head, *e, *out = NULL, **tail = &out;

	ch->tail = NULL;
	while ((e = *pp)) {
		if (pick(e, id)) {
			*pp = e->next;
			e->next = NULL;
			*tail = e;
			tail = &e->next;
		} else {
			ch->tail = e;
			pp = &e->next;
		}
	}
	if (!ch->head)
		chan_unsignal(ch);
	return out;
}

static bool of_id(struct cm_event *e, struct cm_id *id)
{
	return e->owner == id || e->target == id;
}

static bool owned_by(struct cm_event *e, struct cm_id *id)
{
	return e->owner == id;
}

void cm_channel_purge(struct cm_id *id)
{
	struct cm_channel *ch = cm_id_channel(id);
	struct cm_event *e, *n;

	if (!ch)
		return;
	for (e = chan_take(ch, id, of_id); e; e = n) {
		n = e->next;
		/* a connection request the application never saw: its new
		 * id goes with it */
		if (e->ev.event == RDMA_CM_EVENT_CONNECT_REQUEST &&
		    e->target != id)
			cm_id_discard(e->target);
		free(e);
	}
}

void cm_channel_drop_mc(struct cm_id *id, struct cm_mcast *mc)
{
	struct cm_channel *ch = cm_id_channel(id);
	struct cm_event **pp, *e;

	if (!ch)
		return;
	ch->tail = NULL;
	for (pp = &ch->head; (e = *pp);) {
		if (e->mc == mc) {
			*pp = e->next;
			free(e);
		} else {
			ch->tail = e;
			pp = &e->next;
		}
	}
	if (!ch->head)
		chan_unsignal(ch);
}

void cm_channel_move(struct cm_id *id, struct cm_channel *to)
{
	struct cm_channel *from = cm_id_channel(id);
	struct cm_event *e, *n;

	if (!from || from == to)
		return;
	for (e = chan_take(from, id, owned_by); e; e = n) {
		n = e->next;
		e->next = NULL;
		if (to->tail)
			to->tail->next = e;
		else
			to->head = e;
		to->tail = e;
		chan_signal(to);
	}
}

struct rdma_event_channel *ext_rdma_create_event_channel(void)
{
	struct cm_channel *ch = cm_channel_new();

	return ch ? &ch->ch : NULL;
}

void ext_rdma_destroy_event_channel(struct rdma_event_channel *channel)
{
	pthread_mutex_lock(&cm_g.lock);
	cm_channel_free(container_of(channel, struct cm_channel, ch));
	pthread_mutex_unlock(&cm_g.lock);
}

/*
 * A signal interrupted our wait. The kernel's rdma_cm fd is read with an
 * interruptible wait, restarted after a handler installed with SA_RESTART
 * and failing with EINTR otherwise; poll() is never restarted, and we do
 * not know which signal came. So: fail with EINTR if any caught signal has
 * a handler without SA_RESTART (Python installs such handlers, and runs
 * them only once the call returns), else wait again (signal() handlers,
 * as perftest's SIGALRM, are SA_RESTART).
 */
static bool interruptible(void)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < SIGRTMAX; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    sigaction(sig, NULL, &sa))
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return true;
	}
	return false;
}

int ext_rdma_get_cm_event(struct rdma_event_channel *channel,
			  struct rdma_cm_event **event)
{
	struct cm_channel *ch;
	struct pollfd pfd = { .events = POLLIN };
	struct cm_event *e;
	int fl;

	if (!channel || !event)
		return ext_err(EINVAL);
	ch = container_of(channel, struct cm_channel, ch);
	for (;;) {
		pthread_mutex_lock(&cm_g.lock);
		if (ch->dead) {
			pthread_mutex_unlock(&cm_g.lock);
			return wait_forever();
		}
		while ((e = chan_pop(ch))) {
			if (e->ev.event == RDMA_CM_EVENT_DISCONNECTED)
				e->target->disc_queued = false;
			if (cm_conn_event_out(e))
				break;
			free(e);
		}
		if (e) {
			e->owner->reported++;
			if (e->mc)
				e->mc->reported++;
			pthread_mutex_unlock(&cm_g.lock);
			*event = &e->ev;
			return 0;
		}
		/* the fd and its flags while the channel cannot go: once the
		 * lock is dropped another thread may destroy it and close its
		 * fd (rping's main thread does as its CM thread waits), and a
		 * look at the fd then would fail with EBADF. poll() on a
		 * closed fd returns at once (POLLNVAL) and the next turn
		 * finds the channel dead; on an fd number taken again since,
		 * it waits or returns, and the same holds. */
		pfd.fd = channel->fd;
		fl = fcntl(pfd.fd, F_GETFL);
		pthread_mutex_unlock(&cm_g.lock);
		if (fl < 0)
			return -1;
		if (fl & O_NONBLOCK)
			return ext_err(EAGAIN);
		if (poll(&pfd, 1, -1) < 0 &&
		    (errno != EINTR || interruptible()))
			return -1;
	}
}

void cm_event_ack_locked(struct rdma_cm_event *event)
{
	struct cm_event *e = container_of(event, struct cm_event, ev);

	if (e->mc)
		cm_mcast_event_acked(e);
	e->owner->acked++;
	pthread_cond_broadcast(&e->owner->cond);
	free(e);
}

int ext_rdma_ack_cm_event(struct rdma_cm_event *event)
{
	if (!event)
		return ext_err(EINVAL);
	pthread_mutex_lock(&cm_g.lock);
	cm_event_ack_locked(event);
	pthread_mutex_unlock(&cm_g.lock);
	return 0;
}

int cm_complete(struct cm_id *id)
{
	struct rdma_cm_event *ev;
	int ret;

	if (!id->sync)
		return 0;
	if (id->id.event) {
		ext_rdma_ack_cm_event(id->id.event);
		id->id.event = NULL;
	}
	ret = ext_rdma_get_cm_event(id->id.channel, &id->id.event);
	if (ret)
		return ret;
	ev = id->id.event;
	if (!ev->status)
		return 0;
	if (ev->event == RDMA_CM_EVENT_REJECTED)
		return ext_err(ECONNREFUSED);
	return ext_err(ev->status < 0 ? -ev->status : ev->status);
}
