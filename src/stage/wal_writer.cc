#include "stage/wal_writer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/crash_point.h"
#include "base/log.h"
#include "base/metrics.h"
#include "config/config.h"
#include "io/object_names.h"
#include "pg/values.h"

namespace pg2iceberg::stage {
namespace {

class ReplicationSource final : public MessageSource {
 public:
  explicit ReplicationSource(std::unique_ptr<pg::ReplicationStream> stream)
      : stream_(std::move(stream)) {}
  Result<std::optional<pg::ReplicationStream::Received>> Next(
      std::chrono::milliseconds timeout) override {
    return stream_->Next(timeout);
  }
  void Confirm(Lsn lsn) override { stream_->Confirm(lsn); }
  Status SendStatus() override { return stream_->SendStatus(); }
  Lsn confirmed() const override { return stream_->confirmed(); }
  Lsn server_wal_end() const override { return stream_->server_wal_end(); }

 private:
  std::unique_ptr<pg::ReplicationStream> stream_;
};

BeforeImage::Kind KindOf(pg::UpdateMsg::OldKind k) {
  switch (k) {
    case pg::UpdateMsg::OldKind::kKey: return BeforeImage::Kind::kKey;
    case pg::UpdateMsg::OldKind::kOld: return BeforeImage::Kind::kRow;
    case pg::UpdateMsg::OldKind::kNone: break;
  }
  return BeforeImage::Kind::kNone;
}

}  // namespace

WalWriter::WalWriter(std::unique_ptr<pg::ReplicationStream> stream, coord::Coordinator* coord,
                     std::shared_ptr<io::FileIO> io,
                     std::map<std::string, StagedRelation> relations, Rediscover rediscover,
                     WalWriterOptions options)
    : WalWriter(std::make_unique<ReplicationSource>(std::move(stream)), coord, std::move(io),
                std::move(relations), std::move(rediscover), std::move(options)) {}

WalWriter::WalWriter(std::unique_ptr<MessageSource> stream, coord::Coordinator* coord,
                     std::shared_ptr<io::FileIO> io,
                     std::map<std::string, StagedRelation> relations, Rediscover rediscover,
                     WalWriterOptions options)
    : stream_(std::move(stream)),
      coord_(coord),
      io_(std::move(io)),
      rediscover_(std::move(rediscover)),
      options_(std::move(options)),
      clock_(options_.clock ? options_.clock : Clock::Real()) {
  for (auto& [name, rel] : relations) {
    relations_[name] = std::make_shared<const StagedRelation>(std::move(rel));
  }
  if (options_.spill_bytes <= 0) options_.spill_bytes = options_.flush_bytes;
  last_flush_ = clock_->Monotonic();
  ready_end_ = stream_->confirmed();
}

int64_t WalWriter::spilled_files_open() const {
  int64_t n = 0;
  for (const auto& [xid, txn] : streams_) n += static_cast<int64_t>(txn.spilled.size());
  return n;
}

std::string WalWriter::StagingDir() const {
  std::string dir = options_.staging_uri;
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  return dir;
}

namespace {

// A relation's key as attnums (names' positions where attnums are unknown).
std::vector<int> KeyAttnums(const StagedRelation& r) {
  std::vector<int> out;
  for (int k : r.key) {
    const int attnum = r.columns[static_cast<size_t>(k)].attnum;
    out.push_back(attnum > 0 ? attnum : -1 - k);
  }
  return out;
}

}  // namespace

Status WalWriter::OnRelation(const pg::RelationMsg& rel) {
  const std::string name = config::TableName{rel.nspname, rel.relname}.ToString();
  if (!options_.markers_table.empty() && name == options_.markers_table) {
    markers_relid_ = rel.relation_id.value();
    markers_id_column_ = -1;
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      if (rel.columns[i].name == "id") markers_id_column_ = static_cast<int>(i);
    }
    return Status::Ok();
  }
  auto it = relations_.find(name);
  if (it == relations_.end()) {
    // A table we do not replicate (perhaps one we did under another name: renamed away).
    relid_to_table_.erase(rel.relation_id.value());
    return Status::Ok();
  }
  relid_to_table_[rel.relation_id.value()] = it->first;
  // The attnum of each column as of this point of the WAL, where the DDL event trigger said.
  std::vector<int> attnums(rel.columns.size(), 0);
  if (auto d = ddl_attnums_.find(it->first);
      d != ddl_attnums_.end() && (d->second.oid == 0 || d->second.oid == rel.relation_id.value())) {
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      auto a = d->second.attnums.find(rel.columns[i].name);
      if (a != d->second.attnums.end()) attnums[i] = a->second;
    }
  }
  const bool exact = std::all_of(attnums.begin(), attnums.end(), [](int a) { return a > 0; });
  // Did the shape change (ALTER TABLE)? Compare names, declared types and attnums.
  const StagedRelation& cur = *it->second;
  // Another oid under the same name: the table was dropped and re-created.
  bool same = cur.columns.size() == rel.columns.size() &&
              (cur.oid == 0 || cur.oid == rel.relation_id.value());
  for (size_t i = 0; same && i < rel.columns.size(); ++i) {
    // Domains are resolved to their base type in `cur`, so a domain column always looks
    // changed: one extra discovery query per Relation message, which is rare.
    same = cur.columns[i].name == rel.columns[i].name &&
           cur.columns[i].type_oid == rel.columns[i].type_oid &&
           cur.columns[i].typmod == rel.columns[i].type_modifier &&
           (!exact || cur.columns[i].attnum == attnums[i]);
  }
  // The key (primary or configured) is the catalog's; without the event trigger a column
  // dropped and added again under the same name and type looks the same in the stream, and the
  // catalog tells. Both are exact when we are not behind, once the transaction is visible (a
  // streamed one is not committed yet: its DDL is not in the catalog for anyone).
  if (await_visible_ && !rel.xid.valid() && current_xid_.valid()) {
    PG2I_RETURN_IF_ERROR(await_visible_(current_xid_));
  }
  auto discovered = rediscover_(it->first);
  if (!discovered.ok()) {
    // The catalog cannot describe the table now (dropped since, no key for a moment, …): when
    // the stream shows it unchanged, keep what we have; the materializer's checks report the
    // table's fate.
    if (!same) return discovered.status();
    log::Debug("could not look the table up again; keeping its shape",
               {{"table", it->first}, {"error", discovered.status().ToString()}});
    return Status::Ok();
  }
  StagedRelation fresh = std::move(*discovered);
  if (same && exact) {
    same = KeyAttnums(fresh) == KeyAttnums(cur);
  } else if (same) {
    bool moved = fresh.columns.size() == cur.columns.size();
    for (size_t i = 0; moved && i < cur.columns.size(); ++i) {
      moved = fresh.columns[i].name == cur.columns[i].name;
    }
    if (!moved) return Status::Ok();  // the catalog is further on; keep what we have
    same = KeyAttnums(fresh) == KeyAttnums(cur);
    for (size_t i = 0; i < cur.columns.size(); ++i) {
      same = same && fresh.columns[i].attnum == cur.columns[i].attnum;
    }
  }
  if (same) return Status::Ok();
  if (exact) {
    // Each column's type: as we had it when the stream's type is unchanged, else the catalog's
    // column of the same attnum, else the stream's own (a column the catalog no longer has).
    StagedRelation by_attnum = fresh;
    by_attnum.columns.clear();
    by_attnum.key.clear();
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      const pg::RelationColumn& rc = rel.columns[i];
      auto with_attnum = [&](const std::vector<StagedColumn>& cols) {
        return std::find_if(cols.begin(), cols.end(),
                            [&](const StagedColumn& x) { return x.attnum == attnums[i]; });
      };
      StagedColumn col;
      if (auto c = with_attnum(cur.columns);
          c != cur.columns.end() && c->type_oid == rc.type_oid && c->typmod == rc.type_modifier) {
        col = *c;
      } else if (auto f = with_attnum(fresh.columns); f != fresh.columns.end()) {
        col = *f;
      } else {
        col = StagedColumn{rc.name, rc.type_oid, rc.type_modifier,
                           pg::MapType(rc.type_oid, rc.type_modifier).type, true, attnums[i]};
      }
      col.name = rc.name;
      by_attnum.columns.push_back(std::move(col));
    }
    // The key: the catalog's (configured or primary), else the one we had, by attnum.
    auto key_of = [&](const StagedRelation& from) {
      std::vector<int> key;
      for (int k : from.key) {
        for (size_t i = 0; i < by_attnum.columns.size(); ++i) {
          if (by_attnum.columns[i].attnum == from.columns[static_cast<size_t>(k)].attnum) {
            key.push_back(static_cast<int>(i));
          }
        }
      }
      return key.size() == from.key.size() ? key : std::vector<int>{};
    };
    by_attnum.key = key_of(fresh);
    if (by_attnum.key.empty()) by_attnum.key = key_of(cur);
    fresh = std::move(by_attnum);
  } else if (fresh.columns.size() != rel.columns.size()) {
    // The catalog is further on (columns added or dropped since this point of the WAL, e.g.
    // by DDL while we were stopped). Best effort, by name: a column the catalog (else what we
    // had) holds under the same name and type is that column, else the catalog's of that name
    // (a domain, or a type changed since: then with the stream's type unless a domain); any
    // other is matched by name downstream (attnum 0).
    // Wrong only when a name was dropped and added again since.
    StagedRelation by_name = fresh;
    by_name.columns.clear();
    by_name.key.clear();
    for (const pg::RelationColumn& rc : rel.columns) {
      auto named = [&](const std::vector<StagedColumn>& cols, bool same_type) {
        return std::find_if(cols.begin(), cols.end(), [&](const StagedColumn& x) {
          return x.name == rc.name &&
                 (!same_type || (x.type_oid == rc.type_oid && x.typmod == rc.type_modifier));
        });
      };
      if (auto f = named(fresh.columns, true); f != fresh.columns.end()) {
        by_name.columns.push_back(*f);
      } else if (auto c = named(cur.columns, true); c != cur.columns.end()) {
        by_name.columns.push_back(*c);
      } else if (auto n = named(fresh.columns, false); n != fresh.columns.end()) {
        StagedColumn col = *n;
        if (rc.type_oid < 16384) {
          // A built-in type in the stream (not a domain): its values are of that type still.
          col.type_oid = rc.type_oid;
          col.typmod = rc.type_modifier;
          col.type = pg::MapType(rc.type_oid, rc.type_modifier).type;
        }
        by_name.columns.push_back(std::move(col));
      } else {
        by_name.columns.push_back(StagedColumn{rc.name, rc.type_oid, rc.type_modifier,
                                               pg::MapType(rc.type_oid, rc.type_modifier).type,
                                               true, 0});
      }
    }
    for (const StagedRelation* from : {static_cast<const StagedRelation*>(&fresh), &cur}) {
      std::vector<int> key;
      for (int k : from->key) {
        const std::string& name = from->columns[static_cast<size_t>(k)].name;
        for (size_t i = 0; i < by_name.columns.size(); ++i) {
          if (by_name.columns[i].name == name) key.push_back(static_cast<int>(i));
        }
      }
      if (!key.empty() && key.size() == from->key.size()) {
        by_name.key = std::move(key);
        break;
      }
    }
    if (by_name.key.empty()) {
      return FailedPrecondition("table " + it->first + " changed since this point of the WAL "
                                "and its key columns cannot be told in the stream (" +
                                std::to_string(rel.columns.size()) + " columns in the stream, " +
                                std::to_string(fresh.columns.size()) + " in the catalog)");
    }
    fresh = std::move(by_name);
  } else {
    // Best effort: the catalog's attnums, position by position, under the stream's names.
    for (size_t i = 0; i < rel.columns.size(); ++i) fresh.columns[i].name = rel.columns[i].name;
  }
  fresh.oid = rel.relation_id.value();  // the stream's: these changes are that table's
  if (!exact && missing_defaults_ && (cur.oid == 0 || fresh.oid == cur.oid)) {
    // No column map from the trigger: a column new to us that existing rows read a default for
    // (best effort: while we keep up, the catalog still says so).
    std::set<int> known;
    for (const StagedColumn& c : cur.columns) known.insert(c.attnum);
    std::vector<int> added;
    for (const StagedColumn& c : fresh.columns) {
      if (c.attnum > 0 && !known.count(c.attnum)) added.push_back(c.attnum);
    }
    if (!added.empty() && !known.count(0)) {
      PG2I_ASSIGN_OR_RETURN(std::vector<std::string> defaulted,
                            missing_defaults_(it->first, fresh.oid, added));
      std::string names;
      for (const auto& n : defaulted) names += (names.empty() ? "" : ", ") + n;
      if (!names.empty()) {
        // Committed before this transaction's rows: reported at the next flush.
        rewrites_.push_back({Xid(), it->first,
                             "column(s) " + names + " added with a default existing rows take "
                             "(seen in the catalog)"});
      }
    }
  }
  log::Info("table schema changed", {{"table", it->first},
                                     {"columns", static_cast<int64_t>(fresh.columns.size())},
                                     {"exact", exact}});
  it->second = std::make_shared<const StagedRelation>(std::move(fresh));
  return Status::Ok();
}

