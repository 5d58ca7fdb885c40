#include "fold/fold.h"

#include <gtest/gtest.h>

namespace pg2iceberg::fold {
namespace {

// Columns: 0 id (key), 1 name, 2 big (TOAST-able).
Value I(int32_t v) { return Value(v); }
Value S(const char* s) { return Value(std::string(s)); }
const std::vector<int> kKey = {0};

Change Ins(int id, const char* name, const char* big, uint64_t lsn, int64_t seq = 0) {
  return Change{Op::kInsert, Lsn(lsn), seq, {I(id), S(name), S(big)}, {}, {}};
}
Change Upd(int id, const char* name, uint64_t lsn, bool toast_unchanged,
           std::optional<int> old_id = std::nullopt) {
  Change c{Op::kUpdate, Lsn(lsn), 0, {I(id), S(name), toast_unchanged ? Value() : S("new-big")},
           {}, {}};
  if (toast_unchanged) c.unchanged = {2};
  if (old_id) c.old_key = {I(*old_id)};
  return c;
}
Change Del(int id, uint64_t lsn) { return Change{Op::kDelete, Lsn(lsn), 0, {I(id), Value(), Value()}, {}, {}}; }
Change Trunc(uint64_t lsn) { return Change{Op::kTruncate, Lsn(lsn), 0, {}, {}, {}}; }

FoldResult MustFold(const std::vector<Change>& cs) {
  auto r = Fold(cs, kKey, 3);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : FoldResult{};
}

TEST(FoldTest, LastChangePerKeyWins) {
  auto r = MustFold({Ins(1, "a", "A", 10), Ins(2, "b", "B", 10, 1), Upd(1, "a2", 20, false),
                     Del(2, 30), Ins(3, "c", "C", 40)});
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[{I(1)}].kind, FoldedRow::Kind::kUpsert);
  EXPECT_EQ(r.rows[{I(1)}].values[1], S("a2"));
  EXPECT_EQ(r.rows[{I(1)}].values[2], S("new-big"));
  EXPECT_EQ(r.rows[{I(2)}].kind, FoldedRow::Kind::kDelete);
  EXPECT_EQ(r.rows[{I(3)}].values[2], S("C"));
  EXPECT_EQ(r.rows[{I(3)}].last_lsn, Lsn(40));
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.changes, 5);
}

TEST(FoldTest, UnchangedToastComesFromTheEarlierImage) {
  auto r = MustFold({Ins(1, "a", "BIG", 10), Upd(1, "a2", 20, true), Upd(1, "a3", 30, true)});
  const FoldedRow& row = r.rows[{I(1)}];
  EXPECT_EQ(row.values[1], S("a3"));
  EXPECT_EQ(row.values[2], S("BIG"));
  EXPECT_TRUE(row.unresolved.empty());
}

TEST(FoldTest, UnchangedToastWithoutEarlierImageIsUnresolved) {
  auto r = MustFold({Upd(1, "a2", 20, true), Upd(1, "a3", 30, true)});
  const FoldedRow& row = r.rows[{I(1)}];
  EXPECT_EQ(row.unresolved, std::set<int>{2});
  EXPECT_EQ(row.resolve_from, Key{I(1)});
  EXPECT_EQ(row.values[1], S("a3"));
}

TEST(FoldTest, KeyChangeDeletesTheOldKeyAndCarriesToast) {
  auto r = MustFold({Ins(1, "a", "BIG", 10), Upd(2, "moved", 20, true, 1)});
  EXPECT_EQ(r.rows[{I(1)}].kind, FoldedRow::Kind::kDelete);
  EXPECT_EQ(r.rows[{I(2)}].values[2], S("BIG"));
  // Without an earlier image the value must be read from the live row under the OLD key.
  auto r2 = MustFold({Upd(2, "moved", 20, true, 1), Upd(3, "again", 30, true, 2)});
  EXPECT_EQ(r2.rows[{I(1)}].kind, FoldedRow::Kind::kDelete);
  EXPECT_EQ(r2.rows[{I(2)}].kind, FoldedRow::Kind::kDelete);
  EXPECT_EQ(r2.rows[{I(3)}].unresolved, std::set<int>{2});
  EXPECT_EQ(r2.rows[{I(3)}].resolve_from, Key{I(1)});
}

TEST(FoldTest, TruncateForgetsEverythingBefore) {
  auto r = MustFold({Ins(1, "a", "A", 10), Trunc(20), Ins(2, "b", "B", 30)});
  EXPECT_TRUE(r.truncated);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_TRUE(r.rows.count({I(2)}));
  auto only = MustFold({Ins(1, "a", "A", 10), Trunc(20)});  // insert then truncate
  EXPECT_TRUE(only.truncated);
  EXPECT_TRUE(only.rows.empty());
}

TEST(FoldTest, ReinsertIsAnUpsertAndReplayIsHarmless) {
  std::vector<Change> batch = {Ins(1, "a", "A", 10), Del(1, 20), Ins(1, "back", "B", 30),
                               Upd(1, "b2", 40, true)};
  auto once = MustFold(batch);
  std::vector<Change> twice = batch;
  twice.insert(twice.end(), batch.begin(), batch.end());
  auto replayed = MustFold(twice);
  ASSERT_EQ(once.rows.size(), 1u);
  EXPECT_EQ(once.rows[{I(1)}].values, replayed.rows[{I(1)}].values);
  EXPECT_EQ(once.rows[{I(1)}].values[2], S("B"));
}

TEST(FoldTest, CompositeKeys) {
  std::vector<Change> cs = {
      Change{Op::kInsert, Lsn(1), 0, {I(1), S("x"), S("v1")}, {}, {}},
      Change{Op::kInsert, Lsn(1), 1, {I(1), S("y"), S("v2")}, {}, {}},
      Change{Op::kDelete, Lsn(2), 0, {I(1), S("x"), Value()}, {}, {}},
  };
  auto r = Fold(cs, {0, 1}, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows.size(), 2u);
  EXPECT_EQ((r->rows[{I(1), S("x")}].kind), FoldedRow::Kind::kDelete);
  EXPECT_EQ((r->rows[{I(1), S("y")}].values[2]), S("v2"));
}

TEST(FoldTest, RejectsNullKeysAndWrongWidth) {
  EXPECT_FALSE(Fold({Change{Op::kInsert, Lsn(1), 0, {Value(), S("a"), S("b")}, {}, {}}}, kKey, 3).ok());
  EXPECT_FALSE(Fold({Change{Op::kInsert, Lsn(1), 0, {I(1)}, {}, {}}}, kKey, 3).ok());
  Change bad = Upd(1, "x", 1, true);
  bad.unchanged = {7};
  EXPECT_FALSE(Fold({bad}, kKey, 3).ok());
}

}  // namespace
}  // namespace pg2iceberg::fold
