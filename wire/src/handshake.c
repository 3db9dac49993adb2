/*
 * handshake.c - the handshake guard (wire/handshake.h).
 *
 * Pending connections sit in one list, oldest first, and in a list per
 * client address: the oldest is always at a head, so the timeout sweep, an
 * eviction and an upgrade are O(1).  Client addresses live in a fixed hash
 * table of chains, created on a connection's accept and freed with its
 * address's last connection.
 *
 * "Old enough to evict" is counted in service rounds, not time: a tick timer
 * armed by every accept fires at the start of the next lws_service round
 * (timers run before poll()), and keeps firing for EVICT_MIN_ROUNDS rounds
 * after the last accept.  A connection accepted in round R has been in a
 * poll() and had its input served once round R + 2 has begun.  The same tick
 * resumes a listener paused after PWS__HS_ACCEPTS_PER_ROUND accepts.
 */
#include "wire/handshake.h"
#include "wire/clock.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ADDR_BUCKETS 1024u    /* hash chains of client addresses (a power of two) */
#define ADDR_KEY_LEN 17       /* a family byte, then 4 (IPv4) or 16 (IPv6) address bytes */
#define EVICT_MIN_ROUNDS 2u   /* service rounds a pending connection is spared after its accept */

#define ST_SET(g, f, v) __atomic_store_n(&(g)->st.f, (v), __ATOMIC_RELAXED)
#define ST_BUMP(g, f) ST_SET(g, f, (g)->st.f + 1) /* one writer: the service thread */

typedef struct hs_addr {
    struct hs_addr *next;             /* in its bucket */
    unsigned char key[ADDR_KEY_LEN];  /* the address (zero-padded) */
    uint32_t total;                   /* its tracked connections: pending, upgraded or closing */
    uint32_t npending;                /* of those, pending */
    pws__hs_entry *phead, *ptail;     /* its pending connections, oldest first */
} hs_addr;

typedef enum entry_state {
    E_PENDING = 0, /* accepted, upgrade request not complete */
    E_UPGRADED,    /* upgrade request complete in time */
    E_CLOSING      /* the guard closed it (timed out or evicted); lws has not reported the close yet */
} entry_state;

struct pws__hs_entry {
    struct lws *wsi;              /* the connection */
    hs_addr *addr;                /* its client address */
    pws__hs_entry *prev, *next;   /* all pending connections, oldest first */
    pws__hs_entry *aprev, *anext; /* its address's pending connections, oldest first */
    int64_t deadline_us;          /* monotonic time its upgrade must be complete by */
    uint32_t round;               /* the guard's service round at its accept */
    entry_state st;               /* progress */
};

struct pws__hs_guard {
    struct lws_context *ctx;      /* the server's context (timers) */
    pws__hs_limits lim;           /* the limits, defaults filled in */
    uint32_t max_pending_per_address; /* half of lim.max_pending (at least 1) */
    size_t fd_budget;             /* descriptors the tracked connections may hold */
    unsigned fds_per_open;        /* descriptors one upgraded connection holds */
    size_t nfds;                  /* descriptors held now (closing connections no longer counted) */
    uint32_t npending;            /* pending connections */
    pws__hs_entry *head, *tail;   /* pending connections, oldest first */
    hs_addr *buckets[ADDR_BUCKETS]; /* client addresses with tracked connections */
    uint32_t round;               /* service rounds counted by the tick */
    uint32_t round_accepts;       /* connections admitted in this round */
    struct lws *listener;         /* the listener paused for the rest of this round, or NULL */
    unsigned char incoming[ADDR_KEY_LEN]; /* the address pws__hs_filter admitted last ... */
    bool incoming_set;            /* ... and pws__hs_accept has not taken yet */
    uint32_t last_accept_round;   /* round of the latest accept: the tick runs until round + EVICT_MIN_ROUNDS */
    bool tick_armed;              /* tick_sul is scheduled */
    lws_sorted_usec_list_t tick_sul;  /* counts service rounds after accepts */
    lws_sorted_usec_list_t sweep_sul; /* closes pending connections past their deadline */
    bool sweep_armed;             /* sweep_sul is scheduled */
    pws__hs_stats st;             /* counters, read by any thread (relaxed atomics) */
};