void WalWriter::OnColumnsMessage(const pg::LogicalMessageMsg& msg) {
  try {
    const auto j = nlohmann::json::parse(msg.content);
    const std::string table =
        config::TableName{j.at("schema").get<std::string>(), j.at("table").get<std::string>()}
            .ToString();
    if (!relations_.count(table)) return;
    DdlColumns d;
    if (auto oid = j.find("oid"); oid != j.end()) {  // a number; a string from an older trigger
      d.oid = oid->is_string() ? static_cast<uint32_t>(std::stoul(oid->get<std::string>()))
                               : oid->get<uint32_t>();
    }
    for (const auto& c : j.at("columns")) d.attnums[c.at(1).get<std::string>()] = c.at(0).get<int>();
    TxnOf().ddl.push_back({msg.xid, table, d});
    if (msg.xid.valid()) {  // inside a streamed transaction, which may still abort
      auto old = ddl_attnums_.find(table);
      ddl_undo_[msg.xid].emplace_back(
          table, old == ddl_attnums_.end() ? std::nullopt : std::optional<DdlColumns>(old->second));
    }
    ddl_attnums_[table] = std::move(d);
    // Columns this ALTER TABLE added with a default that existing rows take without a rewrite:
    // the stream carries no row for them.
    std::string defaulted;
    for (const auto& c : j.value("defaulted", nlohmann::json::array())) {
      defaulted += (defaulted.empty() ? "" : ", ") + c.get<std::string>();
    }
    if (!defaulted.empty()) {
      TxnOf().rewrites.push_back(
          {msg.xid, table, "column(s) " + defaulted + " added with a default existing rows take"});
    }
  } catch (const std::exception& e) {
    log::Warn("ignored a malformed column map from the DDL event trigger", {{"error", e.what()}});
  }
}

