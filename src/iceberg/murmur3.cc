#include "iceberg/murmur3.h"

namespace pg2iceberg::iceberg {
namespace {

constexpr uint32_t kC1 = 0xcc9e2d51u;
constexpr uint32_t kC2 = 0x1b873593u;

constexpr uint32_t RotateLeft(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// Blocks are read as little-endian words regardless of the host, so the hash is the same
// on every machine (the reference code reads native words and is only portable on LE).
uint32_t LoadLittleEndian32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

uint32_t MixK(uint32_t k) {
  k *= kC1;
  k = RotateLeft(k, 15);
  k *= kC2;
  return k;
}

uint32_t FinalMix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

}  // namespace

uint32_t Murmur3X86_32(const void* data, size_t size, uint32_t seed) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  const size_t blocks = size / 4;
  uint32_t h = seed;

  for (size_t i = 0; i < blocks; ++i) {
    h ^= MixK(LoadLittleEndian32(bytes + 4 * i));
    h = RotateLeft(h, 13);
    h = h * 5 + 0xe6546b64u;
  }

  const uint8_t* tail = bytes + 4 * blocks;
  uint32_t k = 0;
  switch (size & 3) {
    case 3:
      k ^= static_cast<uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      k ^= static_cast<uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      k ^= static_cast<uint32_t>(tail[0]);
      h ^= MixK(k);
      break;
    default:
      break;
  }

  // The reference folds the length in as a 32-bit int; inputs here are far below 4 GiB.
  h ^= static_cast<uint32_t>(size);
  return FinalMix(h);
}

int32_t Murmur3HashBytes(std::string_view bytes) {
  // Two's-complement reinterpretation, as Java's int sees the same 32 bits.
  return static_cast<int32_t>(Murmur3X86_32(bytes.data(), bytes.size(), 0));
}

int32_t Murmur3HashLong(int64_t value) {
  const auto u = static_cast<uint64_t>(value);
  char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((u >> (8 * i)) & 0xff);
  return Murmur3HashBytes(std::string_view(le, sizeof(le)));
}

}  // namespace pg2iceberg::iceberg