/* ------------------------------------------------------------ limits */

int pws__hs_check(const pws__hs_limits *l, char *err, size_t errcap)
{
    if (l->timeout_ms > PWS__HS_MAX_TIMEOUT_MS) {
        snprintf(err, errcap, "handshake timeout %u ms out of range (1..%u ms)", l->timeout_ms, PWS__HS_MAX_TIMEOUT_MS);
        return -1;
    }
    if (l->max_pending > PWS__HS_MAX_PENDING) {
        snprintf(err, errcap, "max pending handshakes %u out of range (1..%u)", l->max_pending, PWS__HS_MAX_PENDING);
        return -1;
    }
    if (l->max_per_address > PWS__HS_MAX_PER_ADDRESS) {
        snprintf(err, errcap, "max connections per address %u out of range (0 = no cap, 1..%u)", l->max_per_address,
                 PWS__HS_MAX_PER_ADDRESS);
        return -1;
    }
    return 0;
}

pws__hs_limits pws__hs_effective(const pws__hs_limits *l)
{
    pws__hs_limits e = *l;
    if (!e.timeout_ms)
        e.timeout_ms = PWS__HS_DEFAULT_TIMEOUT_MS;
    if (!e.max_pending)
        e.max_pending = PWS__HS_DEFAULT_MAX_PENDING;
    return e;
}

/* ------------------------------------------------------------ client addresses */

/* A peer address as a key; IPv4-mapped IPv6 addresses count as IPv4.  Another
 * family stays all zeros (those share one record). */
static void addr_key(const struct sockaddr_storage *ss, unsigned char key[ADDR_KEY_LEN])
{
    memset(key, 0, ADDR_KEY_LEN);
    if (ss->ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, mapped, sizeof mapped)) {
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 16);
        }
    }
}

/* The key of a connected socket's peer (all zeros if getpeername fails). */
static void peer_key(struct lws *wsi, unsigned char key[ADDR_KEY_LEN])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &len) != 0)
        ss.ss_family = AF_UNSPEC;
    addr_key(&ss, key);
}

static uint32_t key_hash(const unsigned char key[ADDR_KEY_LEN])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < ADDR_KEY_LEN; i++)
        h = (h ^ key[i]) * 16777619u;
    return h & (ADDR_BUCKETS - 1);
}

static hs_addr *addr_find(pws__hs_guard *g, const unsigned char key[ADDR_KEY_LEN])
{
    for (hs_addr *a = g->buckets[key_hash(key)]; a; a = a->next)
        if (!memcmp(a->key, key, ADDR_KEY_LEN))
            return a;
    return NULL;
}

static hs_addr *addr_get(pws__hs_guard *g, const unsigned char key[ADDR_KEY_LEN])
{
    hs_addr *a = addr_find(g, key);
    if (a)
        return a;
    a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    memcpy(a->key, key, ADDR_KEY_LEN);
    uint32_t h = key_hash(key);
    a->next = g->buckets[h];
    g->buckets[h] = a;
    return a;
}