WalWriter::Txn& WalWriter::TxnOf() {
  // Inside Stream Start … Stop the message belongs to that streamed transaction.
  if (stream_xid_.valid()) return streams_[stream_xid_];
  return current_;
}

void WalWriter::OnRewriteMessage(const pg::LogicalMessageMsg& msg) {
  try {
    const auto j = nlohmann::json::parse(msg.content);
    const std::string table =
        config::TableName{j.at("schema").get<std::string>(), j.at("table").get<std::string>()}
            .ToString();
    if (!relations_.count(table)) return;
    // pg_event_trigger_table_rewrite_reason(): AT_REWRITE_* bits.
    const int reason = j.value("reason", 0);
    std::string why;
    auto add = [&](int bit, const char* what) {
      if (reason & bit) why += std::string(why.empty() ? "" : ", ") + what;
    };
    add(0x1, "persistence changed (SET LOGGED/UNLOGGED)");
    add(0x2, "a column added with a volatile default");
    add(0x4, "a column type changed");
    add(0x8, "access method changed");
    if (why.empty()) why = "rewritten (reason " + std::to_string(reason) + ")";
    TxnOf().rewrites.push_back({msg.xid, table, "table rewritten by ALTER TABLE: " + why});
  } catch (const std::exception& e) {
    log::Warn("ignored a malformed table-rewrite message from the event trigger",
              {{"error", e.what()}});
  }
}

Status WalWriter::ReportRewrites(const std::vector<Txn::Rewrite>& rewrites) {
  std::set<std::string> done;
  for (const Txn::Rewrite& r : rewrites) {
    if (!done.insert(r.table).second) continue;
    if (!on_rewrite_) {
      log::Warn("table changed in a way logical replication does not carry; resync it",
                {{"table", r.table}, {"what", r.why}});
      continue;
    }
    PG2I_RETURN_IF_ERROR(on_rewrite_(r.table, r.why));
  }
  return Status::Ok();
}

Result<std::vector<Value>> WalWriter::Typed(const StagedRelation& rel, const pg::Tuple& t,
                                            std::vector<int>* unchanged) {
  if (t.size() != rel.columns.size()) {
    return DataLoss("tuple of " + rel.table + " has " + std::to_string(t.size()) +
                    " columns; expected " + std::to_string(rel.columns.size()));
  }
  std::vector<Value> out(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& v = t[i];
    switch (v.kind) {
      case pg::TupleValue::Kind::kNull: break;
      case pg::TupleValue::Kind::kUnchangedToast:
        if (unchanged) unchanged->push_back(static_cast<int>(i));
        break;
      case pg::TupleValue::Kind::kText: {
        pg::ValueNote note = pg::ValueNote::kNone;
        auto parsed = pg::ParseText(rel.columns[i].type, rel.columns[i].type_oid, v.data, &note);
        if (!parsed.ok()) {
          return parsed.status().WithContext(rel.table + "." + rel.columns[i].name);
        }
        if (note != pg::ValueNote::kNone) {
          log::Debug("value adjusted", {{"table", rel.table},
                                        {"column", rel.columns[i].name},
                                        {"note", std::string(pg::ValueNoteName(note))}});
        }
        out[i] = std::move(*parsed);
        break;
      }
      case pg::TupleValue::Kind::kBinary:
        return Unimplemented("binary tuple data from pgoutput is not requested");
    }
  }
  return out;
}

