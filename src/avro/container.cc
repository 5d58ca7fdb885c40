#include "avro/container.h"

#include <chrono>
#include <cstring>
#include <exception>
#include <limits>
#include <random>
#include <utility>

#include "avro/deflate.h"
#include "base/clock.h"
#include "base/memo.h"

namespace pg2iceberg::avro {

namespace {

constexpr std::string_view kMagic("Obj\x01", 4);
constexpr std::string_view kSchemaKey = "avro.schema";
constexpr std::string_view kCodecKey = "avro.codec";

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Manifests and manifest lists repeat a handful of schema texts thousands of times, and parsing
// one took a quarter of the materializer's CPU: each distinct text is parsed once per process.
// A parsed Schema is immutable, so readers on any thread share it.
Result<Schema> ParseSchemaOnce(const std::string& text) {
  static Memo<Schema> parsed(64);
  if (std::optional<Schema> known = parsed.Find(text)) return *std::move(known);
  auto schema = Schema::Parse(text);
  if (schema.ok()) parsed.Put(text, *schema);
  return schema;
}

SyncMarker RandomSyncMarker() {
  SyncMarker sync{};
  try {
    std::random_device rd;
    for (size_t i = 0; i < sync.size(); i += 4) {
      uint32_t r = rd();
      std::memcpy(sync.data() + i, &r, 4);
    }
    return sync;
  } catch (const std::exception&) {
    // No entropy source: the marker only has to be unlikely to occur in the data.
    uint64_t state = static_cast<uint64_t>(
        Clock::Real()->Monotonic().time_since_epoch().count()) ^
        reinterpret_cast<uintptr_t>(&sync);
    uint64_t a = SplitMix64(&state), b = SplitMix64(&state);
    std::memcpy(sync.data(), &a, 8);
    std::memcpy(sync.data() + 8, &b, 8);
    return sync;
  }
}

std::string_view SyncView(const SyncMarker& sync) {
  return {reinterpret_cast<const char*>(sync.data()), sync.size()};
}

}  // namespace

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNull: return "null";
    case Codec::kDeflate: return "deflate";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Writer

ContainerWriter::ContainerWriter(Schema schema, WriterOptions options, SyncMarker sync)
    : schema_(std::move(schema)), options_(std::move(options)), sync_(sync) {}

Result<ContainerWriter> ContainerWriter::Create(Schema schema,
                                                std::map<std::string, std::string> metadata,
                                                WriterOptions options) {
  Status st = schema.Validate();
  if (!st.ok()) return st.WithContext("Avro container writer schema");
  for (const auto& [key, value] : metadata) {
    if (key.rfind("avro.", 0) == 0) {
      return InvalidArgument("metadata key \"" + key +
                             "\" is reserved: the \"avro.\" prefix belongs to Avro itself");
    }
  }
  if (options.codec == Codec::kDeflate &&
      (options.deflate_level < -1 || options.deflate_level > 9)) {
    return InvalidArgument("deflate level " + std::to_string(options.deflate_level) +
                           " is outside -1..9");
  }
  SyncMarker sync = options.sync_marker ? *options.sync_marker : RandomSyncMarker();
  ContainerWriter w(std::move(schema), std::move(options), sync);

  w.out_.append(kMagic);
  // The metadata map as one block: avro.schema, avro.codec, then the user's keys.
  AppendLong(static_cast<int64_t>(metadata.size() + 2), &w.out_);
  AppendBytes(kSchemaKey, &w.out_);
  AppendBytes(w.schema_.ToString(), &w.out_);
  AppendBytes(kCodecKey, &w.out_);
  AppendBytes(CodecName(w.options_.codec), &w.out_);
  for (const auto& [key, value] : metadata) {
    AppendBytes(key, &w.out_);
    AppendBytes(value, &w.out_);
  }
  AppendLong(0, &w.out_);
  w.out_.append(SyncView(w.sync_));
  return w;
}

Status ContainerWriter::Append(const Datum& value) {
  if (finished_) return FailedPrecondition("Avro container writer is finished");
  PG2I_RETURN_IF_ERROR(Encode(schema_, value, &block_));
  ++block_count_;
  ++value_count_;
  if (block_.size() >= options_.block_target_bytes) return Flush();
  return Status::Ok();
}

Status ContainerWriter::Flush() {
  if (finished_) return FailedPrecondition("Avro container writer is finished");
  if (block_count_ == 0) return Status::Ok();
  std::string compressed;
  std::string_view data = block_;
  if (options_.codec == Codec::kDeflate) {
    PG2I_ASSIGN_OR_RETURN(compressed, internal::DeflateRaw(block_, options_.deflate_level));
    data = compressed;
  }
  AppendLong(block_count_, &out_);
  AppendLong(static_cast<int64_t>(data.size()), &out_);
  out_.append(data);
  out_.append(SyncView(sync_));
  block_.clear();
  block_count_ = 0;
  return Status::Ok();
}

Result<std::string> ContainerWriter::Finish() {
  PG2I_RETURN_IF_ERROR(Flush());
  finished_ = true;
  return std::move(out_);
}

// ---------------------------------------------------------------------------------------------
// Reader

Result<ContainerReader> ContainerReader::Open(std::string bytes, ReaderOptions options) {
  ContainerReader r;
  r.bytes_ = std::move(bytes);
  r.options_ = options;
  r.zero_size_budget_ = options.zero_size_budget;
  std::string_view file = r.bytes_;
  if (file.size() < kMagic.size() || file.substr(0, kMagic.size()) != kMagic) {
    return DataLoss("not an Avro object container file: the magic \"Obj\\x01\" is missing");
  }
  BinaryReader in(file.substr(kMagic.size()));
  auto header_error = [](const Status& st) {
    return DataLoss("Avro container header: " + st.message());
  };
  while (true) {
    auto count = in.ReadLong();
    if (!count.ok()) return header_error(count.status());
    if (*count == 0) break;
    int64_t n = *count;
    if (n < 0) {
      if (n == std::numeric_limits<int64_t>::min()) {
        return DataLoss("Avro container header: metadata block count is out of range");
      }
      n = -n;
      auto size = in.ReadLong();  // the block's byte size; the entries are read regardless
      if (!size.ok()) return header_error(size.status());
    }
    // Each entry takes at least two bytes (two lengths).
    if (static_cast<uint64_t>(n) > in.remaining() / 2) {
      return DataLoss("Avro container header: metadata declares " + std::to_string(n) +
                      " entries, more than the file can hold");
    }
    for (int64_t i = 0; i < n; ++i) {
      auto key = in.ReadBytes();
      if (!key.ok()) return header_error(key.status());
      auto value = in.ReadBytes();
      if (!value.ok()) return header_error(value.status());
      if (!r.metadata_.emplace(std::string(*key), std::string(*value)).second) {
        return DataLoss("Avro container header: metadata key \"" + std::string(*key) +
                        "\" appears twice");
      }
    }
  }
  auto sync = in.ReadFixed(16);
  if (!sync.ok()) return header_error(sync.status());
  std::memcpy(r.sync_.data(), sync->data(), 16);
  r.pos_ = kMagic.size() + in.position();

  auto schema_it = r.metadata_.find(std::string(kSchemaKey));
  if (schema_it == r.metadata_.end()) {
    return DataLoss("Avro container header has no avro.schema");
  }
  auto schema = ParseSchemaOnce(schema_it->second);
  if (!schema.ok()) {
    const Status& st = schema.status();
    return Status(st.code() == StatusCode::kUnimplemented ? st.code() : StatusCode::kDataLoss,
                  "avro.schema of the container: " + st.message());
  }
  r.schema_ = std::move(schema).value();

  auto codec_it = r.metadata_.find(std::string(kCodecKey));
  if (codec_it == r.metadata_.end() || codec_it->second == "null") {
    r.codec_ = Codec::kNull;
  } else if (codec_it->second == "deflate") {
    r.codec_ = Codec::kDeflate;
  } else {
    return Unimplemented("avro.codec \"" + codec_it->second +
                         "\" is not supported; pg2iceberg reads null and deflate");
  }
  return r;
}

Status ContainerReader::LoadBlock() {
  const std::string_view file = bytes_;
  block_offset_ = pos_;
  ++block_index_;
  auto where = [&]() {
    return "Avro block " + std::to_string(block_index_) + " at offset " +
           std::to_string(block_offset_) + ": ";
  };
  BinaryReader in(file.substr(pos_));
  auto count = in.ReadLong();
  if (!count.ok()) return DataLoss(where() + count.status().message());
  auto size = in.ReadLong();
  if (!size.ok()) return DataLoss(where() + size.status().message());
  if (*count < 0 || *size < 0) {
    return DataLoss(where() + "negative count " + std::to_string(*count) + " or size " +
                    std::to_string(*size));
  }
  if (static_cast<uint64_t>(*size) > options_.max_block_bytes) {
    return ResourceExhausted(where() + "takes " + std::to_string(*size) +
                             " bytes, more than the limit of " +
                             std::to_string(options_.max_block_bytes));
  }
  auto data = in.ReadFixed(*size);
  if (!data.ok()) return DataLoss(where() + data.status().message());
  auto sync = in.ReadFixed(16);
  if (!sync.ok()) return DataLoss(where() + sync.status().message());
  if (*sync != SyncView(sync_)) {
    return DataLoss(where() + "sync marker does not match the header's");
  }
  if (codec_ == Codec::kDeflate) {
    auto inflated = internal::InflateRaw(*data, options_.max_block_bytes);
    if (!inflated.ok()) {
      return Status(inflated.status().code(), where() + inflated.status().message());
    }
    block_ = std::move(inflated).value();
  } else {
    block_.assign(data->data(), data->size());
  }
  const int64_t min_size = schema_.min_encoded_size();
  if (min_size > 0) {
    if (static_cast<uint64_t>(*count) > block_.size() / static_cast<uint64_t>(min_size)) {
      return DataLoss(where() + "declares " + std::to_string(*count) +
                      " values, more than its " + std::to_string(block_.size()) +
                      " bytes can hold");
    }
  } else {
    if (*count > zero_size_budget_) {
      return DataLoss(where() + "declares " + std::to_string(*count) +
                      " values that take no bytes; the limit is " +
                      std::to_string(zero_size_budget_) + " more");
    }
    zero_size_budget_ -= *count;
  }
  pos_ += in.position();
  block_pos_ = 0;
  block_left_ = *count;
  return Status::Ok();
}

Result<std::optional<Datum>> ContainerReader::Next() {
  if (!error_.ok()) return error_;
  while (block_left_ == 0) {
    if (block_index_ >= 0 && block_pos_ != block_.size()) {
      error_ = DataLoss("Avro block " + std::to_string(block_index_) + " at offset " +
                        std::to_string(block_offset_) + " has " +
                        std::to_string(block_.size() - block_pos_) +
                        " bytes after its last value");
      return error_;
    }
    if (pos_ == bytes_.size()) return std::optional<Datum>();
    error_ = LoadBlock();
    if (!error_.ok()) return error_;
  }
  BinaryReader in(std::string_view(block_).substr(block_pos_), zero_size_budget_);
  auto value = Decode(schema_, &in);
  if (!value.ok()) {
    error_ = DataLoss("Avro block " + std::to_string(block_index_) + " at offset " +
                      std::to_string(block_offset_) + ", value at block offset " +
                      std::to_string(block_pos_) + ": " + value.status().message());
    return error_;
  }
  block_pos_ += in.position();
  zero_size_budget_ = in.zero_size_budget();
  --block_left_;
  return std::optional<Datum>(std::move(value).value());
}

Result<std::vector<Datum>> ContainerReader::ReadAll() {
  std::vector<Datum> out;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(std::optional<Datum> v, Next());
    if (!v) return out;
    out.push_back(std::move(*v));
  }
}

}  // namespace pg2iceberg::avro
