#include "sim/source_model.h"

#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "stage/wal_writer.h"

namespace pg2iceberg::sim {

namespace {

using pg::TupleValue;

TupleValue TextValue(const std::string& s) { return {TupleValue::Kind::kText, s}; }
TupleValue Null() { return {TupleValue::Kind::kNull, {}}; }

TupleValue Opt(const std::optional<std::string>& s) { return s ? TextValue(*s) : Null(); }

std::pair<int32_t, SimRow> Pick(std::mt19937_64* rng, const Model& m) {
  auto it = m.begin();
  std::advance(it, static_cast<long>((*rng)() % m.size()));
  return *it;
}

}  // namespace

std::string TableName(int i) { return "public.t" + std::to_string(i); }

stage::StagedRelation SourceModel::Discover(int i, size_t units) const {
  const auto& at = version_unit_[static_cast<size_t>(i)];
  size_t version = 0;
  while (version + 1 < versions_[static_cast<size_t>(i)].size() && at[version + 1] < units) ++version;
  stage::StagedRelation rel;
  rel.table = TableName(i);
  rel.columns = {{"id", 23, -1, Type{TypeId::kInt}, false, 1},
                 {"v", 25, -1, Type{TypeId::kString}, true, 2},
                 {"big", 25, -1, Type{TypeId::kString}, true, 3}};
  for (const auto& [attnum, name] : versions_[static_cast<size_t>(i)][version].extra) {
    rel.columns.push_back({name, 25, -1, Type{TypeId::kString}, true, attnum});
  }
  rel.key = {0};
  rel.oid = kFirstOid + static_cast<uint32_t>(i);
  return rel;
}

pg::RelationMsg SourceModel::RelationMessage(int i, int version, Xid stream_xid) const {
  pg::RelationMsg rel;
  rel.xid = stream_xid;
  rel.relation_id = RelationId(kFirstOid + static_cast<uint32_t>(i));
  rel.nspname = "public";
  rel.relname = "t" + std::to_string(i);
  rel.columns = {{true, "id", 23, -1}, {false, "v", 25, -1}, {false, "big", 25, -1}};
  for (const auto& [attnum, name] : versions_[static_cast<size_t>(i)][static_cast<size_t>(version)].extra) {
    rel.columns.push_back({false, name, 25, -1});
  }
  return rel;
}

// The new tuple of an INSERT or UPDATE; `toast_unchanged`: big is sent as unchanged TOAST.
pg::Tuple SourceModel::NewTuple(int table, int32_t id, const SimRow& row,
                                bool toast_unchanged) const {
  pg::Tuple t = {TextValue(std::to_string(id)), Opt(row.v),
                 toast_unchanged ? TupleValue{TupleValue::Kind::kUnchangedToast, {}} : Opt(row.big)};
  for (const auto& [attnum, name] : Current(table).extra) {
    auto it = row.extra.find(attnum);
    t.push_back(it == row.extra.end() ? Null() : Opt(it->second));
  }
  return t;
}

// The old-key tuple ('K') of a DELETE or key-changing UPDATE: the key, the rest NULL.
pg::Tuple SourceModel::KeyTuple(int table, int32_t id) const {
  pg::Tuple t = {TextValue(std::to_string(id)), Null(), Null()};
  t.resize(3 + Current(table).extra.size(), Null());
  return t;
}

void SourceModel::Add(Unit* unit, pg::Message m, std::vector<std::pair<int, int>> shapes) const {
  if (int t = TableOf(m); t >= 0) shapes.push_back({t, Version(t)});
  unit->messages.push_back(std::move(m));
  unit->shapes.push_back(std::move(shapes));
}

int SourceModel::TableOf(const pg::Message& m) {
  std::optional<RelationId> rel;
  if (auto* i = std::get_if<pg::InsertMsg>(&m)) rel = i->relation_id;
  if (auto* u = std::get_if<pg::UpdateMsg>(&m)) rel = u->relation_id;
  if (auto* d = std::get_if<pg::DeleteMsg>(&m)) rel = d->relation_id;
  if (!rel) return -1;
  return static_cast<int>(rel->value() - kFirstOid);
}

SourceModel::SourceModel(std::mt19937_64* rng, const SourceOptions& options)
    : rng_(rng),
      options_(options),
      model_(static_cast<size_t>(options.tables)),
      versions_(static_cast<size_t>(options.tables), std::vector<Shape>(1)),
      version_unit_(static_cast<size_t>(options.tables), std::vector<size_t>(1, 0)) {
  for (auto& rows : model_) {
    for (int i = 0; i < options_.initial_rows; ++i) {
      const int32_t id = FreeId(rows, /*own_keys=*/false);
      if (id >= 0) rows[id] = RandomRow(Shape{});
    }
  }
  states_.push_back({0, model_});
  std::bernoulli_distribution streamed(options_.streamed);
  for (int i = 0; i < options_.transactions || open_; ++i) {
    if (open_ && (i >= options_.transactions || (*rng_)() % 2)) {
      ContinueStreamed();
    } else if (!open_ && streamed(*rng_)) {
      StartStreamed();
    } else {
      Ordinary();
    }
  }
}

const std::vector<Model>& SourceModel::StateAt(size_t units) const {
  size_t i = 0;
  while (i + 1 < states_.size() && states_[i + 1].first <= units) ++i;
  return states_[i].second;
}

std::string SourceModel::Text(size_t len) {
  std::string s = "r" + std::to_string(next_text_++) + "-";
  while (s.size() < len) s += static_cast<char>('a' + (*rng_)() % 26);
  return s;
}

SimRow SourceModel::RandomRow(const Shape& shape) {
  SimRow row;
  for (const auto& [attnum, name] : shape.extra) {
    row.extra[attnum] = (*rng_)() % 3 ? std::optional<std::string>(Text(6)) : std::nullopt;
  }
  if ((*rng_)() % 5 != 0) row.v = Text(8);
  switch ((*rng_)() % 3) {
    case 0:
      break;
    case 1:
      row.big = Text(12);
      break;
    default:
      row.big = Text(300);  // out of line
      row.toasted = true;
  }
  return row;
}

int32_t SourceModel::FreeId(const Model& rows, bool own_keys) {
  if (own_keys) return next_own_id_++;
  for (int tries = 0; tries < 100; ++tries) {
    const auto id = static_cast<int32_t>((*rng_)() % static_cast<uint64_t>(options_.key_space));
    if (!rows.count(id)) return id;
  }
  return -1;
}

void SourceModel::RandomChange(int table, Model& rows, bool own_keys, Xid xid, Unit* out) {
  const RelationId rel(kFirstOid + static_cast<uint32_t>(table));
  const uint64_t what = rows.empty() ? 0 : (*rng_)() % 10;
  if (what < 4) {  // insert
    const int32_t id = FreeId(rows, own_keys);
    if (id < 0) return;
    const SimRow row = RandomRow(Current(table));
    rows[id] = row;
    Add(out, pg::InsertMsg{xid, rel, NewTuple(table, id, row, false)});
    return;
  }
  auto [id, row] = Pick(rng_, rows);
  if (what < 7) {  // update values, maybe the key
    SimRow next = row;
    if ((*rng_)() % 2) next.v = (*rng_)() % 6 ? std::optional<std::string>(Text(8)) : std::nullopt;
    const bool new_big = (*rng_)() % 3 == 0;
    if (new_big) {
      SimRow fresh = RandomRow(Current(table));
      next.big = fresh.big;
      next.toasted = fresh.toasted;
    }
    for (auto& [attnum, value] : next.extra) {
      if ((*rng_)() % 3 == 0) value = (*rng_)() % 3 ? std::optional<std::string>(Text(6)) : std::nullopt;
    }
    const bool unchanged_toast = !new_big && row.toasted;
    pg::UpdateMsg u;
    u.xid = xid;
    u.relation_id = rel;
    int32_t new_id = id;
    if ((*rng_)() % 4 == 0) {
      new_id = FreeId(rows, own_keys);
      if (new_id < 0) new_id = id;
    }
    if (new_id != id) {
      u.old_kind = pg::UpdateMsg::OldKind::kKey;
      u.old_tuple = KeyTuple(table, id);
      rows.erase(id);
    }
    u.new_tuple = NewTuple(table, new_id, next, unchanged_toast);
    rows[new_id] = next;
    Add(out, std::move(u));
    return;
  }
  rows.erase(id);  // delete
  pg::DeleteMsg d;
  d.xid = xid;
  d.relation_id = rel;
  d.old_tuple = KeyTuple(table, id);
  Add(out, std::move(d));
}

void SourceModel::RandomDdl(Unit* out) {
  const int table = static_cast<int>((*rng_)() % static_cast<uint64_t>(options_.tables));
  Shape next = Current(table);
  Model& rows = model_[static_cast<size_t>(table)];
  const uint64_t what = next.extra.empty() ? 0 : (*rng_)() % 3;
  if (what == 0) {  // ADD COLUMN c<attnum> text: existing rows read NULL
    const int attnum = 4 + next_attnum_++;
    next.extra.push_back({attnum, "c" + std::to_string(attnum)});
    for (auto& [id, row] : rows) row.extra[attnum] = std::nullopt;
  } else {
    const size_t i = (*rng_)() % next.extra.size();
    if (what == 1) {  // DROP COLUMN
      for (auto& [id, row] : rows) row.extra.erase(next.extra[i].first);
      next.extra.erase(next.extra.begin() + static_cast<long>(i));
    } else {  // RENAME COLUMN: the values stay (column identity is the attnum)
      next.extra[i].second = "n" + std::to_string(next_attnum_++);
    }
  }
  versions_[static_cast<size_t>(table)].push_back(next);
  version_unit_[static_cast<size_t>(table)].push_back(units_.size());
  if (options_.event_trigger) {
    nlohmann::json columns = {{1, "id"}, {2, "v"}, {3, "big"}};
    for (const auto& [attnum, name] : next.extra) columns.push_back({attnum, name});
    const nlohmann::json content = {{"schema", "public"},
                                    {"table", "t" + std::to_string(table)},
                                    {"oid", kFirstOid + static_cast<uint32_t>(table)},
                                    {"columns", columns}};
    Add(out, pg::LogicalMessageMsg{Xid(), true, Lsn(), stage::kColumnsMessagePrefix,
                                   content.dump()});
  }
}

Lsn SourceModel::Emit(Unit unit) {
  for (size_t i = 0; i < unit.messages.size(); ++i) {
    unit.lsns.push_back(Lsn(next_lsn_));
    next_lsn_ += 0x40;
  }
  const Lsn last = unit.lsns.empty() ? Lsn(next_lsn_) : unit.lsns.back();
  units_.push_back(std::move(unit));
  return last;
}

void SourceModel::Ordinary() {
  const Xid xid(next_xid_++);
  Unit changes;
  std::bernoulli_distribution truncate(options_.truncate);
  // ALTER TABLE waits for the locks of an open transaction that changed the table: none open.
  if (!open_ && std::bernoulli_distribution(options_.ddl)(*rng_)) RandomDdl(&changes);
  if (!open_ && truncate(*rng_)) {
    // One table, or (in one message, as TRUNCATE a, b does) all of them.
    std::vector<RelationId> ids;
    const int which = static_cast<int>((*rng_)() % static_cast<uint64_t>(options_.tables + 1));
    for (int t = 0; t < options_.tables; ++t) {
      if (which == options_.tables || which == t) {
        model_[static_cast<size_t>(t)].clear();
        ids.push_back(RelationId(kFirstOid + static_cast<uint32_t>(t)));
      }
    }
    std::vector<std::pair<int, int>> shapes;
    for (RelationId id : ids) {
      const int t = static_cast<int>(id.value() - kFirstOid);
      shapes.push_back({t, Version(t)});
    }
    Add(&changes, pg::TruncateMsg{Xid(), false, false, ids}, shapes);
  }
  const int n = 1 + static_cast<int>((*rng_)() % 6);
  for (int i = 0; i < n; ++i) {
    const int t = static_cast<int>((*rng_)() % static_cast<uint64_t>(options_.tables));
    RandomChange(t, model_[static_cast<size_t>(t)], /*own_keys=*/false, Xid(), &changes);
  }
  // LSNs are assigned in Emit: the commit is the last message, Begin names its LSN.
  const Lsn commit(next_lsn_ + 0x40 * (changes.messages.size() + 1));
  Unit unit;
  unit.txn = static_cast<int>(txns_.size());
  Add(&unit, pg::BeginMsg{commit, {}, xid});
  for (size_t i = 0; i < changes.messages.size(); ++i) {
    if (auto* lm = std::get_if<pg::LogicalMessageMsg>(&changes.messages[i])) {
      lm->lsn = Lsn(next_lsn_ + 0x40 * (unit.messages.size()));
    }
    unit.messages.push_back(std::move(changes.messages[i]));
    unit.shapes.push_back(std::move(changes.shapes[i]));
  }
  Add(&unit, pg::CommitMsg{0, commit, Lsn(commit.value() + 0x20), {}});
  const Lsn last = Emit(std::move(unit));
  states_.push_back({units_.size(), model_});
  txns_.push_back(TxnInfo{false, Lsn(last.value() + 0x20)});
}

void SourceModel::StartStreamed() {
  Streamed s;
  s.txn = static_cast<int>(txns_.size());
  s.xid = Xid(next_xid_++);
  s.rows.resize(static_cast<size_t>(options_.tables));
  txns_.push_back(TxnInfo{});
  open_ = std::move(s);
  ContinueStreamed();
}

void SourceModel::ContinueStreamed() {
  Streamed& s = *open_;
  const uint64_t what = (*rng_)() % 10;
  if (what < 6 || s.first_segment) {  // a segment
    Unit unit;
    unit.txn = s.txn;
    Add(&unit, pg::StreamStartMsg{s.xid, s.first_segment});
    s.first_segment = false;
    if (!s.sub && (*rng_)() % 2) {
      s.sub = Xid(next_xid_++);
      s.at_sub_start = s.rows;
    }
    const int n = 1 + static_cast<int>((*rng_)() % 8);
    for (int i = 0; i < n; ++i) {
      const int t = static_cast<int>((*rng_)() % static_cast<uint64_t>(options_.tables));
      RandomChange(t, s.rows[static_cast<size_t>(t)], /*own_keys=*/true, s.sub.value_or(s.xid),
                   &unit);
    }
    Add(&unit, pg::StreamStopMsg{});
    Emit(std::move(unit));
    return;
  }
  if (what < 8 && s.sub) {  // the subtransaction ends: released, or aborted
    if ((*rng_)() % 2) {
      s.rows = s.at_sub_start;
      Unit unit;
      unit.txn = s.txn;
      Add(&unit, pg::StreamAbortMsg{s.xid, *s.sub});
      Emit(std::move(unit));
    }
    s.sub.reset();
    return;
  }
  if (what < 8) return;  // the transaction goes on (other transactions commit meanwhile)
  Unit unit;
  unit.txn = s.txn;
  TxnInfo& info = txns_[static_cast<size_t>(s.txn)];
  if ((*rng_)() % 5 == 0) {  // the whole transaction aborts
    Add(&unit, pg::StreamAbortMsg{s.xid, s.xid});
    info.aborted = true;
    info.end = Emit(std::move(unit));
  } else {
    const Lsn commit(next_lsn_);
    Add(&unit, pg::StreamCommitMsg{s.xid, 0, commit, Lsn(commit.value() + 0x20), {}});
    Emit(std::move(unit));
    info.end = Lsn(commit.value() + 0x20);
    for (size_t t = 0; t < s.rows.size(); ++t) {
      for (const auto& [id, row] : s.rows[t]) model_[t][id] = row;
    }
    states_.push_back({units_.size(), model_});
  }
  open_.reset();
}

std::string SourceModel::Describe() const {
  std::ostringstream out;
  auto tuple = [](const pg::Tuple& t) {
    std::string s = "(";
    for (size_t i = 0; i < t.size(); ++i) {
      if (i) s += ", ";
      switch (t[i].kind) {
        case TupleValue::Kind::kNull: s += "NULL"; break;
        case TupleValue::Kind::kUnchangedToast: s += "<unchanged toast>"; break;
        default: s += t[i].data.substr(0, 12);
      }
    }
    return s + ")";
  };
  for (const Unit& u : units_) {
    for (size_t i = 0; i < u.messages.size(); ++i) {
      out << u.lsns[i].ToString() << " txn " << u.txn << ": ";
      const pg::Message& m = u.messages[i];
      if (TableOf(m) >= 0) out << "t" << TableOf(m) << " ";
      if (auto* b = std::get_if<pg::BeginMsg>(&m)) {
        out << "BEGIN xid " << b->xid.value();
      } else if (auto* c = std::get_if<pg::CommitMsg>(&m)) {
        out << "COMMIT end " << c->end_lsn.ToString();
      } else if (auto* ins = std::get_if<pg::InsertMsg>(&m)) {
        out << "INSERT " << tuple(ins->new_tuple);
      } else if (auto* up = std::get_if<pg::UpdateMsg>(&m)) {
        out << "UPDATE " << (up->old_tuple.empty() ? "" : "key " + tuple(up->old_tuple) + " ")
            << tuple(up->new_tuple);
      } else if (auto* d = std::get_if<pg::DeleteMsg>(&m)) {
        out << "DELETE " << tuple(d->old_tuple);
      } else if (auto* lm = std::get_if<pg::LogicalMessageMsg>(&m)) {
        out << "MESSAGE " << lm->prefix << " " << lm->content;
      } else if (auto* tr = std::get_if<pg::TruncateMsg>(&m)) {
        out << "TRUNCATE";
        for (RelationId id : tr->relation_ids) out << " t" << id.value() - kFirstOid;
      } else if (auto* ss = std::get_if<pg::StreamStartMsg>(&m)) {
        out << "STREAM START xid " << ss->xid.value() << (ss->first_segment ? " (first)" : "");
      } else if (std::holds_alternative<pg::StreamStopMsg>(m)) {
        out << "STREAM STOP";
      } else if (auto* sc = std::get_if<pg::StreamCommitMsg>(&m)) {
        out << "STREAM COMMIT xid " << sc->xid.value() << " end " << sc->end_lsn.ToString();
      } else if (auto* sa = std::get_if<pg::StreamAbortMsg>(&m)) {
        out << "STREAM ABORT xid " << sa->xid.value() << " sub " << sa->subxid.value();
      }
      out << "\n";
    }
  }
  return out.str();
}

}  // namespace pg2iceberg::sim
