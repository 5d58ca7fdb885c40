// MurmurHash3, x86 32-bit variant, as the Iceberg spec uses it for bucket partitioning
// (spec Appendix B: "32-bit Murmur3 hash, x86 variant, seeded with 0").
//
// Pure functions over bytes; no state, safe from any thread. Results are returned the way
// Iceberg Java sees them: a signed 32-bit int (Guava's murmur3_32 `asInt()`), so the spec's
// test values (e.g. hashLong(34) == 2017239379, hashBytes("iceberg") == 1210000089) compare
// directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pg2iceberg::iceberg {

// The raw algorithm: MurmurHash3_x86_32 over `size` bytes with the given seed.
uint32_t Murmur3X86_32(const void* data, size_t size, uint32_t seed);

// Iceberg's hashBytes: Murmur3 x86_32, seed 0, of the bytes, as a signed int.
int32_t Murmur3HashBytes(std::string_view bytes);

// Iceberg's hashLong: the hash of the value's 8 little-endian bytes. Iceberg hashes int
// values through this too (after widening), so int and long hash identically.
int32_t Murmur3HashLong(int64_t value);

}  // namespace pg2iceberg::iceberg
