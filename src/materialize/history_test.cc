// The rows of a history table: one per change in log order, unchanged TOAST resolved, old rows
// as PostgreSQL sent them, replayed changes giving no row but still resolving later ones; the
// history table's schema and how it follows the mirror's.
#include "materialize/history.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

namespace pg2iceberg::materialize {
namespace {

using iceberg::DataType;
using iceberg::Field;
using Kind = stage::BeforeImage::Kind;

Value I(int32_t v) { return Value(v); }
Value S(const char* v) { return Value(std::string(v)); }

// (id int key, doc text) changes at offsets 0, 1, 2, …
class HistoryTest : public ::testing::Test {
 protected:
  HistoryChange& Add(fold::Op op, std::vector<Value> values, std::vector<int> unchanged = {},
                     std::vector<Value> old_key = {}) {
    HistoryChange c;
    c.change.op = op;
    c.change.commit_lsn = Lsn(0x100 + changes_.size());
    c.change.seq = static_cast<int64_t>(changes_.size());
    c.change.values = std::move(values);
    c.change.unchanged = std::move(unchanged);
    c.change.old_key = std::move(old_key);
    c.xid = Xid(700);
    c.commit_ts_micros = 1'700'000'000'000'000;
    c.offset = static_cast<int64_t>(changes_.size());
    changes_.push_back(std::move(c));
    return changes_.back();
  }
  HistoryRows Run(int64_t emit_from = 0,
                  const std::map<fold::Key, std::vector<Value>>& prior = {}) {
    auto r = HistoryOf(changes_, {0}, 2, emit_from, prior);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : HistoryRows{};
  }
  std::vector<HistoryChange> changes_;
};

TEST_F(HistoryTest, EveryChangeIsOneRowWithItsOldRowAndToastResolved) {
  Add(fold::Op::kInsert, {I(1), S("big")});
  // REPLICA IDENTITY DEFAULT, doc unchanged TOAST: from the insert above; no old row sent.
  Add(fold::Op::kUpdate, {I(1), Value()}, {1});
  // The key changed: the old key was sent; doc from the row under its old key.
  Add(fold::Op::kUpdate, {I(2), Value()}, {1}, {I(1)}).before = {Kind::kKey, {I(1), S("x")}, {}};
  Add(fold::Op::kDelete, {I(2), Value()}).before = {Kind::kKey, {}, {}};
  Add(fold::Op::kTruncate, {});
  HistoryRows h = Run();
  EXPECT_TRUE(h.missing.empty());
  ASSERT_EQ(h.rows.size(), 5u);
  EXPECT_EQ(h.rows[0].values, (std::vector<Value>{I(1), S("big")}));
  EXPECT_FALSE(h.rows[0].before);
  EXPECT_EQ(h.rows[1].values, (std::vector<Value>{I(1), S("big")}));
  EXPECT_FALSE(h.rows[1].before);
  EXPECT_EQ(h.rows[2].values, (std::vector<Value>{I(2), S("big")}));
  // Only the key of a key-only old row is kept.
  EXPECT_EQ(h.rows[2].before, (std::vector<Value>{I(1), Value()}));
  EXPECT_EQ(h.rows[3].op, fold::Op::kDelete);
  EXPECT_EQ(h.rows[3].values, (std::vector<Value>{I(2), Value()}));
  EXPECT_EQ(h.rows[3].before, (std::vector<Value>{I(2), Value()}));
  EXPECT_EQ(h.rows[4].op, fold::Op::kTruncate);
  EXPECT_EQ(h.rows[4].values, (std::vector<Value>{Value(), Value()}));
  for (size_t i = 0; i < h.rows.size(); ++i) {
    EXPECT_EQ(h.rows[i].seq, static_cast<int64_t>(i));
    EXPECT_EQ(h.rows[i].lsn, Lsn(0x100 + i));
    EXPECT_EQ(h.rows[i].xid, Xid(700));
  }
}

TEST_F(HistoryTest, FullOldRowsResolveToastAndTheirOwnUnchangedValues) {
  // REPLICA IDENTITY FULL: the old row comes whole, except a value PostgreSQL left as
  // unchanged TOAST in it, which is the previous value of the row.
  Add(fold::Op::kUpdate, {I(1), S("new")}).before = {Kind::kRow, {I(1), Value()}, {1}};
  Add(fold::Op::kUpdate, {I(1), Value()}, {1}).before = {Kind::kRow, {I(1), S("new")}, {}};
  Add(fold::Op::kDelete, {I(1), S("new")}).before = {Kind::kRow, {}, {}};
  HistoryRows h = Run(0, {{{I(1)}, {I(1), S("old")}}});
  EXPECT_TRUE(h.missing.empty());
  ASSERT_EQ(h.rows.size(), 3u);
  EXPECT_EQ(h.rows[0].before, (std::vector<Value>{I(1), S("old")}));
  EXPECT_EQ(h.rows[1].values, (std::vector<Value>{I(1), S("new")}));
  EXPECT_EQ(h.rows[1].before, (std::vector<Value>{I(1), S("new")}));
  EXPECT_EQ(h.rows[2].before, (std::vector<Value>{I(1), S("new")}));
}

TEST_F(HistoryTest, ValuesFromBeforeTheBatchAreAskedForThenUsed) {
  Add(fold::Op::kUpdate, {I(5), Value()}, {1});
  HistoryRows first = Run();
  EXPECT_EQ(first.missing, (std::map<fold::Key, std::set<int>>{{{I(5)}, {1}}}));
  EXPECT_EQ(first.rows[0].values, (std::vector<Value>{I(5), Value()}));
  HistoryRows second = Run(0, {{{I(5)}, {I(5), S("stored")}}});
  EXPECT_TRUE(second.missing.empty());
  EXPECT_EQ(second.rows[0].values, (std::vector<Value>{I(5), S("stored")}));
  // After a TRUNCATE the table's rows are gone: nothing is asked for.
  changes_.clear();
  Add(fold::Op::kTruncate, {});
  Add(fold::Op::kInsert, {I(5), S("again")});
  Add(fold::Op::kUpdate, {I(5), Value()}, {1});
  HistoryRows third = Run(0, {{{I(5)}, {I(5), S("stored")}}});
  EXPECT_TRUE(third.missing.empty());
  EXPECT_EQ(third.rows[2].values, (std::vector<Value>{I(5), S("again")}));
}

TEST_F(HistoryTest, ReplayedChangesGiveNoRowButResolveLaterOnes) {
  Add(fold::Op::kInsert, {I(1), S("a")});           // committed to the history already
  Add(fold::Op::kUpdate, {I(1), Value()}, {1});      // idem
  Add(fold::Op::kUpdate, {I(1), Value()}, {1});
  HistoryRows h = Run(/*emit_from=*/2);
  EXPECT_TRUE(h.missing.empty());
  ASSERT_EQ(h.rows.size(), 1u);
  EXPECT_EQ(h.rows[0].seq, 2);
  EXPECT_EQ(h.rows[0].values, (std::vector<Value>{I(1), S("a")}));
  // A replayed change that needs a value from before the batch asks for it too: a later row
  // resolves from what it leaves.
  changes_.clear();
  Add(fold::Op::kUpdate, {I(1), Value()}, {1});
  Add(fold::Op::kUpdate, {I(1), Value()}, {1});
  EXPECT_EQ(Run(1).missing.size(), 1u);
}

TEST_F(HistoryTest, BadChangesAreInvalidArgument) {
  Add(fold::Op::kInsert, {Value(), S("a")});
  EXPECT_EQ(HistoryOf(changes_, {0}, 2, 0, {}).status().code(), StatusCode::kInvalidArgument);
  changes_.clear();
  Add(fold::Op::kInsert, {I(1)});
  EXPECT_EQ(HistoryOf(changes_, {0}, 2, 0, {}).status().code(), StatusCode::kInvalidArgument);
  changes_.clear();
  Add(fold::Op::kUpdate, {I(1), S("a")}, {7});
  EXPECT_EQ(HistoryOf(changes_, {0}, 2, 0, {}).status().code(), StatusCode::kInvalidArgument);
}

Field F(int32_t id, const char* name, TypeId t, bool required = false) {
  return Field{id, name, required, DataType::Primitive(Type{t}), "", {}, {}};
}

TEST(HistorySchemaTest, NewTableHasTheColumnsThenMetadataThenTheOldRow) {
  const std::vector<Field> mirror = {F(1, "id", TypeId::kInt, true), F(2, "doc", TypeId::kString),
                                     F(3, "_commit_ts", TypeId::kTimestampTz),
                                     F(4, "_lsn", TypeId::kLong)};
  const std::vector<Field> data = HistoryDataFields(mirror);
  ASSERT_EQ(data.size(), 2u);  // include_metadata's columns are the history's own
  auto fields = NewHistoryFields(data);
  ASSERT_TRUE(fields.ok()) << fields.status().ToString();
  std::vector<std::string> names;
  for (const Field& f : *fields) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"id", "doc", "_op", "_commit_ts", "_lsn", "_xid",
                                             "_seq", "_before"}));
  EXPECT_FALSE((*fields)[0].required);  // a TRUNCATE row has no key
  const Field& before = fields->back();
  ASSERT_EQ(before.type.kind, DataType::Kind::kStruct);
  ASSERT_EQ(before.type.fields.size(), 2u);
  EXPECT_EQ(before.type.fields[1].name, "doc");
  std::set<int32_t> ids;
  for (const Field& f : *fields) ids.insert(f.id);
  for (const Field& f : before.type.fields) ids.insert(f.id);
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(*ids.rbegin(), 10);
  // A column named like a history column is refused with what to do.
  auto clash = NewHistoryFields({F(1, "id", TypeId::kInt, true), F(2, "_op", TypeId::kString)});
  EXPECT_EQ(clash.status().code(), StatusCode::kFailedPrecondition);
}

