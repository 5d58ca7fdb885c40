// A small thread-safe map from a text key to an immutable value that is costly to build (a
// parsed or built Avro schema, the entries read from a manifest). Bounded: each value has a
// cost (1 unless given: the capacity is then a count of values), and when a new value would
// take the total past `capacity` the map starts over, so a process that sees many keys pays
// the build again, never memory.
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
    return it->second.first;
  }

  // A value costing more than the whole capacity is not kept.
  void Put(const std::string& key, V value, size_t cost = 1) {
    if (cost > capacity_) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = values_.find(key); it != values_.end()) {
      held_ -= it->second.second;
      values_.erase(it);
    }
    if (held_ + cost > capacity_) Reset();
    values_.emplace(key, std::make_pair(std::move(value), cost));
    held_ += cost;
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    Reset();
  }

 private:
  void Reset() {
    values_.clear();
    held_ = 0;
  }

  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::pair<V, size_t>> values_;
  size_t held_ = 0;
};

}  // namespace pg2iceberg
