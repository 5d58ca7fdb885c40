// Staging-input throughput: drains a replication slot holding N inserted rows (one
// transaction, so proto v2 streams it) through pg2iceberg's ReplicationStream — decode every
// pgoutput message and parse every column to its typed value — and, in the same run on the
// same server, drains an identical slot with PostgreSQL's own pg_recvlogical (which decodes
// nothing). Prints rows/s for both, the ratio, and peak RSS.
//
//   pg_drain_bench [rows=1000000]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fixtures/paths.h"
#include "fixtures/pg_cluster.h"
#include "pg/replication.h"
#include "pg/values.h"

namespace pg2iceberg {
namespace {

using Clock = std::chrono::steady_clock;

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  return 1;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

Result<int64_t> DrainOurs(fixtures::PgCluster& pg, Lsn start, Lsn end) {
  PG2I_ASSIGN_OR_RETURN(auto conn,
                        pg::ReplicationConnection::Connect(pg.ConnString(), "bench"));
  pg::StreamOptions opts;
  opts.publications = {"bench_pub"};
  PG2I_RETURN_IF_ERROR(conn->StartReplication("bench_ours", start, opts));
  pg::ReplicationStream stream(std::move(conn), start, {});
  int64_t rows = 0;
  std::vector<Type> types;
  std::vector<uint32_t> oids;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(auto r, stream.Next(std::chrono::milliseconds(1000)));
    if (!r) continue;
    if (const auto* rel = std::get_if<pg::RelationMsg>(&r->message)) {
      types.clear();
      oids.clear();
      for (const auto& c : rel->columns) {
        types.push_back(pg::MapType(c.type_oid, c.type_modifier).type);
        oids.push_back(c.type_oid);
      }
    } else if (const auto* ins = std::get_if<pg::InsertMsg>(&r->message)) {
      for (size_t i = 0; i < ins->new_tuple.size(); ++i) {
        const auto& v = ins->new_tuple[i];
        if (v.kind != pg::TupleValue::Kind::kText) continue;
        PG2I_ASSIGN_OR_RETURN(Value typed, pg::ParseText(types[i], oids[i], v.data));
        (void)typed;
      }
      ++rows;
    } else if (const auto* c = std::get_if<pg::StreamCommitMsg>(&r->message)) {
      stream.Confirm(c->end_lsn);
      if (c->end_lsn >= end) break;
    } else if (const auto* c2 = std::get_if<pg::CommitMsg>(&r->message)) {
      stream.Confirm(c2->end_lsn);
      if (c2->end_lsn >= end) break;
    }
  }
  PG2I_RETURN_IF_ERROR(stream.SendStatus());
  return rows;
}

Status DrainRecvlogical(fixtures::PgCluster& pg, Lsn end) {
  const std::string bin = fixtures::PgBinDir() + "/pg_recvlogical";
  const std::string port = std::to_string(pg.port());
  const std::string endpos = end.ToString();
  pid_t pid = fork();
  if (pid == 0) {
    execl(bin.c_str(), "pg_recvlogical", "-h", "127.0.0.1", "-p", port.c_str(), "-U",
          "postgres", "-d", "postgres", "--slot=bench_recv", "--start", "--no-loop",
          "-o", "proto_version=2", "-o", "publication_names=bench_pub", "-o", "streaming=on",
          "-E", endpos.c_str(), "-f", "/dev/null", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Internal("pg_recvlogical failed with status " + std::to_string(status));
  }
  return Status::Ok();
}

int Main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
  fixtures::PgClusterOptions o;
  o.settings = {{"shared_buffers", "512MB"}, {"max_wal_size", "4GB"}};
  auto pg = fixtures::PgCluster::Start(o);
  if (!pg.ok()) return Fail(pg.status());
  Status s = (*pg)->Exec(
      "CREATE TABLE bench (id bigint PRIMARY KEY, name text, amount numeric(12,2), "
      "created_at timestamptz, flag bool);"
      "CREATE PUBLICATION bench_pub FOR TABLE bench");
  if (!s.ok()) return Fail(s);
  for (const char* slot : {"bench_ours", "bench_recv"}) {
    s = (*pg)->Exec(std::string("SELECT pg_create_logical_replication_slot('") + slot +
                    "', 'pgoutput')");
    if (!s.ok()) return Fail(s);
  }
  auto start_text = (*pg)->QueryScalar(
      "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'bench_ours'");
  if (!start_text.ok()) return Fail(start_text.status());
  s = (*pg)->Exec("INSERT INTO bench SELECT g, 'customer-' || g, g * 1.25, "
                  "'2025-01-01'::timestamptz + g * interval '1 second', g % 2 = 0 "
                  "FROM generate_series(1, " + std::to_string(n) + ") g");
  if (!s.ok()) return Fail(s);
  auto end_text = (*pg)->QueryScalar("SELECT pg_current_wal_lsn()");
  if (!end_text.ok()) return Fail(end_text.status());
  const Lsn start = *Lsn::Parse(*start_text), end = *Lsn::Parse(*end_text);

  auto t0 = Clock::now();
  s = DrainRecvlogical(**pg, end);
  if (!s.ok()) return Fail(s);
  const double recv_s = Seconds(Clock::now() - t0);

  auto t1 = Clock::now();
  auto rows = DrainOurs(**pg, start, end);
  if (!rows.ok()) return Fail(rows.status());
  const double ours_s = Seconds(Clock::now() - t1);
  if (*rows != n) {
    std::fprintf(stderr, "error: drained %lld rows, expected %lld\n",
                 static_cast<long long>(*rows), static_cast<long long>(n));
    return 1;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("rows: %lld (one transaction, %.1f MB of WAL)\n", static_cast<long long>(n),
              static_cast<double>(Lsn::BytesBetween(start, end)) / 1e6);
  std::printf("pg_recvlogical:    %8.2f s  %10.0f rows/s  (raw bytes to /dev/null)\n", recv_s,
              static_cast<double>(n) / recv_s);
  std::printf("pg2iceberg stream: %8.2f s  %10.0f rows/s  (decoded and typed)\n", ours_s,
              static_cast<double>(n) / ours_s);
  std::printf("ratio (pg2iceberg / pg_recvlogical throughput): %.2f\n", recv_s / ours_s);
  std::printf("peak RSS of pg2iceberg stream: %.1f MB\n", ru.ru_maxrss / 1024.0);
  return 0;
}

}  // namespace
}  // namespace pg2iceberg

int main(int argc, char** argv) { return pg2iceberg::Main(argc, argv); }
