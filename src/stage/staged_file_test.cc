#include "stage/staged_file.h"

#include <gtest/gtest.h>

#include "io/memory_file_io.h"

namespace pg2iceberg::stage {
namespace {

TEST(StagedFileTest, RoundTripsEveryKindOfChange) {
  StagedRelation rel;
  rel.table = "public.t";
  rel.columns = {{"id", 23, -1, Type{TypeId::kInt}, false},
                 {"name", 25, -1, Type{TypeId::kString}, true},
                 {"amount", 1700, ((10 << 16) | 2) + 4, Type::Decimal(10, 2), true}};
  rel.key = {0};
  std::vector<StagedChange> changes;
  auto add = [&](fold::Op op, std::vector<Value> v, std::vector<int> unch = {},
                 std::vector<Value> old = {}) {
    StagedChange c;
    c.change = fold::Change{op, Lsn(0x100 + changes.size()), static_cast<int64_t>(changes.size()),
                            std::move(v), std::move(old), std::move(unch)};
    c.xid = Xid(77);
    c.commit_ts_micros = 1'700'000'000'000'000;
    changes.push_back(std::move(c));
  };
  add(fold::Op::kInsert, {Value(int32_t{1}), Value(std::string("a")), Value(Decimal128{1230, 2})});
  add(fold::Op::kUpdate, {Value(int32_t{2}), Value(std::string("b")), Value()}, {2},
      {Value(int32_t{1})});
  add(fold::Op::kDelete, {Value(int32_t{2}), Value(), Value()});
  add(fold::Op::kTruncate, {});
  auto bytes = EncodeStagedFile(rel, changes);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto io = std::make_shared<io::MemoryFileIO>(Clock::Real());
  ASSERT_TRUE(io->WriteAll("mem://s/f.parquet", *bytes).ok());
  auto back = DecodeStagedFile(io, "mem://s/f.parquet");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->relation, rel);
  ASSERT_EQ(back->changes.size(), changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    const auto& a = changes[i].change;
    const auto& b = back->changes[i].change;
    EXPECT_EQ(a.op, b.op) << i;
    EXPECT_EQ(a.commit_lsn, b.commit_lsn) << i;
    EXPECT_EQ(a.seq, b.seq) << i;
    EXPECT_EQ(a.values, b.values) << i;
    EXPECT_EQ(a.old_key, b.old_key) << i;
    EXPECT_EQ(a.unchanged, b.unchanged) << i;
    EXPECT_EQ(back->changes[i].xid, Xid(77));
    EXPECT_EQ(back->changes[i].commit_ts_micros, 1'700'000'000'000'000);
  }
  EXPECT_FALSE(DecodeStagedFile(io, "mem://s/missing.parquet").ok());
  ASSERT_TRUE(io->WriteAll("mem://s/junk.parquet", "not parquet").ok());
  EXPECT_FALSE(DecodeStagedFile(io, "mem://s/junk.parquet").ok());
}

TEST(StagedFileTest, RoundTripsOldRowsOfHistoryTables) {
  StagedRelation rel;
  rel.table = "public.t";
  rel.columns = {{"id", 23, -1, Type{TypeId::kInt}, false},
                 {"doc", 25, -1, Type{TypeId::kString}, true}};
  rel.key = {0};
  std::vector<StagedChange> changes(4);
  changes[0].change = {fold::Op::kInsert, Lsn(0x10), 0, {Value(int32_t{1}), Value(std::string("a"))}};
  // REPLICA IDENTITY FULL: the whole old row, one of its values unchanged TOAST.
  changes[1].change = {fold::Op::kUpdate, Lsn(0x20), 0, {Value(int32_t{1}), Value(std::string("b"))}};
  changes[1].before = {BeforeImage::Kind::kRow, {Value(int32_t{1}), Value()}, {1}};
  // The key changed under REPLICA IDENTITY DEFAULT: the old key only.
  changes[2].change = {fold::Op::kUpdate, Lsn(0x30), 0, {Value(int32_t{2}), Value(std::string("b"))},
                       {Value(int32_t{1})}};
  changes[2].before = {BeforeImage::Kind::kKey, {Value(int32_t{1}), Value()}, {}};
  changes[3].change = {fold::Op::kDelete, Lsn(0x40), 0, {Value(int32_t{2}), Value()}};
  changes[3].before = {BeforeImage::Kind::kKey, {}, {}};
  auto io = std::make_shared<io::MemoryFileIO>(Clock::Real());
  auto bytes = EncodeStagedFile(rel, changes);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ASSERT_TRUE(io->WriteAll("mem://s/h.parquet", *bytes).ok());
  auto back = DecodeStagedFile(io, "mem://s/h.parquet");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->changes.size(), changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    EXPECT_EQ(back->changes[i].before, changes[i].before) << i;
    EXPECT_EQ(back->changes[i].change.values, changes[i].change.values) << i;
    EXPECT_EQ(back->changes[i].change.old_key, changes[i].change.old_key) << i;
  }
  // A file without old rows (a mirror-only table, or an older version) has none of their
  // columns, and reads as "not sent".
  for (auto& c : changes) c.before = {};
  bytes = EncodeStagedFile(rel, changes);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(io->WriteAll("mem://s/m.parquet", *bytes).ok());
  back = DecodeStagedFile(io, "mem://s/m.parquet");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  for (const auto& c : back->changes) EXPECT_EQ(c.before.kind, BeforeImage::Kind::kNone);
}

}  // namespace
}  // namespace pg2iceberg::stage