Status WalWriter::AddRow(Xid row_xid, const std::string& table, fold::Change change,
                         BeforeImage before) {
  if (auto skip = options_.skip_ops.find(table);
      skip != options_.skip_ops.end() && skip->second.count(change.op) > 0) {
    const char* op = change.op == fold::Op::kInsert   ? "insert"
                     : change.op == fold::Op::kUpdate ? "update"
                     : change.op == fold::Op::kDelete ? "delete"
                                                      : "truncate";
    metrics::Default()
        .GetCounter("pg2iceberg_skipped_changes_total",
                    "Changes left out by tables[].capture_operations, per table and operation",
                    {{"table", table}, {"op", op}})
        .Add();
    return Status::Ok();
  }
  const bool streamed = stream_xid_.valid();
  Txn& txn = streamed ? streams_[stream_xid_] : current_;
  // Per transaction: chunks of a streamed transaction interleave with other transactions.
  change.seq = txn.next_seq++;
  Pending p;
  p.table = table;
  p.relation = relations_.at(table);
  p.change.change = std::move(change);
  p.change.xid = row_xid;
  p.change.before = std::move(before);
  txn.bytes += MemoryBytes(p.change);
  txn.rows.push_back(std::move(p));
  if (streamed && txn.bytes >= options_.spill_bytes) return Spill(txn);
  return Status::Ok();
}

Status WalWriter::Spill(Txn& txn) {
  // Per table, one file per run of rows of one relation shape, in arrival order, so reading
  // a table's spilled files in order gives its rows in transaction order.
  std::map<std::string, std::vector<std::pair<RelPtr, std::vector<StagedChange>>>> runs;
  for (Pending& p : txn.rows) {
    auto& r = runs[p.table];
    if (r.empty() || r.back().first != p.relation) {
      r.emplace_back(p.relation, std::vector<StagedChange>{});
    }
    r.back().second.push_back(std::move(p.change));
  }
  txn.rows.clear();
  txn.rows.shrink_to_fit();
  const std::string dir = StagingDir();
  for (auto& [table, list] : runs) {
    for (auto& [relation, changes] : list) {
      PG2I_ASSIGN_OR_RETURN(std::string bytes, EncodeStagedFile(*relation, changes));
      SpilledFile f;
      f.table = table;
      f.uri = io::NewStagedUri(dir, table, io::StagedKind::kSpill);
      f.rows = static_cast<int64_t>(changes.size());
      f.bytes = static_cast<int64_t>(bytes.size());
      for (const StagedChange& c : changes) f.xids.insert(c.xid);
      changes.clear();
      changes.shrink_to_fit();
      PG2I_RETURN_IF_ERROR(io_->WriteAll(f.uri, bytes));
      log::Debug("spilled streamed rows", {{"table", table}, {"uri", f.uri}, {"rows", f.rows}});
      txn.spilled.push_back(std::move(f));
      ++spill_files_written_;
      metrics::Default()
          .GetCounter("pg2iceberg_spilled_files_total",
                      "Staged files written for open streamed transactions larger than spill_bytes")
          .Add();
    }
  }
  txn.bytes = 0;
  return Status::Ok();
}

Status WalWriter::AbortSubtransaction(Txn& txn, Xid subxid) {
  std::erase_if(txn.rewrites, [&](const Txn::Rewrite& r) { return r.xid == subxid; });
  std::erase_if(txn.ddl, [&](const Txn::Ddl& d) { return d.xid == subxid; });
  std::erase_if(txn.markers, [&](const auto& m) { return m.first == subxid; });
  auto& rows = txn.rows;
  rows.erase(std::remove_if(rows.begin(), rows.end(),
                            [&](const Pending& p) { return p.change.xid == subxid; }),
             rows.end());
  txn.bytes = 0;
  for (const Pending& p : rows) txn.bytes += MemoryBytes(p.change);
  std::vector<SpilledFile> kept;
  for (SpilledFile& f : txn.spilled) {
    if (!f.xids.contains(subxid)) {
      kept.push_back(std::move(f));
      continue;
    }
    // Files are never overwritten (rule 5): the survivors go to a new file.
    PG2I_ASSIGN_OR_RETURN(DecodedStagedFile decoded, DecodeStagedFile(io_, f.uri));
    auto& changes = decoded.changes;
    changes.erase(std::remove_if(changes.begin(), changes.end(),
                                 [&](const StagedChange& c) { return c.xid == subxid; }),
                  changes.end());
    const std::string old_uri = f.uri;
    if (!changes.empty()) {
      PG2I_ASSIGN_OR_RETURN(std::string bytes, EncodeStagedFile(decoded.relation, changes));
      f.uri = io::NewStagedUri(StagingDir(), f.table, io::StagedKind::kSpill);
      f.rows = static_cast<int64_t>(changes.size());
      f.bytes = static_cast<int64_t>(bytes.size());
      f.xids.erase(subxid);
      PG2I_RETURN_IF_ERROR(io_->WriteAll(f.uri, bytes));
      ++spill_files_written_;
      metrics::Default()
          .GetCounter("pg2iceberg_spilled_files_total",
                      "Staged files written for open streamed transactions larger than spill_bytes")
          .Add();
      kept.push_back(std::move(f));
    }
    if (Status s = io_->Delete(old_uri); !s.ok()) {
      log::Warn("could not delete a spilled file of an aborted subtransaction; it is an "
                "unreferenced orphan", {{"uri", old_uri}, {"error", s.ToString()}});
    }
  }
  txn.spilled = std::move(kept);
  return Status::Ok();
}