TEST(HistorySchemaTest, FollowsTheMirrorsNewAndWidenedColumns) {
  std::vector<Field> data = {F(1, "id", TypeId::kInt, true), F(2, "doc", TypeId::kString)};
  auto fields = NewHistoryFields(data);
  ASSERT_TRUE(fields.ok());
  int32_t last = 10;
  auto same = EvolveHistoryFields(*fields, data, &last);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->has_value());
  data[0].type = DataType::Primitive(Type{TypeId::kLong});
  data.push_back(F(3, "n", TypeId::kDouble));
  auto evolved = EvolveHistoryFields(*fields, data, &last);
  ASSERT_TRUE(evolved.ok()) << evolved.status().ToString();
  ASSERT_TRUE(evolved->has_value());
  const std::vector<Field>& e = **evolved;
  EXPECT_EQ(e[0].type.primitive.id, TypeId::kLong);
  EXPECT_EQ(e.back().name, "n");
  const Field* before = nullptr;
  for (const Field& f : e) {
    if (f.name == "_before") before = &f;
  }
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->type.fields[0].type.primitive.id, TypeId::kLong);
  EXPECT_EQ(before->type.fields.back().name, "n");
  EXPECT_EQ(last, 12);
  // A change Iceberg cannot promote is refused.
  data[1].type = DataType::Primitive(Type{TypeId::kInt});
  EXPECT_EQ(EvolveHistoryFields(*fields, data, &last).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(HistorySchemaTest, RowsBecomeAnArrowBatchWithTheOldRowAsAStruct) {
  const std::vector<Field> data = {F(1, "id", TypeId::kInt, true), F(2, "doc", TypeId::kString)};
  auto fields = NewHistoryFields(data);
  ASSERT_TRUE(fields.ok());
  HistoryRow insert{fold::Op::kInsert, {I(1), S("a")}, std::nullopt, Lsn(0x10), Xid(7), 5, 0};
  HistoryRow update{fold::Op::kUpdate, {I(1), S("b")}, std::vector<Value>{I(1), S("a")},
                    Lsn(0x20), Xid(8), 6, 1};
  const HistoryLayout layout = HistoryLayoutOf(*fields, data);
  auto batch = HistoryBatch(layout, {&insert, &update});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ((*batch)->num_rows(), 2);
  auto ops = std::static_pointer_cast<arrow::StringArray>((*batch)->column(2));
  EXPECT_EQ(ops->GetString(0), "I");
  EXPECT_EQ(ops->GetString(1), "U");
  auto before = std::static_pointer_cast<arrow::StructArray>((*batch)->column(7));
  EXPECT_TRUE(before->IsNull(0));
  EXPECT_TRUE(before->IsValid(1));
  EXPECT_EQ(std::static_pointer_cast<arrow::StringArray>(before->field(1))->GetString(1), "a");
  EXPECT_TRUE(before->field(1)->IsNull(0));
  const std::vector<Value> values = HistoryRowValues(layout, update);
  EXPECT_EQ(values[3], Value(TimestampTz{6}));
  EXPECT_EQ(values[4], Value(int64_t{0x20}));
}

}  // namespace
}  // namespace pg2iceberg::materialize
