/*
 * parse_keys.c - the keys the frame parser knows: a perfect hash from a key's
 * bytes to its slot (enum slot in parse_internal.h).  The element loop
 * classifies most keys with classify_word() (inline) from one 8-byte load;
 * pws__parse_classify_key() serves keys that needed the general scan.
 */
#include "parse_internal.h"

/* A key of up to 7 bytes packed little-endian into a uint64_t, zero-filled:
 * keys cannot contain a NUL byte (raw control bytes are invalid JSON, and a
 * decoded \u0000 makes the key unknown), so the word identifies the key. */
#define KW(a, b, c, d, e, f, g)                                                                    \
    ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16 | (uint64_t)(d) << 24 |              \
     (uint64_t)(e) << 32 | (uint64_t)(f) << 40 | (uint64_t)(g) << 48)

/* The 30 known key words in the buckets of KEY_HASH().  The multiplier was
 * found by a random search; a collision would show up at compile time as an
 * overridden initializer (-Woverride-init, part of -Wextra) and in the unit
 * test of every key. */
#define KEY(w, slot) [KEY_HASH(w)] = { (w), (slot) + 1 }
const key_entry pws__parse_key_table[64] = {
    KEY(KW('e', 'v', 0, 0, 0, 0, 0), SLOT_EV),
    KEY(KW('s', 'y', 'm', 0, 0, 0, 0), SLOT_SYM),
    KEY(KW('v', 0, 0, 0, 0, 0, 0), SLOT_V),
    KEY(KW('a', 'v', 0, 0, 0, 0, 0), SLOT_AV),
    KEY(KW('o', 'p', 0, 0, 0, 0, 0), SLOT_OP),
    KEY(KW('v', 'w', 0, 0, 0, 0, 0), SLOT_VW),
    KEY(KW('o', 0, 0, 0, 0, 0, 0), SLOT_O),
    KEY(KW('c', 0, 0, 0, 0, 0, 0), SLOT_C),
    KEY(KW('h', 0, 0, 0, 0, 0, 0), SLOT_H),
    KEY(KW('l', 0, 0, 0, 0, 0, 0), SLOT_L),
    KEY(KW('a', 0, 0, 0, 0, 0, 0), SLOT_A),
    KEY(KW('z', 0, 0, 0, 0, 0, 0), SLOT_Z),
    KEY(KW('s', 0, 0, 0, 0, 0, 0), SLOT_S),
    KEY(KW('e', 0, 0, 0, 0, 0, 0), SLOT_E),
    KEY(KW('o', 't', 'c', 0, 0, 0, 0), SLOT_OTC),
    KEY(KW('x', 0, 0, 0, 0, 0, 0), SLOT_X),
    KEY(KW('i', 0, 0, 0, 0, 0, 0), SLOT_I),
    KEY(KW('p', 0, 0, 0, 0, 0, 0), SLOT_P),
    KEY(KW('t', 0, 0, 0, 0, 0, 0), SLOT_T),
    KEY(KW('q', 0, 0, 0, 0, 0, 0), SLOT_Q),
    KEY(KW('t', 'r', 'f', 'i', 0, 0, 0), SLOT_TRFI),
    KEY(KW('t', 'r', 'f', 't', 0, 0, 0), SLOT_TRFT),
    KEY(KW('b', 'x', 0, 0, 0, 0, 0), SLOT_BX),
    KEY(KW('b', 'p', 0, 0, 0, 0, 0), SLOT_BP),
    KEY(KW('b', 's', 0, 0, 0, 0, 0), SLOT_BS),
    KEY(KW('a', 'x', 0, 0, 0, 0, 0), SLOT_AX),
    KEY(KW('a', 'p', 0, 0, 0, 0, 0), SLOT_AP),
    KEY(KW('a', 's', 0, 0, 0, 0, 0), SLOT_AS),
    KEY(KW('s', 't', 'a', 't', 'u', 's', 0), SLOT_STATUS),
    KEY(KW('m', 'e', 's', 's', 'a', 'g', 'e'), SLOT_MESSAGE),
};
#undef KEY

int pws__parse_classify_key(const char *k, size_t n)
{
    uint64_t word = 0;
    if (n > KEY_MAX_LEN)
        return -1;
    for (size_t i = 0; i < n; i++)
        word |= (uint64_t)(unsigned char)k[i] << (8 * i);
    return classify_word(word);
}