void WalWriter::DeleteSpilled(const Txn& txn, const char* why) {
  for (const SpilledFile& f : txn.spilled) {
    if (Status s = io_->Delete(f.uri); !s.ok()) {
      log::Warn("could not delete a spilled file; it is an unreferenced orphan",
                {{"uri", f.uri}, {"why", std::string(why)}, {"error", s.ToString()}});
    }
  }
}

void WalWriter::CommitTxn(Txn txn, Lsn commit_lsn, Lsn end_lsn, int64_t commit_ts) {
  if (staged_through_ && end_lsn <= *staged_through_ && (!txn.rows.empty() || !txn.spilled.empty())) {
    // Its rows are in the log already; its markers and rewrites are reported again (their
    // callees are idempotent), in case the process ended before it reported them.
    DeleteSpilled(txn, "transaction staged before a restart");
    txn.rows.clear();
    txn.spilled.clear();
    txn.bytes = 0;
    if (transactions_restaged_++ == 0) {
      log::Info("PostgreSQL sent again transactions staged before the restart; their rows are "
                "in the log already and are not staged twice",
                {{"staged_through", *staged_through_}});
    }
  }
  const bool was_empty = ready_rows_ == 0;
  // Spilled rows come first: they were received before those still in memory.
  for (SpilledFile& f : txn.spilled) {
    ready_rows_ += f.rows;
    Group g;
    g.commit_lsn = commit_lsn;
    g.spilled = std::move(f);
    ready_[g.spilled->table].push_back(std::move(g));
  }
  for (Pending& p : txn.rows) {
    p.change.change.commit_lsn = commit_lsn;
    p.change.commit_ts_micros = commit_ts;
    auto& groups = ready_[p.table];
    if (groups.empty() || groups.back().spilled || groups.back().relation != p.relation) {
      groups.push_back(Group{p.relation, {}});
    }
    groups.back().changes.push_back(std::move(p.change));
    ++ready_rows_;
  }
  ready_bytes_ += txn.bytes;
  if (options_.pull != nullptr) options_.pull->SetReadyRows(ready_rows_);
  if (was_empty && ready_rows_ > 0) oldest_ready_commit_ts_ = commit_ts;
  if (end_lsn > ready_end_) ready_end_ = end_lsn;
  for (Txn::Rewrite& r : txn.rewrites) rewrites_.push_back(std::move(r));
  for (auto& m : txn.markers) markers_.emplace_back(std::move(m.second), commit_lsn);
  for (Txn::Ddl& d : txn.ddl) {
    ddl_committed_[d.table] = std::move(d.columns);
    ddl_unrecorded_ = true;
  }
  // Nothing of ours: nothing to stage (nor to report or record first).
  if (ready_rows_ == 0 && rewrites_.empty() && markers_.empty() && !ddl_unrecorded_) {
    stream_->Confirm(ready_end_);
  }
}

