// Against a real PostgreSQL 15: the replication stream decodes every kind of change to exact
// typed values, reports unchanged TOAST, old keys and old rows, streams large transactions,
// and keeps the slot's confirmed LSN moving while the published tables are idle.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <map>
#include <thread>

#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "pg/connection.h"
#include "pg/replication.h"
#include "pg/values.h"

namespace pg2iceberg::pg {
namespace {

using fixtures::PgCluster;
using namespace std::chrono_literals;

class ReplicationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixtures::PgClusterOptions o;
    o.settings = {{"logical_decoding_work_mem", "64kB"}, {"wal_sender_timeout", "2s"}};
    fixtures::StartForSuite(pg_, PgCluster::Start(o), "PostgreSQL");
  }
  static void TearDownTestSuite() { pg_.reset(); }
  void SetUp() override { ASSERT_NE(pg_, nullptr) << "suite setup failed, see above"; }

  // Creates `slot`, starts streaming `pub` from its consistent point.
  static Result<std::unique_ptr<ReplicationStream>> Open(const std::string& slot,
                                                         const std::string& pub,
                                                         ReplicationStream::Options so = {}) {
    PG2I_ASSIGN_OR_RETURN(auto conn,
                          ReplicationConnection::Connect(pg_->ConnString(), "test cluster"));
    PG2I_ASSIGN_OR_RETURN(CreatedSlot created, conn->CreateSlot(slot, false));
    StreamOptions opts;
    opts.publications = {pub};
    PG2I_RETURN_IF_ERROR(conn->StartReplication(slot, created.consistent_point, opts));
    return std::make_unique<ReplicationStream>(std::move(conn), created.consistent_point, so);
  }

  // Reads messages until a Commit (or Stream Commit) whose end is past `until`.
  static Result<std::vector<Message>> ReadUntil(ReplicationStream& s, Lsn until,
                                                std::chrono::seconds limit = 60s) {
    std::vector<Message> out;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      PG2I_ASSIGN_OR_RETURN(auto r, s.Next(200ms));
      if (!r) continue;
      Lsn end;
      if (const auto* c = std::get_if<CommitMsg>(&r->message)) end = c->end_lsn;
      if (const auto* c = std::get_if<StreamCommitMsg>(&r->message)) end = c->end_lsn;
      out.push_back(std::move(r->message));
      if (end.valid() && end >= until) return out;
    }
    return Unavailable("timed out waiting for changes up to " + until.ToString());
  }

  static Lsn CurrentLsn() {
    return *Lsn::Parse(*pg_->QueryScalar("SELECT pg_current_wal_lsn()"));
  }

  static inline std::unique_ptr<PgCluster> pg_;
};

// Typed row of a tuple, by column name, using the Relation message's types.
std::map<std::string, Value> Typed(const RelationMsg& rel, const Tuple& t,
                                   const std::map<uint32_t, uint32_t>& base = {}) {
  std::map<std::string, Value> out;
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& col = rel.columns[i];
    if (t[i].kind != TupleValue::Kind::kText) continue;
    uint32_t oid = col.type_oid;
    if (auto it = base.find(oid); it != base.end()) oid = it->second;
    Type type = MapType(oid, col.type_modifier).type;
    auto v = ParseText(type, oid, t[i].data);
    EXPECT_TRUE(v.ok()) << col.name << ": " << v.status().ToString();
    if (v.ok()) out[col.name] = *v;
  }
  return out;
}

