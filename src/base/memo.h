// A small thread-safe map from a text key to an immutable value that is costly to build and
// of few kinds in a process (a parsed or built Avro schema). Bounded: when it holds `capacity`
// values it starts over, so a process that sees many kinds pays the build again, never memory.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace pg2iceberg {

template <typename V>
class Memo {
 public:
  explicit Memo(size_t capacity) : capacity_(capacity) {}

  std::optional<V> Find(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  void Put(const std::string& key, V value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (values_.size() >= capacity_) values_.clear();
    values_.insert_or_assign(key, std::move(value));
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, V> values_;
};

}  // namespace pg2iceberg