Status WalWriter::Handle(pg::ReplicationStream::Received r) {
  using namespace pg;
  Message& m = r.message;
  if (auto* b = std::get_if<BeginMsg>(&m)) {
    current_xid_ = b->xid;
    current_ = Txn{};
  } else if (auto* c = std::get_if<CommitMsg>(&m)) {
    // Rewrites and markers are reported once everything up to them is staged, and column
    // maps recorded: flush now.
    const bool report =
        !current_.rewrites.empty() || !current_.markers.empty() || !current_.ddl.empty();
    CommitTxn(std::move(current_), c->commit_lsn, c->end_lsn, c->commit_time.UnixMicros());
    current_ = Txn{};
    current_xid_ = Xid();
    if (report) return Flush();
  } else if (auto* rel = std::get_if<RelationMsg>(&m)) {
    PG2I_RETURN_IF_ERROR(OnRelation(*rel));
  } else if (auto* lm = std::get_if<LogicalMessageMsg>(&m)) {
    if (lm->prefix == kColumnsMessagePrefix) OnColumnsMessage(*lm);
    if (lm->prefix == kRewriteMessagePrefix) OnRewriteMessage(*lm);
  } else if (auto* ins = std::get_if<InsertMsg>(&m)) {
    if (markers_relid_ != 0 && ins->relation_id.value() == markers_relid_) return OnMarkerRow(*ins);
    auto t = relid_to_table_.find(ins->relation_id.value());
    if (t == relid_to_table_.end()) return Status::Ok();
    fold::Change ch;
    ch.op = fold::Op::kInsert;
    PG2I_ASSIGN_OR_RETURN(ch.values, Typed(*relations_.at(t->second), ins->new_tuple, nullptr));
    return AddRow(ins->xid.valid() ? ins->xid : current_xid_, t->second, std::move(ch));
  } else if (auto* upd = std::get_if<UpdateMsg>(&m)) {
    auto t = relid_to_table_.find(upd->relation_id.value());
    if (t == relid_to_table_.end()) return Status::Ok();
    const StagedRelation& rel = *relations_.at(t->second);
    fold::Change ch;
    ch.op = fold::Op::kUpdate;
    PG2I_ASSIGN_OR_RETURN(ch.values, Typed(rel, upd->new_tuple, &ch.unchanged));
    BeforeImage before;
    if (upd->old_kind != UpdateMsg::OldKind::kNone) {
      std::vector<int> old_unchanged;
      PG2I_ASSIGN_OR_RETURN(std::vector<Value> old, Typed(rel, upd->old_tuple, &old_unchanged));
      if (options_.before_images.count(t->second)) {
        before = {KindOf(upd->old_kind), old, std::move(old_unchanged)};
      }
      for (int k : rel.key) ch.old_key.push_back(old[static_cast<size_t>(k)]);
      bool changed = false;
      for (size_t i = 0; i < rel.key.size(); ++i) {
        changed |= !(ch.old_key[i] == ch.values[static_cast<size_t>(rel.key[i])]);
      }
      // With REPLICA IDENTITY FULL the old row comes with every update: keep the old key
      // only when it really changed. Its other values fill unchanged TOAST columns.
      if (upd->old_kind == UpdateMsg::OldKind::kOld) {
        std::vector<int> still;
        for (int u : ch.unchanged) {
          if (!IsNull(old[static_cast<size_t>(u)]) ||
              upd->old_tuple[static_cast<size_t>(u)].kind == TupleValue::Kind::kNull) {
            ch.values[static_cast<size_t>(u)] = old[static_cast<size_t>(u)];
          } else {
            still.push_back(u);
          }
        }
        ch.unchanged = std::move(still);
      }
      if (!changed) ch.old_key.clear();
    }
    return AddRow(upd->xid.valid() ? upd->xid : current_xid_, t->second, std::move(ch),
                  std::move(before));
  } else if (auto* del = std::get_if<DeleteMsg>(&m)) {
    auto t = relid_to_table_.find(del->relation_id.value());
    if (t == relid_to_table_.end()) return Status::Ok();
    fold::Change ch;
    ch.op = fold::Op::kDelete;
    std::vector<int> old_unchanged;
    PG2I_ASSIGN_OR_RETURN(ch.values,
                          Typed(*relations_.at(t->second), del->old_tuple, &old_unchanged));
    BeforeImage before;
    if (options_.before_images.count(t->second)) {
      before = {KindOf(del->old_kind), {}, std::move(old_unchanged)};
    }
    return AddRow(del->xid.valid() ? del->xid : current_xid_, t->second, std::move(ch),
                  std::move(before));
  } else if (auto* tr = std::get_if<TruncateMsg>(&m)) {
    for (RelationId id : tr->relation_ids) {
      auto t = relid_to_table_.find(id.value());
      if (t == relid_to_table_.end()) continue;
      fold::Change ch;
      ch.op = fold::Op::kTruncate;
      PG2I_RETURN_IF_ERROR(AddRow(tr->xid.valid() ? tr->xid : current_xid_, t->second, std::move(ch)));
    }
  } else if (auto* ss = std::get_if<StreamStartMsg>(&m)) {
    stream_xid_ = ss->xid;
    if (ss->first_segment) {  // a restart re-sends from the start
      if (auto it = streams_.find(ss->xid); it != streams_.end()) {
        DeleteSpilled(it->second, "transaction re-sent from its start");
      }
      streams_[ss->xid] = Txn{};
    }
  } else if (std::holds_alternative<StreamStopMsg>(m)) {
    stream_xid_ = Xid();
  } else if (auto* sc = std::get_if<StreamCommitMsg>(&m)) {
    ddl_undo_.erase(sc->xid);
    auto it = streams_.find(sc->xid);
    Txn txn = it == streams_.end() ? Txn{} : std::move(it->second);
    if (it != streams_.end()) streams_.erase(it);
    const bool report = !txn.rewrites.empty() || !txn.markers.empty() || !txn.ddl.empty();
    CommitTxn(std::move(txn), sc->commit_lsn, sc->end_lsn, sc->commit_time.UnixMicros());
    if (report) return Flush();
  } else if (auto* sa = std::get_if<StreamAbortMsg>(&m)) {
    auto it = streams_.find(sa->xid);
    if (it == streams_.end()) return Status::Ok();
    if (sa->xid == sa->subxid) {
      // Column maps the aborted transaction's DDL brought no longer hold: newest first.
      if (auto undo = ddl_undo_.find(sa->xid); undo != ddl_undo_.end()) {
        for (auto u = undo->second.rbegin(); u != undo->second.rend(); ++u) {
          if (u->second) {
            ddl_attnums_[u->first] = *u->second;
          } else {
            ddl_attnums_.erase(u->first);
          }
        }
        ddl_undo_.erase(undo);
      }
      DeleteSpilled(it->second, "transaction aborted");
      streams_.erase(it);
    } else {
      return AbortSubtransaction(it->second, sa->subxid);
    }
  }
  return Status::Ok();
}

Status WalWriter::OnMarkerRow(const pg::InsertMsg& ins) {
  if (markers_id_column_ < 0 || static_cast<size_t>(markers_id_column_) >= ins.new_tuple.size() ||
      ins.new_tuple[static_cast<size_t>(markers_id_column_)].kind != pg::TupleValue::Kind::kText) {
    log::Warn("a row of the markers table has no text column id; not a marker",
              {{"table", options_.markers_table}});
    return Status::Ok();
  }
  TxnOf().markers.emplace_back(ins.xid.valid() ? ins.xid : current_xid_,
                               ins.new_tuple[static_cast<size_t>(markers_id_column_)].data);
  return Status::Ok();
}

Status WalWriter::ServePull() {
  if (options_.pull == nullptr) return Status::Ok();
  const uint64_t asked = options_.pull->requested();
  if (asked != pull_served_) {
    if (ready_rows_ > 0) PG2I_RETURN_IF_ERROR(Flush());
    pull_served_ = asked;
    options_.pull->Serve(asked);
  }
  return Status::Ok();
}

bool WalWriter::FlushDue() const {
  if (!rewrites_.empty() || !markers_.empty()) return true;
  if (ready_rows_ == 0) return false;
  return ready_rows_ >= options_.flush_rows || ready_bytes_ >= options_.flush_bytes ||
         clock_->Monotonic() - last_flush_ >= options_.flush_interval;
}

// An idle writer reports a position it confirmed (a transaction of nothing ours) within this.
constexpr std::chrono::milliseconds kIdleReport{500};