TEST_F(ReplicationTest, EveryChangeKindDecodesToExactTypedValues) {
  PG2I_ASSERT_OK(pg_->Exec(R"sql(
    CREATE TYPE mood AS ENUM ('sad', 'happy');
    CREATE TABLE all_types (
      id int PRIMARY KEY, i2 smallint, i8 bigint, f4 real, f8 float8, n numeric(10,2),
      nu numeric, b bool, t text, vc varchar(10), bp char(3), by bytea, d date, tm time,
      ttz timetz, ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb, arr int[],
      e mood, iv interval, m money, ip inet, x xml, pt point, big text);
    ALTER TABLE all_types ALTER COLUMN big SET STORAGE EXTERNAL;
    CREATE PUBLICATION all_pub FOR TABLE all_types;
  )sql"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto stream, Open("all_slot", "all_pub"));
  PG2I_ASSERT_OK(pg_->Exec(R"sql(
    SET TIME ZONE 'America/New_York';
    INSERT INTO all_types VALUES (1, -32768, 9223372036854775807, 1.5, 0.1, 12345678.91,
      'NaN', true, 'héllo', 'abc', 'x', '\xdeadbeef', '2024-02-29', '23:59:59.999999',
      '10:00:00+02', '2017-11-16 22:31:08', '2017-11-16 14:31:08-08',
      'f79c3e09-677c-4bbd-a479-3f349cb785e7', '{"a": 1}', '{"b": [1, 2]}', '{1,2,NULL}',
      'happy', '1 year 2 mons 3 days 04:05:06', 12.34, '192.168.0.1/24', '<a>x</a>', '(1,2)',
      repeat('0123456789', 100000));
    INSERT INTO all_types (id, nu, d, ts, tstz) VALUES (2, 'Infinity', 'infinity',
      '-infinity', 'infinity');
    INSERT INTO all_types (id) VALUES (3);
    UPDATE all_types SET t = 'changed' WHERE id = 1;
    UPDATE all_types SET id = 10 WHERE id = 1;
    DELETE FROM all_types WHERE id = 3;
    ALTER TABLE all_types REPLICA IDENTITY FULL;
    UPDATE all_types SET i2 = 7 WHERE id = 2;
    DELETE FROM all_types WHERE id = 2;
    TRUNCATE all_types;
  )sql"));
  const Lsn until = CurrentLsn();
  PG2I_ASSERT_OK_AND_ASSIGN(auto msgs, ReadUntil(*stream, until));

  std::vector<const InsertMsg*> ins;
  std::vector<const UpdateMsg*> upd;
  std::vector<const DeleteMsg*> del;
  std::vector<const TruncateMsg*> trunc;
  for (const auto& m : msgs) {
    if (auto* p = std::get_if<InsertMsg>(&m)) ins.push_back(p);
    if (auto* p = std::get_if<UpdateMsg>(&m)) upd.push_back(p);
    if (auto* p = std::get_if<DeleteMsg>(&m)) del.push_back(p);
    if (auto* p = std::get_if<TruncateMsg>(&m)) trunc.push_back(p);
  }
  ASSERT_EQ(ins.size(), 3u);
  ASSERT_EQ(upd.size(), 3u);
  ASSERT_EQ(del.size(), 2u);
  ASSERT_EQ(trunc.size(), 1u);
  const RelationMsg* rel = stream->decoder().FindRelation(ins[0]->relation_id);
  ASSERT_NE(rel, nullptr);
  EXPECT_EQ(rel->relname, "all_types");

  auto row = Typed(*rel, ins[0]->new_tuple);
  EXPECT_EQ(row["id"], Value(int32_t{1}));
  EXPECT_EQ(row["i2"], Value(int32_t{-32768}));
  EXPECT_EQ(row["i8"], Value(int64_t{9223372036854775807}));
  EXPECT_EQ(row["f4"], Value(1.5f));
  EXPECT_EQ(row["f8"], Value(0.1));  // extra_float_digits=3: exact round trip
  EXPECT_EQ(std::get<Decimal128>(row["n"]).ToString(), "12345678.91");
  EXPECT_TRUE(IsNull(row["nu"]));  // numeric NaN in a decimal column
  EXPECT_EQ(row["b"], Value(true));
  EXPECT_EQ(row["t"], Value(std::string("h\xC3\xA9llo")));
  EXPECT_EQ(row["bp"], Value(std::string("x  ")));
  EXPECT_EQ(row["by"], Value(Binary{std::string("\xDE\xAD\xBE\xEF")}));
  EXPECT_EQ(row["d"], Value(Date{19782}));
  EXPECT_EQ(row["tm"], Value(Time{86'400'000'000 - 1}));
  EXPECT_EQ(row["ttz"], Value(Time{8LL * 3600 * 1'000'000}));  // normalised to UTC
  EXPECT_EQ(row["ts"], Value(Timestamp{1510871468000000}));
  // The session's time zone (New York) does not leak in: the replication session is UTC.
  EXPECT_EQ(row["tstz"], Value(TimestampTz{1510871468000000}));
  EXPECT_EQ(std::get<Uuid>(row["u"]).bytes[0], 0xF7);
  EXPECT_EQ(row["j"], Value(std::string("{\"a\": 1}")));
  EXPECT_EQ(row["jb"], Value(std::string("{\"b\": [1, 2]}")));
  EXPECT_EQ(row["arr"], Value(std::string("{1,2,NULL}")));
  EXPECT_EQ(row["e"], Value(std::string("happy")));
  EXPECT_EQ(row["iv"], Value(std::string("1 year 2 mons 3 days 04:05:06")));
  EXPECT_EQ(row["m"], Value(std::string("$12.34")));
  EXPECT_EQ(row["ip"], Value(std::string("192.168.0.1/24")));
  EXPECT_EQ(row["x"], Value(std::string("<a>x</a>")));
  EXPECT_EQ(row["pt"], Value(std::string("(1,2)")));
  EXPECT_EQ(std::get<std::string>(row["big"]).size(), 1'000'000u);

  auto inf = Typed(*rel, ins[1]->new_tuple);
  EXPECT_TRUE(IsNull(inf["nu"]));
  EXPECT_GT(std::get<Date>(inf["d"]).days, 2'000'000'000);
  EXPECT_LT(std::get<Timestamp>(inf["ts"]).micros, -200'000'000'000'000'000);
  EXPECT_EQ(std::get<TimestampTz>(inf["tstz"]).micros, INT64_MAX);
  for (size_t i = 1; i < ins[2]->new_tuple.size(); ++i) {
    EXPECT_EQ(ins[2]->new_tuple[i].kind, TupleValue::Kind::kNull) << rel->columns[i].name;
  }

  // UPDATE leaving the 1 MB column alone: it is not sent, and marked unchanged.
  const size_t big = rel->columns.size() - 1;
  EXPECT_EQ(upd[0]->old_kind, UpdateMsg::OldKind::kNone);
  EXPECT_EQ(upd[0]->new_tuple[big].kind, TupleValue::Kind::kUnchangedToast);
  EXPECT_EQ(Typed(*rel, upd[0]->new_tuple)["t"], Value(std::string("changed")));
  // UPDATE of the primary key: the old key comes along.
  EXPECT_EQ(upd[1]->old_kind, UpdateMsg::OldKind::kKey);
  EXPECT_EQ(Typed(*rel, upd[1]->old_tuple)["id"], Value(int32_t{1}));
  EXPECT_EQ(Typed(*rel, upd[1]->new_tuple)["id"], Value(int32_t{10}));
  EXPECT_EQ(del[0]->old_kind, UpdateMsg::OldKind::kKey);
  EXPECT_EQ(Typed(*rel, del[0]->old_tuple)["id"], Value(int32_t{3}));
  // REPLICA IDENTITY FULL: the whole old row.
  const RelationMsg* full = stream->decoder().FindRelation(upd[2]->relation_id);
  EXPECT_EQ(full->replica_identity, ReplicaIdentity::kFull);
  EXPECT_EQ(upd[2]->old_kind, UpdateMsg::OldKind::kOld);
  auto old_row = Typed(*full, upd[2]->old_tuple);
  EXPECT_EQ(old_row["id"], Value(int32_t{2}));
  EXPECT_GT(std::get<Date>(old_row["d"]).days, 2'000'000'000);
  EXPECT_EQ(Typed(*full, upd[2]->new_tuple)["i2"], Value(int32_t{7}));
  EXPECT_EQ(del[1]->old_kind, UpdateMsg::OldKind::kOld);
  EXPECT_EQ(trunc[0]->relation_ids.size(), 1u);
  EXPECT_EQ(trunc[0]->relation_ids[0], rel->relation_id);
}

TEST_F(ReplicationTest, LargeTransactionIsStreamedBeforeCommitWithBoundedMemory) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE bulk (id int PRIMARY KEY, pad text);"
                           "CREATE PUBLICATION bulk_pub FOR TABLE bulk"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto stream, Open("bulk_slot", "bulk_pub"));
  constexpr int kRows = 200'000;
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO bulk SELECT g, repeat('p', 100) FROM "
                           "generate_series(1, " + std::to_string(kRows) + ") g"));
  const Lsn until = CurrentLsn();
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  int inserts = 0, stream_starts = 0;
  bool committed = false;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (!committed && std::chrono::steady_clock::now() < deadline) {
    PG2I_ASSERT_OK_AND_ASSIGN(auto r, stream->Next(500ms));
    if (!r) continue;
    if (std::holds_alternative<InsertMsg>(r->message)) {
      ++inserts;
      EXPECT_TRUE(std::get<InsertMsg>(r->message).xid.valid());  // inside a stream block
    }
    if (std::holds_alternative<StreamStartMsg>(r->message)) ++stream_starts;
    if (const auto* c = std::get_if<StreamCommitMsg>(&r->message)) {
      committed = c->end_lsn >= until;
      stream->Confirm(c->end_lsn);
    }
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  EXPECT_TRUE(committed);
  EXPECT_EQ(inserts, kRows);
  EXPECT_GT(stream_starts, 10);  // many 64 kB segments, not one buffered transaction
  // The stream holds one message at a time: memory must not grow with the transaction
  // (~30 MB of row data here).
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 20 * 1024) << "KiB";
}

TEST_F(ReplicationTest, IdleSlotAdvancesWhileUnpublishedTablesAreBusy) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE quiet (id int PRIMARY KEY);"
                           "CREATE TABLE busy (id serial PRIMARY KEY, v text);"
                           "CREATE PUBLICATION quiet_pub FOR TABLE quiet"));
  std::vector<Lsn> acked;
  ReplicationStream::Options so;
  so.standby_interval = 200ms;
  so.before_ack = [&acked](Lsn l) {
    acked.push_back(l);
    return Status::Ok();
  };
  PG2I_ASSERT_OK_AND_ASSIGN(auto stream, Open("quiet_slot", "quiet_pub", so));
  auto slot_lsn = [] {
    return *Lsn::Parse(*pg_->QueryScalar(
        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'quiet_slot'"));
  };
  const Lsn start = slot_lsn();
  // Transactions below the 64 kB decoding budget: PostgreSQL 15 skips them entirely, so
  // only keepalives tell the stream that WAL moved on.
  for (int i = 0; i < 40; ++i) {
    PG2I_ASSERT_OK(pg_->Exec("INSERT INTO busy (v) SELECT repeat('b', 200) FROM "
                             "generate_series(1, 50)"));
  }
  const Lsn busy_end = CurrentLsn();
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (slot_lsn() < busy_end && std::chrono::steady_clock::now() < deadline) {
    PG2I_ASSERT_OK_AND_ASSIGN(auto r, stream->Next(200ms));
    EXPECT_FALSE(r.has_value()) << "unexpected message kind " << (r ? r->message.index() : 0);
  }
  EXPECT_GE(slot_lsn(), busy_end) << "started at " << start;
  EXPECT_TRUE(stream->Idle());
  ASSERT_FALSE(acked.empty());
  // Rule 2: the hook saw every flushed position before PostgreSQL did.
  EXPECT_GE(acked.back(), busy_end);
}

TEST_F(ReplicationTest, ConfirmedLsnIsExactlyWhatTheCallerConfirmed) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE gated (id int PRIMARY KEY);"
                           "CREATE PUBLICATION gated_pub FOR TABLE gated"));
  ReplicationStream::Options so;
  so.standby_interval = 100ms;
  PG2I_ASSERT_OK_AND_ASSIGN(auto stream, Open("gated_slot", "gated_pub", so));
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO gated VALUES (1)"));
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO gated VALUES (2)"));
  const Lsn until = CurrentLsn();
  PG2I_ASSERT_OK_AND_ASSIGN(auto msgs, ReadUntil(*stream, until));
  std::vector<Lsn> commit_ends;
  for (const auto& m : msgs) {
    if (auto* c = std::get_if<CommitMsg>(&m)) commit_ends.push_back(c->end_lsn);
  }
  ASSERT_EQ(commit_ends.size(), 2u);
  // Nothing confirmed: the slot must not move past its start even after several updates,
  // although the server keeps sending keepalives (the second transaction is not durable).
  stream->Confirm(commit_ends[0]);
  for (int i = 0; i < 10; ++i) PG2I_ASSERT_OK(stream->Next(100ms).status());
  PG2I_ASSERT_OK(stream->SendStatus());
  std::this_thread::sleep_for(300ms);
  auto slot = *Lsn::Parse(*pg_->QueryScalar(
      "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'gated_slot'"));
  EXPECT_EQ(slot, commit_ends[0]);
  EXPECT_FALSE(stream->Idle());
  stream->Confirm(commit_ends[1]);
  PG2I_ASSERT_OK(stream->SendStatus());
  std::this_thread::sleep_for(300ms);
  slot = *Lsn::Parse(*pg_->QueryScalar(
      "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'gated_slot'"));
  EXPECT_GE(slot, commit_ends[1]);
}

}  // namespace
}  // namespace pg2iceberg::pg
