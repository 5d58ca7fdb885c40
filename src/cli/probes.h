// `connect-pg` and `connect-iceberg`: probes that pass only when the real work can succeed
// (see probes.cc). Exit code 0 when every check passes, 1 otherwise.
#pragma once

#include "config/config.h"

namespace pg2iceberg::cli {

int RunConnectPg(const config::Config& cfg);
int RunConnectIceberg(const config::Config& cfg);
// `health`: GET /healthz of the running process on metrics_addr (a container's health check,
// where no curl is installed). Exit 0 when it answers 200, 1 otherwise.
int RunHealth(const config::Config& cfg);

}  // namespace pg2iceberg::cli