Status WalWriter::Step(std::chrono::milliseconds wait) {
  if (!staged_through_) {
    PG2I_RETURN_IF_ERROR(LoadColumnMaps());
    PG2I_ASSIGN_OR_RETURN(std::optional<Lsn> flushed, coord_->FlushedLsn(options_.slot));
    staged_through_ = flushed.value_or(Lsn());
  }
  const auto deadline = clock_->Monotonic() + wait;
  while (clock_->Monotonic() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_->Monotonic());
    PG2I_ASSIGN_OR_RETURN(auto r, stream_->Next(std::max(left, std::chrono::milliseconds(1))));
    if (!r) break;
    PG2I_RETURN_IF_ERROR(Handle(std::move(*r)));
    if (ready_rows_ >= options_.flush_rows || ready_bytes_ >= options_.flush_bytes) {
      PG2I_RETURN_IF_ERROR(Flush());
    }
    PG2I_RETURN_IF_ERROR(ServePull());
  }
  PG2I_RETURN_IF_ERROR(ServePull());
  RecordGauges();
  if (options_.orphan_grace && (!next_sweep_ || clock_->Monotonic() >= *next_sweep_)) {
    const auto every = std::clamp<std::chrono::milliseconds>(
        *options_.orphan_grace / 2, std::chrono::seconds(1), std::chrono::minutes(10));
    next_sweep_ = clock_->Monotonic() + every;
    // Best effort: an orphan left now is found at the next sweep.
    if (auto swept = SweepOrphans(); !swept.ok()) {
      log::Warn("could not sweep orphaned staged files", {{"error", swept.status().ToString()}});
    }
  }
  if (FlushDue()) return Flush();
  if (ready_rows_ > 0) return Status::Ok();
  // Idle: keep the slot moving (keepalive positions) every flush_interval without waiting for
  // standby_interval, and report a position confirmed since the last status (a transaction of
  // nothing ours: `status --wait` waits for one) within kIdleReport rather than then.
  const auto idle_for = clock_->Monotonic() - last_flush_;
  const bool unreported = stream_->confirmed() > reported_;
  if (idle_for >= options_.flush_interval ||
      (unreported && idle_for >= std::min<std::chrono::milliseconds>(options_.flush_interval,
                                                                      kIdleReport))) {
    last_flush_ = clock_->Monotonic();
    return SendStatus();
  }
  return Status::Ok();
}

Result<int64_t> WalWriter::SweepOrphans() {
  if (!options_.orphan_grace) return 0;
  auto listed = io_->List(StagingDir());
  if (!listed.ok() && IsNotFound(listed.status())) return 0;
  PG2I_RETURN_IF_ERROR(listed.status());
  // Read the references after listing: a file registered in between is then referenced.
  PG2I_ASSIGN_OR_RETURN(std::set<std::string> referenced, coord_->ReferencedUris());
  for (const auto& [xid, txn] : streams_) {
    for (const SpilledFile& f : txn.spilled) referenced.insert(f.uri);
  }
  for (const auto& [table, groups] : ready_) {
    for (const Group& g : groups) {
      if (g.spilled) referenced.insert(g.spilled->uri);
    }
  }
  // A copy in progress uploads a chunk's files before it registers them (at the chunk's end,
  // which may take long): its snapshot files are never orphans while it runs.
  std::vector<std::string> copying;
  for (const auto& [table, rel] : relations_) {
    PG2I_ASSIGN_OR_RETURN(std::optional<coord::TableState> state, coord_->GetTable(table));
    if (state && !state->snapshot_complete) {
      copying.push_back(io::StagedTablePrefix(StagingDir(), table));
    }
  }
  const auto now = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          clock_->Now().time_since_epoch()));
  std::vector<std::string> orphans;
  for (const io::FileEntry& e : *listed) {
    if (referenced.count(e.uri) || now - e.mtime < *options_.orphan_grace) continue;
    if (io::StagedKindOfName(e.uri) == io::StagedKind::kSnapshot &&
        std::any_of(copying.begin(), copying.end(),
                    [&](const std::string& p) { return e.uri.rfind(p, 0) == 0; })) {
      continue;
    }
    orphans.push_back(e.uri);
  }
  if (orphans.empty()) return 0;
  PG2I_RETURN_IF_ERROR(io_->DeleteMany(orphans));
  log::Info("deleted orphaned staged files", {{"files", static_cast<int64_t>(orphans.size())}});
  metrics::Default()
      .GetCounter("pg2iceberg_orphans_deleted_total",
                  "Unreferenced staged and spilled files deleted after the grace period")
      .Add(static_cast<double>(orphans.size()));
  return static_cast<int64_t>(orphans.size());
}

void WalWriter::RecordGauges() const {
  auto& r = metrics::Default();
  const Lsn confirmed = stream_->confirmed();
  const Lsn server = stream_->server_wal_end();
  r.GetGauge("pg2iceberg_confirmed_lsn",
             "Last LSN staged, registered and confirmed to the slot, as a number")
      .Set(static_cast<double>(confirmed.value()));
  r.GetGauge("pg2iceberg_source_wal_lsn",
             "End of the source's WAL as the server last reported it, as a number")
      .Set(static_cast<double>(std::max(server, confirmed).value()));
  r.GetGauge("pg2iceberg_replication_lag_bytes",
             "Bytes of source WAL past what pg2iceberg has staged and confirmed")
      .Set(static_cast<double>(server > confirmed ? Lsn::BytesBetween(confirmed, server) : 0));
  // Age of the oldest committed change received but not yet staged; 0 when none waits.
  double lag_seconds = 0;
  if (ready_rows_ > 0 && oldest_ready_commit_ts_ != 0) {
    const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               clock_->Now().time_since_epoch())
                               .count();
    lag_seconds = std::max<double>(
        0, static_cast<double>(now_us - oldest_ready_commit_ts_) / 1e6);
  }
  r.GetGauge("pg2iceberg_replication_lag_seconds",
             "Age of the oldest committed change received but not yet staged (0: none waits)")
      .Set(lag_seconds);
  r.GetGauge("pg2iceberg_buffered_rows", "Committed rows received and not yet staged")
      .Set(static_cast<double>(ready_rows_));
  r.GetGauge("pg2iceberg_spilled_files_open",
             "Staged files of open streamed transactions (spilled, not yet committed)")
      .Set(static_cast<double>(spilled_files_open()));
}

