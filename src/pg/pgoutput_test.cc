// Golden tests: pgoutput messages captured from a real PostgreSQL 15 (testdata/capture.sh
// runs testdata/capture.sql) decode to the values the workload wrote.
#include "pg/pgoutput.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace pg2iceberg::pg {
namespace {

struct Captured {
  Lsn lsn;
  Xid xid;
  std::string bytes;
};

std::vector<Captured> LoadGolden(const std::string& name) {
  std::ifstream in(std::string(PG2I_GOLDEN_DIR) + "/" + name);
  EXPECT_TRUE(in) << name;
  std::vector<Captured> out;
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string lsn, xid, hex;
    std::getline(ss, lsn, '\t');
    std::getline(ss, xid, '\t');
    std::getline(ss, hex, '\t');
    Captured c;
    c.lsn = *Lsn::Parse(lsn);
    c.xid = Xid(static_cast<uint32_t>(std::stoul(xid)));
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      c.bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<Message> DecodeAll(const std::vector<Captured>& golden, Decoder* d) {
  std::vector<Message> out;
  for (const auto& c : golden) {
    auto m = d->Decode(c.bytes);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (m.ok()) out.push_back(std::move(*m));
  }
  return out;
}

template <typename T>
std::vector<const T*> All(const std::vector<Message>& msgs) {
  std::vector<const T*> out;
  for (const auto& m : msgs) {
    if (const T* t = std::get_if<T>(&m)) out.push_back(t);
  }
  return out;
}

std::string Text(const TupleValue& v) {
  EXPECT_EQ(v.kind, TupleValue::Kind::kText);
  return v.data;
}

constexpr uint32_t kInt4 = 23, kText = 25, kNumeric = 1700, kTextArray = 1009,
                   kTimestamptz = 1184;

TEST(PgoutputGoldenTest, ProtoV2EveryMessageKind) {
  auto golden = LoadGolden("pgoutput_v2.tsv");
  ASSERT_GT(golden.size(), 1000u);
  Decoder d;
  auto msgs = DecodeAll(golden, &d);
  ASSERT_EQ(msgs.size(), golden.size());

  // Relation: the table as created, then re-sent after REPLICA IDENTITY FULL and ADD COLUMN.
  auto rels = All<RelationMsg>(msgs);
  ASSERT_FALSE(rels.empty());
  const RelationMsg& r0 = *rels[0];
  EXPECT_EQ(r0.nspname, "public");
  EXPECT_EQ(r0.relname, "golden");
  EXPECT_EQ(r0.replica_identity, ReplicaIdentity::kDefault);
  ASSERT_EQ(r0.columns.size(), 7u);
  const char* names[] = {"id", "name", "big", "amount", "tags", "feeling", "ts"};
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(r0.columns[i].name, names[i]);
  EXPECT_TRUE(r0.columns[0].key);
  for (size_t i = 1; i < 7; ++i) EXPECT_FALSE(r0.columns[i].key) << i;
  EXPECT_EQ(r0.columns[0].type_oid, kInt4);
  EXPECT_EQ(r0.columns[1].type_oid, kText);
  EXPECT_EQ(r0.columns[3].type_oid, kNumeric);
  EXPECT_EQ(r0.columns[3].type_modifier, ((10 << 16) | 2) + 4);  // numeric(10,2)
  EXPECT_EQ(r0.columns[4].type_oid, kTextArray);
  EXPECT_GE(r0.columns[5].type_oid, 16384u);  // the enum
  EXPECT_EQ(r0.columns[6].type_oid, kTimestamptz);
  EXPECT_EQ(r0.columns[1].type_modifier, -1);

  // Type: sent for the user-defined enum before the relation that uses it.
  auto types = All<TypeMsg>(msgs);
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types[0]->nspname, "public");
  EXPECT_EQ(types[0]->name, "mood");
  EXPECT_EQ(types[0]->type_oid, r0.columns[5].type_oid);

  auto full = std::find_if(rels.begin(), rels.end(), [](const RelationMsg* r) {
    return r->replica_identity == ReplicaIdentity::kFull;
  });
  ASSERT_NE(full, rels.end());
  for (const auto& c : (*full)->columns) EXPECT_TRUE(c.key) << c.name;
  EXPECT_EQ(rels.back()->columns.size(), 8u);
  EXPECT_EQ(rels.back()->columns[7].name, "extra");

  // Inserts.
  auto inserts = All<InsertMsg>(msgs);
  const Tuple& first = inserts[0]->new_tuple;
  ASSERT_EQ(first.size(), 7u);
  EXPECT_EQ(Text(first[0]), "1");
  EXPECT_EQ(Text(first[1]), "alice");
  EXPECT_EQ(Text(first[2]), std::string(3000, 'x'));
  EXPECT_EQ(Text(first[3]), "12.30");
  EXPECT_EQ(Text(first[4]), "{a,\"b c\"}");
  EXPECT_EQ(Text(first[5]), "happy");
  EXPECT_EQ(Text(first[6]), "2025-01-15 10:00:00+00");
  EXPECT_EQ(inserts[0]->relation_id, r0.relation_id);
  const Tuple& nulls = inserts[1]->new_tuple;
  EXPECT_EQ(Text(nulls[0]), "3");
  for (size_t i = 1; i < 7; ++i) EXPECT_EQ(nulls[i].kind, TupleValue::Kind::kNull) << i;
  EXPECT_EQ(Text(inserts.back()->new_tuple[0]), "5000");
  EXPECT_EQ(Text(inserts.back()->new_tuple[7]), "42");

  // Updates: unchanged TOAST, primary-key change (old key), REPLICA IDENTITY FULL (old row).
  auto updates = All<UpdateMsg>(msgs);
  ASSERT_EQ(updates.size(), 3u);
  EXPECT_EQ(updates[0]->old_kind, UpdateMsg::OldKind::kNone);
  EXPECT_EQ(Text(updates[0]->new_tuple[1]), "alice2");
  EXPECT_EQ(updates[0]->new_tuple[2].kind, TupleValue::Kind::kUnchangedToast);
  EXPECT_EQ(updates[1]->old_kind, UpdateMsg::OldKind::kKey);
  EXPECT_EQ(Text(updates[1]->old_tuple[0]), "1");
  EXPECT_EQ(updates[1]->old_tuple[1].kind, TupleValue::Kind::kNull);  // non-key: not sent
  EXPECT_EQ(Text(updates[1]->new_tuple[0]), "2");
  EXPECT_EQ(updates[1]->new_tuple[2].kind, TupleValue::Kind::kUnchangedToast);
  EXPECT_EQ(updates[2]->old_kind, UpdateMsg::OldKind::kOld);
  EXPECT_EQ(Text(updates[2]->old_tuple[0]), "2");
  EXPECT_EQ(Text(updates[2]->old_tuple[1]), "alice2");
  EXPECT_EQ(Text(updates[2]->old_tuple[3]), "12.30");
  EXPECT_EQ(Text(updates[2]->new_tuple[3]), "-0.05");

  // Deletes: by key, then the full old row.
  auto deletes = All<DeleteMsg>(msgs);
  ASSERT_EQ(deletes.size(), 2u);
  EXPECT_EQ(deletes[0]->old_kind, UpdateMsg::OldKind::kKey);
  EXPECT_EQ(Text(deletes[0]->old_tuple[0]), "3");
  EXPECT_EQ(deletes[1]->old_kind, UpdateMsg::OldKind::kOld);
  EXPECT_EQ(Text(deletes[1]->old_tuple[3]), "-0.05");

  // Truncate: plain, then two tables with RESTART IDENTITY CASCADE.
  auto truncs = All<TruncateMsg>(msgs);
  ASSERT_EQ(truncs.size(), 2u);
  EXPECT_EQ(truncs[0]->relation_ids.size(), 1u);
  EXPECT_FALSE(truncs[0]->cascade);
  EXPECT_FALSE(truncs[0]->restart_identity);
  EXPECT_EQ(truncs[1]->relation_ids.size(), 2u);
  EXPECT_TRUE(truncs[1]->cascade);
  EXPECT_TRUE(truncs[1]->restart_identity);

  // Logical messages.
  auto lm = All<LogicalMessageMsg>(msgs);
  ASSERT_EQ(lm.size(), 2u);
  EXPECT_TRUE(lm[0]->transactional);
  EXPECT_EQ(lm[0]->prefix, "pg2iceberg");
  EXPECT_EQ(lm[0]->content, "marker-1");
  EXPECT_FALSE(lm[1]->transactional);
  EXPECT_EQ(lm[1]->content, "marker-2");

  // Origin.
  auto origins = All<OriginMsg>(msgs);
  ASSERT_EQ(origins.size(), 1u);
  EXPECT_EQ(origins[0]->name, "golden_origin");
  EXPECT_EQ(origins[0]->commit_lsn, Lsn(0xABCDEF));

  // Begin/Commit pair up: same final LSN, xid as reported by the server.
  const BeginMsg* open = nullptr;
  size_t pairs = 0;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (const auto* b = std::get_if<BeginMsg>(&msgs[i])) {
      EXPECT_EQ(open, nullptr);
      EXPECT_EQ(b->xid, golden[i].xid);
      EXPECT_GT(b->commit_time.UnixMicros(), 1'700'000'000'000'000);
      open = b;
    } else if (const auto* c = std::get_if<CommitMsg>(&msgs[i])) {
      ASSERT_NE(open, nullptr);
      EXPECT_EQ(c->commit_lsn, open->final_lsn);
      EXPECT_GT(c->end_lsn, c->commit_lsn);
      EXPECT_EQ(c->commit_time, open->commit_time);
      open = nullptr;
      ++pairs;
    }
  }
  EXPECT_EQ(pairs, 13u);

  // Streaming: the 300-row transaction arrives in stream blocks whose changes carry its xid,
  // and commits; the rolled-back one aborts whole; the savepoint rollback aborts a subxact.
  auto commits = All<StreamCommitMsg>(msgs);
  ASSERT_EQ(commits.size(), 2u);
  const Xid big = commits[0]->xid;
  size_t streamed_rows = 0;
  for (const InsertMsg* i : inserts) {
    if (i->xid == big) {
      ++streamed_rows;
      EXPECT_EQ(Text(i->new_tuple[1]), std::string(500, 's'));
    }
  }
  EXPECT_EQ(streamed_rows, 300u);
  auto starts = All<StreamStartMsg>(msgs);
  ASSERT_FALSE(starts.empty());
  EXPECT_TRUE(starts[0]->first_segment);
  EXPECT_EQ(starts[0]->xid, big);
  auto aborts = All<StreamAbortMsg>(msgs);
  ASSERT_EQ(aborts.size(), 2u);
  EXPECT_EQ(aborts[0]->xid, aborts[0]->subxid);  // whole transaction
  EXPECT_NE(aborts[1]->xid, aborts[1]->subxid);  // subtransaction only
  EXPECT_EQ(aborts[1]->xid, commits[1]->xid);    // … of a transaction that then commits
  EXPECT_FALSE(d.in_stream());
}

TEST(PgoutputGoldenTest, ProtoV1HasNoStreamsAndNoXidPrefix) {
  auto golden = LoadGolden("pgoutput_v1.tsv");
  Decoder d;
  auto msgs = DecodeAll(golden, &d);
  ASSERT_EQ(msgs.size(), golden.size());
  EXPECT_TRUE(All<StreamStartMsg>(msgs).empty());
  EXPECT_TRUE(All<LogicalMessageMsg>(msgs).empty());  // messages were not requested
  auto inserts = All<InsertMsg>(msgs);
  size_t big_rows = 0;
  for (const InsertMsg* i : inserts) {
    EXPECT_FALSE(i->xid.valid());
    if (i->new_tuple[1].kind == TupleValue::Kind::kText &&
        i->new_tuple[1].data == std::string(500, 's')) {
      ++big_rows;
    }
  }
  EXPECT_EQ(big_rows, 300u);
  EXPECT_EQ(All<BeginMsg>(msgs).size(), 15u);  // aborted transactions are never sent
}

TEST(PgoutputDecoderTest, EveryTruncationIsAnErrorNotACrash) {
  auto golden = LoadGolden("pgoutput_v2.tsv");
  Decoder d;
  std::map<char, int> seen;
  for (const auto& c : golden) {
    // One sample of each kind is enough; the streamed bulk repeats itself.
    if (seen[c.bytes[0]]++ < 3) {
      for (size_t len = 0; len < c.bytes.size() && len < 400; ++len) {
        Decoder copy = d;
        auto m = copy.Decode(std::string_view(c.bytes).substr(0, len));
        EXPECT_FALSE(m.ok()) << "kind " << c.bytes[0] << " prefix " << len;
      }
    }
    ASSERT_TRUE(d.Decode(c.bytes).ok());
  }
}

TEST(PgoutputDecoderTest, RejectsUnknownKindsAndMismatchedTuples) {
  Decoder d;
  EXPECT_EQ(d.Decode("").status().code(), StatusCode::kDataLoss);
  EXPECT_NE(d.Decode("P").status().message().find("0x50"), std::string::npos);
  // An insert for a relation never described.
  std::string insert = std::string("I\0\0\0\x07N\0\0", 8);
  EXPECT_NE(d.Decode(insert).status().message().find("before its Relation"),
            std::string::npos);
  // Relation with one column, then a tuple with two.
  std::string rel = std::string("R\0\0\0\x07", 5) + "s" + '\0' + "t" + '\0' + "d" +
                    std::string("\0\x01", 2) + std::string("\x01", 1) + "id" + '\0' +
                    std::string("\0\0\0\x17\xff\xff\xff\xff", 8);
  ASSERT_TRUE(d.Decode(rel).ok());
  std::string two = std::string("I\0\0\0\x07N\0\x02nn", 11);
  EXPECT_NE(d.Decode(two).status().message().find("has 2 columns"), std::string::npos);
  std::string one = std::string("I\0\0\0\x07N\0\x01t\0\0\0\x02", 13) + "42";
  auto ok = d.Decode(one);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(std::get<InsertMsg>(*ok).new_tuple[0].data, "42");
  // A declared length far beyond the message must not allocate it.
  std::string huge = std::string("I\0\0\0\x07N\0\x01t\x7f\xff\xff\xff", 13);
  EXPECT_FALSE(d.Decode(huge).ok());
  // A column count that cannot fit in what is left.
  std::string wide = std::string("I\0\0\0\x07N\xff\xff", 8);
  EXPECT_FALSE(d.Decode(wide).ok());
}

}  // namespace
}  // namespace pg2iceberg::pg
