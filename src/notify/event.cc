#include "notify/event.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include <nlohmann/json.hpp>

namespace pg2iceberg::notify {
namespace {

int64_t SummaryCount(const iceberg::Snapshot& s, const char* key) {
  auto it = s.summary.find(key);
  return it == s.summary.end() ? 0 : std::strtoll(it->second.c_str(), nullptr, 10);
}

std::string SummaryText(const iceberg::Snapshot& s, const char* key) {
  auto it = s.summary.find(key);
  return it == s.summary.end() ? std::string() : it->second;
}

std::string IsoTime(int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

std::string CommitEvent::ToJson() const {
  nlohmann::ordered_json j;
  j["event_id"] = std::to_string(snapshot_id);
  j["table"] = table;
  j["iceberg_table"] = iceberg_table;
  j["snapshot_id"] = snapshot_id;
  j["parent_snapshot_id"] = parent_snapshot_id ? nlohmann::ordered_json(*parent_snapshot_id)
                                               : nlohmann::ordered_json(nullptr);
  j["sequence_number"] = sequence_number;
  j["operation"] = operation;
  j["rows_added"] = rows_added;
  j["rows_deleted"] = rows_deleted;
  j["lsn_min"] = lsn_min.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(lsn_min);
  j["lsn_max"] = lsn_max.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(lsn_max);
  j["commit_time"] = IsoTime(commit_time_ms);
  j["commit_time_ms"] = commit_time_ms;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::vector<CommitEvent> EventsAfter(const iceberg::TableMetadata& metadata,
                                     int64_t after_sequence, int64_t since_ms,
                                     const std::string& table, const std::string& iceberg_table) {
  std::vector<CommitEvent> out;
  for (const iceberg::Snapshot& s : metadata.snapshots) {
    if (s.sequence_number <= after_sequence || s.timestamp_ms < since_ms) continue;
    CommitEvent e;
    e.table = table;
    e.iceberg_table = iceberg_table;
    e.snapshot_id = s.snapshot_id;
    e.parent_snapshot_id = s.parent_snapshot_id;
    e.sequence_number = s.sequence_number;
    e.operation = SummaryText(s, "operation");
    e.rows_added = SummaryCount(s, "added-records");
    e.rows_deleted = SummaryCount(s, "deleted-records") +
                     SummaryCount(s, "added-position-deletes") +
                     SummaryCount(s, "added-equality-deletes");
    e.lsn_min = SummaryText(s, kLsnMinKey);
    e.lsn_max = SummaryText(s, kLsnMaxKey);
    e.commit_time_ms = s.timestamp_ms;
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const CommitEvent& a, const CommitEvent& b) {
    return a.sequence_number < b.sequence_number;
  });
  return out;
}

}  // namespace pg2iceberg::notify