Status WalWriter::ReportAndConfirm() {
  // A table whose rows changed out of the stream's sight is copied again: the copy, taken
  // after this, replaces every change staged so far (up to and including the transaction that
  // changed them); changes staged later are applied on top of it. Reported before the
  // transaction is confirmed: after a crash in between, the stream brings it again.
  if (!rewrites_.empty()) {
    PG2I_RETURN_IF_ERROR(ReportRewrites(rewrites_));
    rewrites_.clear();
    CrashPoint("after_rewrite_reported");
  }
  // Everything committed before each marker is staged now, and nothing after it.
  for (const auto& [id, lsn] : markers_) {
    if (on_marker_) PG2I_RETURN_IF_ERROR(on_marker_(id, lsn));
  }
  if (!markers_.empty()) CrashPoint("after_marker_recorded");
  markers_.clear();
  stream_->Confirm(ready_end_);
  return SendStatus();
}

Status WalWriter::SendStatus() {
  reported_ = stream_->confirmed();
  return stream_->SendStatus();
}

std::string WalWriter::ColumnMapsJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [table, d] : ddl_committed_) {
    j[table] = {{"oid", d.oid}, {"columns", d.attnums}};
  }
  return j.dump();
}

Status WalWriter::LoadColumnMaps() {
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> text, coord_->GetMeta(kColumnsMetaKey));
  if (!text || text->empty()) return Status::Ok();
  try {
    const auto j = nlohmann::json::parse(*text);
    for (const auto& [table, v] : j.items()) {
      if (!relations_.count(table)) continue;
      DdlColumns d;
      d.oid = v.at("oid").get<uint32_t>();
      d.attnums = v.at("columns").get<std::map<std::string, int>>();
      ddl_committed_[table] = d;
      ddl_attnums_[table] = std::move(d);
    }
  } catch (const std::exception& e) {
    // Only exactness is lost: columns are matched as without the event trigger.
    log::Warn("ignored the recorded column maps, which do not parse", {{"error", e.what()}});
  }
  return Status::Ok();
}

Status WalWriter::Flush() {
  last_flush_ = clock_->Monotonic();
  if (ready_rows_ == 0) {
    if (ddl_unrecorded_) {  // before the confirmation that passes the DDL
      PG2I_RETURN_IF_ERROR(coord_->SetMeta(kColumnsMetaKey, ColumnMapsJson()));
      ddl_unrecorded_ = false;
    }
    return ReportAndConfirm();
  }
  const Stopwatch started(clock_);
  std::vector<coord::StagedFile> files;
  const std::string dir = StagingDir();
  for (const auto& [table, groups] : ready_) {
    for (const Group& g : groups) {
      if (g.spilled) {  // already uploaded; its rows say commit LSN 0, the entry says which
        coord::StagedFile f;
        f.table = table;
        f.uri = g.spilled->uri;
        f.rows = g.spilled->rows;
        f.bytes = g.spilled->bytes;
        f.min_commit_lsn = g.commit_lsn;
        f.max_commit_lsn = g.commit_lsn;
        files.push_back(std::move(f));
        continue;
      }
      if (g.changes.empty()) continue;
      PG2I_ASSIGN_OR_RETURN(std::string bytes, EncodeStagedFile(*g.relation, g.changes));
      const std::string uri = io::NewStagedUri(dir, table, io::StagedKind::kChanges);
      PG2I_RETURN_IF_ERROR(io_->WriteAll(uri, bytes));
      coord::StagedFile f;
      f.table = table;
      f.uri = uri;
      f.rows = static_cast<int64_t>(g.changes.size());
      f.bytes = static_cast<int64_t>(bytes.size());
      f.min_commit_lsn = g.changes.front().change.commit_lsn;
      f.max_commit_lsn = g.changes.back().change.commit_lsn;
      files.push_back(std::move(f));
    }
  }
  CrashPoint("after_staging_upload");
  coord::StagedThrough through{options_.slot, ready_end_, {}};
  if (ddl_unrecorded_) through.meta[kColumnsMetaKey] = ColumnMapsJson();
  PG2I_RETURN_IF_ERROR(coord_->ClaimOffsets(files, through).status());
  ddl_unrecorded_ = false;
  CrashPoint("after_offset_claim");
  if (!files.empty() && options_.pull != nullptr) options_.pull->Flushed();
  // Only now may anything be forgotten or confirmed (rule 1).
  rows_staged_ += ready_rows_;
  auto& reg = metrics::Default();
  for (const auto& f : files) {
    const metrics::Labels l = {{"table", f.table}};
    reg.GetCounter("pg2iceberg_staged_rows_total", "Changes staged and registered, per table", l)
        .Add(static_cast<double>(f.rows));
    reg.GetCounter("pg2iceberg_staged_bytes_total", "Bytes of staged files registered, per table",
                   l)
        .Add(static_cast<double>(f.bytes));
    reg.GetCounter("pg2iceberg_staged_files_total", "Staged files registered, per table", l).Add();
  }
  log::Debug("flushed", {{"rows", ready_rows_},
                         {"files", static_cast<int64_t>(files.size())},
                         {"lsn", ready_end_}});
  ready_.clear();
  ready_rows_ = 0;
  ready_bytes_ = 0;
  if (options_.pull != nullptr) options_.pull->SetReadyRows(0);
  oldest_ready_commit_ts_ = 0;
  PG2I_RETURN_IF_ERROR(ReportAndConfirm());
  CrashPoint("after_standby_ack");
  reg.GetHistogram("pg2iceberg_flush_duration_seconds",
                   "Time of one WAL writer flush: encode, upload, register, confirm")
      .Observe(started.Seconds());
  RecordGauges();
  return Status::Ok();
}

}  // namespace pg2iceberg::stage
