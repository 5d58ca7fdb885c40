// Runs a function when the scope it is declared in ends, however it ends (a return, an error
// returned early).
#pragma once

#include <utility>

namespace pg2iceberg {

template <typename F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F f_;
};

}  // namespace pg2iceberg
