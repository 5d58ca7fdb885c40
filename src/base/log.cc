#include "base/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace pg2iceberg::log {
namespace {

// Sink that hands each formatted line to a callback (tests capture output with it).
class CallbackSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit CallbackSink(std::function<void(std::string_view)> fn) : fn_(std::move(fn)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    fn_(std::string_view(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  std::function<void(std::string_view)> fn_;
};

struct State {
  std::atomic<int> level{static_cast<int>(Level::kInfo)};
  std::atomic<Format> format{Format::kText};
  std::shared_ptr<spdlog::logger> logger;
  std::mutex mu;
};

State& GetState() {
  static State* state = [] {
    auto* s = new State();
    s->logger = std::make_shared<spdlog::logger>(
        "pg2iceberg", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    s->logger->set_pattern("%v");
    s->logger->set_level(spdlog::level::trace);
    s->logger->flush_on(spdlog::level::trace);
    s->format = isatty(STDERR_FILENO) ? Format::kText : Format::kJson;
    return s;
  }();
  return *state;
}

bool NeedsQuoting(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') return true;
  }
  return false;
}

}  // namespace

Result<Level> ParseLevel(std::string_view text) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn" || text == "warning") return Level::kWarn;
  if (text == "error") return Level::kError;
  return InvalidArgument("invalid log level '" + std::string(text) +
                         "'; allowed: debug, info, warn, error");
}

Result<Format> ParseFormat(std::string_view text) {
  if (text == "text") return Format::kText;
  if (text == "json") return Format::kJson;
  if (text == "auto" || text.empty()) {
    return isatty(STDERR_FILENO) ? Format::kText : Format::kJson;
  }
  return InvalidArgument("invalid log format '" + std::string(text) +
                         "'; allowed: text, json");
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void Init(Level level, Format format) {
  State& s = GetState();
  s.level = static_cast<int>(level);
  s.format = format;
}

void SetSinkForTest(std::function<void(std::string_view)> sink) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  spdlog::sink_ptr ptr;
  if (sink) {
    ptr = std::make_shared<CallbackSink>(std::move(sink));
  } else {
    ptr = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("pg2iceberg", ptr);
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::trace);
  std::atomic_store(&s.logger, logger);
}

bool Enabled(Level level) { return static_cast<int>(level) >= GetState().level.load(); }

std::string FormatLine(Format format, Level level, std::string_view timestamp,
                       std::string_view msg, std::initializer_list<Field> fields) {
  if (format == Format::kJson) {
    nlohmann::ordered_json j;
    j["ts"] = timestamp;
    j["level"] = LevelName(level);
    j["msg"] = msg;
    for (const Field& f : fields) j[f.key] = f.value;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string line(timestamp);
  line += ' ';
  std::string lvl(LevelName(level));
  for (char& c : lvl) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  line += lvl;
  line += ' ';
  line += msg;
  for (const Field& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    if (NeedsQuoting(f.value)) {
      line += nlohmann::json(f.value).dump(-1, ' ', false,
                                           nlohmann::json::error_handler_t::replace);
    } else {
      line += f.value;
    }
  }
  return line;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  State& s = GetState();
  if (!Enabled(level)) return;
  std::string line = FormatLine(s.format.load(), level,
                                FormatRfc3339Millis(Clock::Real()->Now()), msg, fields);
  auto logger = std::atomic_load(&s.logger);
  logger->log(spdlog::level::info, spdlog::string_view_t(line));
}

}  // namespace pg2iceberg::log