/* Drops one connection from its address; the record goes with the last one. */
static void addr_release(pws__hs_guard *g, hs_addr *a)
{
    if (--a->total)
        return;
    for (hs_addr **pp = &g->buckets[key_hash(a->key)]; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    free(a);
}

/* ------------------------------------------------------------ pending lists */

static void pending_unlink(pws__hs_guard *g, pws__hs_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        g->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        g->tail = e->prev;
    hs_addr *a = e->addr;
    if (e->aprev)
        e->aprev->anext = e->anext;
    else
        a->phead = e->anext;
    if (e->anext)
        e->anext->aprev = e->aprev;
    else
        a->ptail = e->aprev;
    e->prev = e->next = e->aprev = e->anext = NULL;
    a->npending--;
    g->npending--;
    ST_SET(g, pending, g->npending);
}

static void pending_append(pws__hs_guard *g, pws__hs_entry *e)
{
    e->prev = g->tail;
    if (g->tail)
        g->tail->next = e;
    else
        g->head = e;
    g->tail = e;
    hs_addr *a = e->addr;
    e->aprev = a->ptail;
    if (a->ptail)
        a->ptail->anext = e;
    else
        a->phead = e;
    a->ptail = e;
    a->npending++;
    g->npending++;
    ST_SET(g, pending, g->npending);
    if (g->npending > g->st.pending_peak)
        ST_SET(g, pending_peak, g->npending);
}

/* Closes a pending connection now (its close callbacks run inside this call:
 * nothing of e may be used after it). */
static void close_pending(pws__hs_guard *g, pws__hs_entry *e)
{
    pending_unlink(g, e);
    e->st = E_CLOSING;
    g->nfds--;
    /* lws 4.1: closes at once a wsi that is not the one being served (ours are
     * served from the listener's accept or from a timer) */
    lws_set_timeout(e->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

/* Closes e to make room, if it has been polled for input at least once. */
static bool evict(pws__hs_guard *g, pws__hs_entry *e)
{
    if (!e || g->round < e->round + EVICT_MIN_ROUNDS)
        return false;
    ST_BUMP(g, evicted);
    close_pending(g, e);
    return true;
}

/* ------------------------------------------------------------ timers */

static void tick_cb(lws_sorted_usec_list_t *sul);

static void tick_arm(pws__hs_guard *g)
{
    if (g->tick_armed)
        return;
    /* 1 us: due after this round's timers ran, so it fires at the next round's start */
    lws_sul_schedule(g->ctx, 0, &g->tick_sul, tick_cb, 1);
    g->tick_armed = true;
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    pws__hs_guard *g = lws_container_of(sul, pws__hs_guard, tick_sul);
    g->round++;
    g->round_accepts = 0;
    g->tick_armed = false;
    if (g->listener) {
        lws_rx_flow_control(g->listener, 1); /* accepting again, up to PWS__HS_ACCEPTS_PER_ROUND */
        g->listener = NULL;
    }
    if (g->round < g->last_accept_round + EVICT_MIN_ROUNDS)
        tick_arm(g);
}

static void sweep_cb(lws_sorted_usec_list_t *sul);

static void sweep_schedule(pws__hs_guard *g)
{
    if (g->sweep_armed || !g->head)
        return;
    int64_t wait = g->head->deadline_us - pws__mono_us();
    lws_sul_schedule(g->ctx, 0, &g->sweep_sul, sweep_cb, wait > 0 ? wait : 1);
    g->sweep_armed = true;
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
    pws__hs_guard *g = lws_container_of(sul, pws__hs_guard, sweep_sul);
    g->sweep_armed = false;
    int64_t now = pws__mono_us();
    /* every connection has the same timeout: the list is in deadline order */
    while (g->head && g->head->deadline_us <= now) {
        ST_BUMP(g, timed_out);
        close_pending(g, g->head);
    }
    sweep_schedule(g);
}

/* ------------------------------------------------------------ API */

pws__hs_guard *pws__hs_new(struct lws_context *ctx, const pws__hs_limits *l, size_t fd_budget,
                           unsigned fds_per_open)
{
    pws__hs_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->ctx = ctx;
    g->lim = pws__hs_effective(l);
    g->max_pending_per_address = g->lim.max_pending / 2 ? g->lim.max_pending / 2 : 1;
    g->fd_budget = fd_budget;
    g->fds_per_open = fds_per_open ? fds_per_open : 1;
    return g;
}

void pws__hs_quiesce(pws__hs_guard *g)
{
    if (!g)
        return;
    lws_sul_cancel(&g->tick_sul);
    lws_sul_cancel(&g->sweep_sul);
    g->tick_armed = g->sweep_armed = false;
    g->ctx = NULL; /* no timer is armed again: accepts have ended with the service thread */
}

void pws__hs_free(pws__hs_guard *g)
{
    if (!g)
        return;
    /* entries lws never reported closed (none expected) go with their addresses */
    while (g->head) {
        pws__hs_entry *e = g->head;
        pending_unlink(g, e);
        free(e);
    }
    for (size_t i = 0; i < ADDR_BUCKETS; i++)
        while (g->buckets[i]) {
            hs_addr *a = g->buckets[i];
            g->buckets[i] = a->next;
            free(a);
        }
    free(g);
}

int pws__hs_filter(pws__hs_guard *g, struct lws *listener, const struct lws_filter_network_conn_args *args)
{
    if (!g)
        return 0;
    if (!g->ctx)
        return 1; /* stopping */
    ST_BUMP(g, accepted);
    unsigned char key[ADDR_KEY_LEN];
    addr_key(&args->cli_addr, key);
    hs_addr *a = addr_find(g, key);
    if (g->lim.max_per_address && a && a->total >= g->lim.max_per_address) {
        ST_BUMP(g, refused_address);
        return 1;
    }
    /* Room: within its address's share, then within all pending slots and descriptors.  An
     * eviction may free the address record (its last connection): a is not used after it. */
    if (a && a->npending >= g->max_pending_per_address && !evict(g, a->phead))
        goto full;
    while (g->npending >= g->lim.max_pending || g->nfds + 1 > g->fd_budget)
        if (!evict(g, g->head))
            goto full;
    memcpy(g->incoming, key, ADDR_KEY_LEN);
    g->incoming_set = true;
    g->last_accept_round = g->round;
    tick_arm(g);
    if (++g->round_accepts >= PWS__HS_ACCEPTS_PER_ROUND && !g->listener) {
        /* lws' accept loop ends once the listener stops polling for input; the tick resumes it */
        lws_rx_flow_control(listener, 0);
        g->listener = listener;
    }
    return 0;
full:
    ST_BUMP(g, refused_full);
    return 1;
}

int pws__hs_accept(pws__hs_guard *g, struct lws *wsi, pws__hs_entry **out)
{
    *out = NULL;
    if (!g)
        return 0;
    unsigned char key[ADDR_KEY_LEN];
    if (g->incoming_set)
        memcpy(key, g->incoming, ADDR_KEY_LEN);
    else
        peer_key(wsi, key);
    g->incoming_set = false;
    pws__hs_entry *e = calloc(1, sizeof *e);
    hs_addr *a = e ? addr_get(g, key) : NULL;
    if (!a) {
        free(e);
        return -1;
    }
    a->total++;
    e->wsi = wsi;
    e->addr = a;
    e->round = g->round;
    e->deadline_us = pws__mono_us() + (int64_t)g->lim.timeout_ms * 1000;
    pending_append(g, e);
    g->nfds++;
    if (g->ctx) {
        g->last_accept_round = g->round;
        tick_arm(g);
        sweep_schedule(g);
    }
    *out = e;
    return 0;
}

bool pws__hs_upgraded(pws__hs_guard *g, pws__hs_entry *e)
{
    if (!g || !e)
        return true;
    if (e->st != E_PENDING)
        return e->st == E_UPGRADED;
    pending_unlink(g, e);
    e->st = E_UPGRADED;
    g->nfds += g->fds_per_open - 1;
    ST_BUMP(g, upgraded);
    return true;
}

void pws__hs_closed(pws__hs_guard *g, pws__hs_entry *e)
{
    if (!g || !e)
        return;
    if (e->st == E_PENDING) {
        pending_unlink(g, e);
        g->nfds--;
    } else if (e->st == E_UPGRADED) {
        g->nfds -= g->fds_per_open;
    }
    addr_release(g, e->addr);
    free(e);
}

void pws__hs_get_stats(const pws__hs_guard *g, pws__hs_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!g)
        return;
    out->accepted = __atomic_load_n(&g->st.accepted, __ATOMIC_RELAXED);
    out->upgraded = __atomic_load_n(&g->st.upgraded, __ATOMIC_RELAXED);
    out->timed_out = __atomic_load_n(&g->st.timed_out, __ATOMIC_RELAXED);
    out->evicted = __atomic_load_n(&g->st.evicted, __ATOMIC_RELAXED);
    out->refused_full = __atomic_load_n(&g->st.refused_full, __ATOMIC_RELAXED);
    out->refused_address = __atomic_load_n(&g->st.refused_address, __ATOMIC_RELAXED);
    out->pending = __atomic_load_n(&g->st.pending, __ATOMIC_RELAXED);
    out->pending_peak = __atomic_load_n(&g->st.pending_peak, __ATOMIC_RELAXED);
}
