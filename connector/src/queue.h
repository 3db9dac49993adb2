/*
 * queue.h - the bounded event queue between the network thread (the single
 * producer) and the delivery thread (the single consumer).  Library-internal.
 *
 * Slots are preallocated pws_event structs in a ring, so pushing a market-data
 * event copies ~300 bytes and allocates nothing.  PWS_EV_OTHER events point
 * at variable-length JSON: the queue copies that text into a heap blob owned by
 * the slot, and hands it to the consumer valid until its next pop call.
 *
 * Capacity counts events.  Market-data pushes obey the overflow policy;
 * control events (status, connection, parse errors) are always accepted, up to
 * PWS__QUEUE_CONTROL_RESERVE beyond capacity, so a fatal or lifecycle event is
 * never refused because the consumer is slow (past the reserve they are
 * dropped and counted, which needs thousands of control events unread).
 *
 * Memory: (capacity + reserve) * sizeof(pws_event) (312 bytes on x86-64) for
 * the ring, about 21 MB at the default capacity, plus two pointers per slot,
 * plus the JSON blobs of queued PWS_EV_OTHER events (each at most
 * PWS__QUEUE_MAX_BLOB_BYTES, in practice at most one frame).
 */
#ifndef POLYWS_QUEUE_H
#define POLYWS_QUEUE_H

#include <polyws/polyws.h>
#include <pthread.h>

#define PWS__QUEUE_CONTROL_RESERVE 1024u        /* control events accepted beyond capacity */
#define PWS__QUEUE_MAX_CAPACITY (1u << 22)      /* events; ~1.3 GB of slots, larger is PWS_ERR_LIMIT */
#define PWS__QUEUE_MAX_BLOB_BYTES (1u << 30)    /* bytes of one copied u.other.json */

typedef struct pws__queue {
    pthread_mutex_t mu;          /* guards every field below except released/released_len */
    pthread_cond_t nonempty;     /* signalled when events arrive or on close (CLOCK_MONOTONIC) */
    pws_event *slots;            /* ring of capacity + reserve slots */
    char **blobs;                /* per slot: owned copy of u.other.json, or NULL */
    char **released;             /* blobs handed to the consumer, freed at its next pop (consumer-only) */
    size_t released_len;         /* entries in released (consumer-only) */
    size_t nslots;               /* capacity + PWS__QUEUE_CONTROL_RESERVE */
    size_t capacity;             /* market-data capacity in events */
    size_t head;                 /* index of the oldest event */
    size_t len;                  /* events queued */
    size_t high_water;           /* most events ever queued */
    uint64_t dropped;            /* events dropped (drop_oldest, or control past the reserve) */
    pws_overflow policy;         /* what push_batch does when full */
    bool closed;                 /* no more pushes; pop returns 0 once empty */
    bool consumer_waiting;       /* consumer blocked in pop: signal only then */
    bool producer_full;          /* a push was refused (block/disconnect) since the last low-water crossing */
    void (*on_space)(void *);    /* called (consumer thread, lock not held) when len drops to capacity/2 after a refusal */
    void *on_space_user;         /* argument of on_space */
} pws__queue;

/* Initializes q with room for capacity market-data events (1 ..
 * PWS__QUEUE_MAX_CAPACITY).  on_space may be NULL.  PWS_OK, PWS_ERR_INVALID
 * (capacity 0, unknown policy), PWS_ERR_LIMIT (capacity too large),
 * PWS_ERR_NOMEM or PWS_ERR_SYSTEM; on error nothing is allocated. */
int pws__queue_init(pws__queue *q, size_t capacity, pws_overflow policy,
                    void (*on_space)(void *), void *on_space_user);
/* Frees everything, queued blobs included.  No thread may use q any more. */
void pws__queue_free(pws__queue *q);

/* Producer: pushes market-data events evs[0..n).  Returns how many were
 * accepted.  BLOCK and DISCONNECT accept up to the free capacity and return
 * fewer than n when full (the caller keeps the rest and pauses reading, or
 * disconnects); DROP_OLDEST always accepts all, dropping the oldest queued
 * events (counted in dropped).  Deep-copies u.other.json.
 *
 * Details.  Takes the lock once for the whole batch.  A control-type event
 * inside the batch is handled as by push_control (never refused by the
 * policy), so a whole parsed frame may be pushed in one call with its order
 * kept.  DROP_OLDEST never drops queued control events; if only control
 * events are queued it drops the incoming event instead (counted).  If the
 * JSON of a PWS_EV_OTHER event cannot be copied (larger than
 * PWS__QUEUE_MAX_BLOB_BYTES, json NULL with json_len > 0, or out of memory)
 * the slot gets a PWS_EV_PARSE_ERROR in its place (reason says why, frame_len
 * = json_len), so order and counts stay exact.  A refusal arms on_space.
 * After close returns 0. */
size_t pws__queue_push_batch(pws__queue *q, const pws_event *evs, size_t n);
/* Producer: pushes one control event; always accepted within the reserve.
 * Returns PWS_OK, PWS_ERR_LIMIT if even the reserve was full (dropped and
 * counted), or PWS_ERR_STATE after close. */
int pws__queue_push_control(pws__queue *q, const pws_event *ev);
/* Producer: true if push_batch would refuse now (len >= capacity).  A true
 * answer arms on_space exactly like a refused push, so a producer that pauses
 * on it is always woken. */
bool pws__queue_full(pws__queue *q);

/* Consumer: waits up to timeout_ms (-1 = forever) for events, then moves up to
 * max of them into out[] in order.  The u.other.json of returned events stays
 * valid until the next pop.  Returns the count; 0 on timeout, or when closed
 * and empty.  A call with max 0 returns 0 at once (and releases the previous
 * pop's blobs).  May call on_space before returning. */
size_t pws__queue_pop(pws__queue *q, pws_event *out, size_t max, int timeout_ms);
/* Marks the queue closed and wakes the consumer.  Pushes after close are
 * refused; queued events can still be popped.  Any thread. */
void pws__queue_close(pws__queue *q);

/* Snapshot of len, high_water and dropped (any thread; NULL pointers skipped). */
void pws__queue_stats(pws__queue *q, size_t *len, size_t *high_water, uint64_t *dropped);

#endif
