#include "pipeline/supervisor.h"

#include <exception>

namespace pg2iceberg::pipeline {

using namespace std::chrono_literals;

Supervisor::Supervisor(Clock* clock, const std::atomic<bool>* process_stop)
    : clock_(clock ? clock : Clock::Real()), process_stop_(process_stop) {
  if (process_stop_ != nullptr) watcher_ = std::thread([this] { Watch(); });
}

Supervisor::~Supervisor() {
  stop_ = true;
  (void)Join();
}

// On the real clock whatever the attempt's is: a signal arrives in real time, and a fake
// clock must not be moved by a poll nobody waits for.
void Supervisor::Watch() {
  while (!stop_.load() && !joined_.load() && !process_stop_->load()) {
    Clock::Real()->SleepFor(20ms);
  }
  if (process_stop_->load()) stop_ = true;
}

void Supervisor::Start(const std::string& name, std::function<Status()> body, bool critical) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended_[name] = false;
  }
  threads_.emplace_back([this, name, body = std::move(body), critical] {
    Status s;
    try {
      s = body();
    } catch (const std::exception& e) {
      s = Internal(std::string("unexpected exception (a bug; please report it): ") + e.what());
    } catch (...) {
      s = Internal("unexpected exception of unknown type (a bug; please report it)");
    }
    if (!s.ok() && critical) Fail(name, s);
    std::lock_guard<std::mutex> lock(mu_);
    ended_[name] = true;
  });
}

void Supervisor::Fail(const std::string& service, const Status& s) {
  if (s.ok()) return;
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) {
      error_ = s.WithContext(service);
      first = true;
    }
  }
  failed_ = true;
  stop_ = true;
  if (first && on_failure) on_failure(service, s);
}

void Supervisor::RequestRestart() {
  restart_ = true;
  stop_ = true;
}

bool Supervisor::stopping() const {
  return stop_.load() || (process_stop_ != nullptr && process_stop_->load());
}

bool Supervisor::Ended(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ended_.find(name);
  return it != ended_.end() && it->second;
}

Status Supervisor::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

bool Supervisor::Wait(Clock::Duration d, const std::function<bool()>& done) const {
  return WaitUntil(clock_, d, 50ms, [&] { return stopping() || (done && done()); });
}

Status Supervisor::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  joined_ = true;
  if (watcher_.joinable()) watcher_.join();
  return error();
}

}  // namespace pg2iceberg::pipeline
