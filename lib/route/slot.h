/*
 * Hash slots of Valkey Cluster: a key belongs to one of 16384 slots, CRC16(key) mod 16384,
 * where CRC16 is the XMODEM variant (polynomial 0x1021, initial value 0, no reflection) that the
 * cluster specification names. When a key holds a hash tag, only the tag is hashed, so that keys
 * sharing a tag share a slot: the tag is what lies between the first '{' and the first '}' after
 * it, provided it is not empty. "{user1000}.following" and "{user1000}.followers" hash
 * "user1000"; "foo{}{bar}" hashes the whole key (the first tag is empty); "foo{{bar}}zap" hashes
 * "{bar"; "foo{bar}{zap}" hashes "bar".
 *
 * Pure functions, no allocation: any thread.
 */
#ifndef VMUX_ROUTE_SLOT_H
#define VMUX_ROUTE_SLOT_H

#include <stddef.h>
#include <stdint.h>

/* The number of hash slots; slots are 0 .. VMUX_SLOTS - 1. */
#define VMUX_SLOTS 16384

/* Returns the CRC16/XMODEM of len bytes at buf (buf may be NULL when len is 0). */
uint16_t vmux__crc16(const char *buf, size_t len);

/*
 * Returns the hash slot (0 .. VMUX_SLOTS - 1) of the len-byte key at key, following the hash
 * tag rule above. The key is binary-safe: NUL bytes are hashed like any other.
 */
unsigned vmux__slot_of(const char *key, size_t len);

#endif
