#include "avro/schema.h"

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <utility>

#include "avro/datum.h"

namespace pg2iceberg::avro {

using nlohmann::json;
using nlohmann::ordered_json;

namespace internal {

struct SchemaNode {
  Type type = Type::kNull;
  std::string name;        // named types: simple name
  std::string name_space;  // named types: "" for the null namespace
  std::string doc;         // named types
  std::vector<Field> fields;
  std::vector<std::string> symbols;
  int64_t size = 0;
  // Array items or map values (one element), or union branches.
  std::vector<Schema> children;
  json attributes = json::object();
  int64_t min_size = 0;
  // ToString's text, rendered on first use: a node does not change once built, and writers
  // that reuse one schema (every manifest of a table) render it once.
  mutable std::once_flag rendered_once;
  mutable std::string rendered;

  SchemaNode() = default;
  // A copy to modify (WithAttribute): everything but the rendered text.
  SchemaNode(const SchemaNode& o)
      : type(o.type), name(o.name), name_space(o.name_space), doc(o.doc), fields(o.fields),
        symbols(o.symbols), size(o.size), children(o.children), attributes(o.attributes),
        min_size(o.min_size) {}
  SchemaNode& operator=(const SchemaNode&) = delete;

  static Schema Wrap(std::shared_ptr<const SchemaNode> node) { return Schema(std::move(node)); }
};

bool JsonNestsDeeperThan(const json& j, int limit) {
  std::vector<std::pair<const json*, int>> stack = {{&j, 1}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (depth > limit) return true;
    if (node->is_structured()) {
      for (const json& child : *node) stack.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

}  // namespace internal

namespace {

using internal::SchemaNode;

constexpr int64_t kMinSizeCap = int64_t{1} << 40;

int64_t SaturatingAdd(int64_t a, int64_t b) { return std::min(a + b, kMinSizeCap); }

int64_t ComputeMinSize(const SchemaNode& n) {
  switch (n.type) {
    case Type::kNull:
      return 0;
    case Type::kFloat:
      return 4;
    case Type::kDouble:
      return 8;
    case Type::kFixed:
      return std::min(std::max<int64_t>(n.size, 0), kMinSizeCap);
    case Type::kRecord: {
      int64_t total = 0;
      for (const Field& f : n.fields) total = SaturatingAdd(total, f.type.min_encoded_size());
      return total;
    }
    case Type::kUnion: {
      // The branch index takes at least one byte; the cheapest branch follows it.
      int64_t cheapest = 0;
      for (size_t i = 0; i < n.children.size(); ++i) {
        int64_t m = n.children[i].min_encoded_size();
        cheapest = i == 0 ? m : std::min(cheapest, m);
      }
      return SaturatingAdd(1, cheapest);
    }
    default:
      // boolean, int, long, bytes, string, enum, array, map: at least one byte.
      return 1;
  }
}

Schema Finish(std::shared_ptr<SchemaNode> node) {
  node->min_size = ComputeMinSize(*node);
  return SchemaNode::Wrap(std::move(node));
}

Schema NewPrimitive(Type type) {
  auto node = std::make_shared<SchemaNode>();
  node->type = type;
  return Finish(std::move(node));
}

// The shared attribute-free node of a primitive type.
Schema Primitive(Type type) {
  switch (type) {
    case Type::kBoolean: return Schema::Boolean();
    case Type::kInt: return Schema::Int();
    case Type::kLong: return Schema::Long();
    case Type::kFloat: return Schema::Float();
    case Type::kDouble: return Schema::Double();
    case Type::kBytes: return Schema::Bytes();
    case Type::kString: return Schema::String();
    default: return Schema::Null();
  }
}

void SplitFullName(std::string full_name, std::string* name, std::string* name_space) {
  size_t dot = full_name.rfind('.');
  if (dot == std::string::npos) {
    *name = std::move(full_name);
    name_space->clear();
  } else {
    *name = full_name.substr(dot + 1);
    *name_space = full_name.substr(0, dot);
  }
}

std::string JoinName(const std::string& name_space, const std::string& name) {
  return name_space.empty() ? name : name_space + "." + name;
}

bool IsNamedType(Type t) { return t == Type::kRecord || t == Type::kEnum || t == Type::kFixed; }

std::optional<Type> PrimitiveFromName(std::string_view name) {
  static constexpr std::pair<std::string_view, Type> kPrimitives[] = {
      {"null", Type::kNull},     {"boolean", Type::kBoolean}, {"int", Type::kInt},
      {"long", Type::kLong},     {"float", Type::kFloat},     {"double", Type::kDouble},
      {"bytes", Type::kBytes},   {"string", Type::kString},
  };
  for (const auto& [n, t] : kPrimitives) {
    if (n == name) return t;
  }
  return std::nullopt;
}

// Avro names: [A-Za-z_][A-Za-z0-9_]*.
bool IsValidName(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  if (!alpha(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

bool IsValidNamespace(std::string_view s) {
  if (s.empty()) return true;
  while (true) {
    size_t dot = s.find('.');
    if (!IsValidName(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

// Parse-time check: every dot-separated component non-empty (spelling is Validate's job).
bool HasEmptyComponent(std::string_view s) {
  if (s.empty()) return false;
  while (true) {
    size_t dot = s.find('.');
    if (s.substr(0, dot).empty()) return true;
    if (dot == std::string_view::npos) return false;
    s.remove_prefix(dot + 1);
  }
}

// Keys a schema object spends on the model. Parse drops them from the attributes (as Java Avro
// does, whatever the type), Render never emits them from attributes, Validate rejects them.
constexpr std::string_view kSchemaKeys[] = {"type",    "name", "namespace", "doc",   "fields",
                                            "symbols", "size", "items",     "values"};
// Likewise for the keys of a record field.
constexpr std::string_view kFieldKeys[] = {"name", "type", "default", "doc"};

bool IsOneOf(std::string_view key, std::span<const std::string_view> keys) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string Quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// A union may hold one schema of each unnamed type and any named types with distinct names.
bool SameUnionBranch(const Schema& a, const Schema& b) {
  if (a.is_named() || b.is_named()) {
    return a.is_named() && b.is_named() && a.full_name() == b.full_name();
  }
  return a.type() == b.type();
}

std::string BranchName(const Schema& s) {
  return Quote(s.is_named() ? s.full_name() : std::string(TypeName(s.type())));
}

// ---------------------------------------------------------------------------------------------
// Parsing

class Parser {
 public:
  Result<Schema> Parse(const json& j, const std::string& enclosing_ns, int depth) {
    if (depth > kMaxSchemaDepth) {
      return InvalidArgument("schema nests deeper than " + std::to_string(kMaxSchemaDepth) +
                             " levels");
    }
    if (j.is_string()) return ParseName(j.get_ref<const std::string&>(), enclosing_ns);
    if (j.is_array()) return ParseUnion(j, enclosing_ns, depth);
    if (!j.is_object()) {
      return InvalidArgument("schema must be a string, an array or an object, got " +
                             std::string(j.type_name()));
    }
    auto type_it = j.find("type");
    if (type_it == j.end()) return InvalidArgument("schema object has no \"type\"");
    if (!type_it->is_string()) {
      return InvalidArgument("\"type\" of a schema object must be a string, got " +
                             Quote(type_it->dump()));
    }
    const std::string& type = type_it->get_ref<const std::string&>();
    if (auto primitive = PrimitiveFromName(type)) {
      auto node = std::make_shared<SchemaNode>();
      node->type = *primitive;
      CopyAttributes(j, kSchemaKeys, &node->attributes);
      return Finish(std::move(node));
    }
    if (type == "record" || type == "error") return ParseRecord(j, enclosing_ns, depth);
    if (type == "enum") return ParseEnum(j, enclosing_ns);
    if (type == "fixed") return ParseFixed(j, enclosing_ns);
    if (type == "array" || type == "map") {
      const char* key = type == "array" ? "items" : "values";
      auto it = j.find(key);
      if (it == j.end()) return InvalidArgument(type + " schema has no \"" + key + "\"");
      PG2I_ASSIGN_OR_RETURN(Schema child, Parse(*it, enclosing_ns, depth + 1));
      auto node = std::make_shared<SchemaNode>();
      node->type = type == "array" ? Type::kArray : Type::kMap;
      node->children.push_back(std::move(child));
      CopyAttributes(j, kSchemaKeys, &node->attributes);
      return Finish(std::move(node));
    }
    // {"type": "SomeName"} references a named type (Java Avro accepts it too).
    return ParseName(type, enclosing_ns);
  }

 private:
  static void CopyAttributes(const json& j, std::span<const std::string_view> reserved,
                             json* out) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (IsOneOf(it.key(), reserved)) continue;
      (*out)[it.key()] = it.value();
    }
  }

  Result<Schema> ParseName(const std::string& name, const std::string& enclosing_ns) {
    if (auto primitive = PrimitiveFromName(name)) return Primitive(*primitive);
    std::vector<std::string> candidates;
    if (name.find('.') == std::string::npos && !enclosing_ns.empty()) {
      candidates.push_back(enclosing_ns + "." + name);
    }
    candidates.push_back(name);
    for (const std::string& full : candidates) {
      if (auto it = named_.find(full); it != named_.end()) return it->second;
      if (in_progress_.count(full) != 0) {
        return Unimplemented("recursive schema: type " + Quote(full) +
                             " is used inside its own definition");
      }
    }
    return InvalidArgument("unknown type " + Quote(name));
  }

  Result<Schema> ParseUnion(const json& j, const std::string& enclosing_ns, int depth) {
    auto node = std::make_shared<SchemaNode>();
    node->type = Type::kUnion;
    for (const json& branch_json : j) {
      PG2I_ASSIGN_OR_RETURN(Schema branch, Parse(branch_json, enclosing_ns, depth + 1));
      if (branch.type() == Type::kUnion) {
        return InvalidArgument("a union may not directly contain a union");
      }
      for (const Schema& other : node->children) {
        if (SameUnionBranch(other, branch)) {
          return InvalidArgument("union has two branches of type " + BranchName(branch));
        }
      }
      node->children.push_back(std::move(branch));
    }
    return Finish(std::move(node));
  }

  // Fills name/name_space from "name" and "namespace" as the spec resolves them.
  Status ParseDefinitionName(const json& j, const std::string& enclosing_ns, SchemaNode* node) {
    auto name_it = j.find("name");
    if (name_it == j.end() || !name_it->is_string()) {
      return InvalidArgument(std::string(TypeName(node->type)) +
                             " schema needs a string \"name\"");
    }
    const std::string& name = name_it->get_ref<const std::string&>();
    if (name.find('.') != std::string::npos) {
      SplitFullName(name, &node->name, &node->name_space);
    } else {
      node->name = name;
      auto ns_it = j.find("namespace");
      if (ns_it != j.end() && ns_it->is_string()) {
        node->name_space = ns_it->get_ref<const std::string&>();
      } else if (ns_it != j.end() && !ns_it->is_null()) {
        return InvalidArgument("\"namespace\" of " + Quote(name) + " must be a string");
      } else {
        node->name_space = enclosing_ns;
      }
    }
    if (node->name.empty() || HasEmptyComponent(node->name_space)) {
      return InvalidArgument("invalid type name " + Quote(name));
    }
    std::string full = JoinName(node->name_space, node->name);
    if (PrimitiveFromName(full)) {
      return InvalidArgument("a named type may not be called " + Quote(full));
    }
    if (named_.count(full) != 0 || in_progress_.count(full) != 0) {
      return InvalidArgument("type " + Quote(full) + " is defined twice");
    }
    if (auto doc_it = j.find("doc"); doc_it != j.end()) {
      if (!doc_it->is_string()) {
        return InvalidArgument("\"doc\" of " + Quote(full) + " must be a string");
      }
      node->doc = doc_it->get_ref<const std::string&>();
    }
    return Status::Ok();
  }

  Schema Define(std::shared_ptr<SchemaNode> node) {
    std::string full = JoinName(node->name_space, node->name);
    in_progress_.erase(full);
    Schema s = Finish(std::move(node));
    named_.emplace(std::move(full), s);
    return s;
  }

  Result<Schema> ParseRecord(const json& j, const std::string& enclosing_ns, int depth) {
    auto node = std::make_shared<SchemaNode>();
    node->type = Type::kRecord;
    PG2I_RETURN_IF_ERROR(ParseDefinitionName(j, enclosing_ns, node.get()));
    const std::string full = JoinName(node->name_space, node->name);
    auto fields_it = j.find("fields");
    if (fields_it == j.end() || !fields_it->is_array()) {
      return InvalidArgument("record " + Quote(full) + " needs a \"fields\" array");
    }
    in_progress_.insert(full);
    std::set<std::string> seen;
    for (const json& fj : *fields_it) {
      if (!fj.is_object()) {
        return InvalidArgument("record " + Quote(full) + " has a field that is not an object");
      }
      Field field;
      auto name_it = fj.find("name");
      if (name_it == fj.end() || !name_it->is_string()) {
        return InvalidArgument("record " + Quote(full) + " has a field without a string name");
      }
      field.name = name_it->get_ref<const std::string&>();
      if (field.name.empty() || !seen.insert(field.name).second) {
        return InvalidArgument("record " + Quote(full) + " has an empty or duplicate field " +
                               Quote(field.name));
      }
      auto type_it = fj.find("type");
      if (type_it == fj.end()) {
        return InvalidArgument("field " + Quote(field.name) + " of " + Quote(full) +
                               " has no type");
      }
      auto type = Parse(*type_it, node->name_space, depth + 1);
      if (!type.ok()) {
        return type.status().WithContext("field " + Quote(field.name) + " of " + Quote(full));
      }
      field.type = std::move(type).value();
      if (auto it = fj.find("default"); it != fj.end()) field.default_value = *it;
      if (auto it = fj.find("doc"); it != fj.end()) {
        if (!it->is_string()) {
          return InvalidArgument("\"doc\" of field " + Quote(field.name) + " must be a string");
        }
        field.doc = it->get_ref<const std::string&>();
      }
      CopyAttributes(fj, kFieldKeys, &field.attributes);
      node->fields.push_back(std::move(field));
    }
    CopyAttributes(j, kSchemaKeys, &node->attributes);
    return Define(std::move(node));
  }

  Result<Schema> ParseEnum(const json& j, const std::string& enclosing_ns) {
    auto node = std::make_shared<SchemaNode>();
    node->type = Type::kEnum;
    PG2I_RETURN_IF_ERROR(ParseDefinitionName(j, enclosing_ns, node.get()));
    const std::string full = JoinName(node->name_space, node->name);
    auto it = j.find("symbols");
    if (it == j.end() || !it->is_array()) {
      return InvalidArgument("enum " + Quote(full) + " needs a \"symbols\" array");
    }
    std::set<std::string> seen;
    for (const json& sym : *it) {
      if (!sym.is_string() || !seen.insert(sym.get<std::string>()).second) {
        return InvalidArgument("enum " + Quote(full) + " has a non-string or duplicate symbol");
      }
      node->symbols.push_back(sym.get<std::string>());
    }
    CopyAttributes(j, kSchemaKeys, &node->attributes);
    return Define(std::move(node));
  }

  Result<Schema> ParseFixed(const json& j, const std::string& enclosing_ns) {
    auto node = std::make_shared<SchemaNode>();
    node->type = Type::kFixed;
    PG2I_RETURN_IF_ERROR(ParseDefinitionName(j, enclosing_ns, node.get()));
    const std::string full = JoinName(node->name_space, node->name);
    auto it = j.find("size");
    bool ok = it != j.end() && it->is_number_integer() &&
              (it->is_number_unsigned()
                   ? it->get<uint64_t>() <= uint64_t{std::numeric_limits<int32_t>::max()}
                   : it->get<int64_t>() >= 0 &&
                         it->get<int64_t>() <= std::numeric_limits<int32_t>::max());
    if (!ok) {
      return InvalidArgument("fixed " + Quote(full) +
                             " needs an integer \"size\" in [0, 2^31)");
    }
    node->size = it->get<int64_t>();
    CopyAttributes(j, kSchemaKeys, &node->attributes);
    return Define(std::move(node));
  }

  std::map<std::string, Schema> named_;
  std::set<std::string> in_progress_;
};

// ---------------------------------------------------------------------------------------------
// Rendering

class Renderer {
 public:
  ordered_json Render(const Schema& s, const std::string& enclosing_ns) {
    const Type t = s.type();
    if (t == Type::kUnion) {
      ordered_json out = ordered_json::array();
      for (const Schema& b : s.branches()) out.push_back(Render(b, enclosing_ns));
      return out;
    }
    const json& attrs = s.attributes();
    const bool has_attrs = attrs.is_object() && !attrs.empty();
    if (!IsNamedType(t) && t != Type::kArray && t != Type::kMap && !has_attrs) {
      return std::string(TypeName(t));
    }
    if (IsNamedType(t)) {
      std::string full = s.full_name();
      if (!defined_.insert(full).second) {
        // Already defined: reference it by the shortest name that resolves back to it.
        return s.name_space() == enclosing_ns ? s.name() : full;
      }
    }
    ordered_json out = ordered_json::object();
    out["type"] = std::string(TypeName(t));
    const std::string* inner_ns = &enclosing_ns;
    if (IsNamedType(t)) {
      out["name"] = s.name();
      if (s.name_space() != enclosing_ns) out["namespace"] = s.name_space();
      if (!s.doc().empty()) out["doc"] = s.doc();
      inner_ns = &s.name_space();
    }
    switch (t) {
      case Type::kRecord: {
        ordered_json fields = ordered_json::array();
        for (const Field& f : s.fields()) {
          ordered_json fj = ordered_json::object();
          fj["name"] = f.name;
          fj["type"] = Render(f.type, *inner_ns);
          if (!f.doc.empty()) fj["doc"] = f.doc;
          if (f.default_value) fj["default"] = ordered_json(*f.default_value);
          AppendAttributes(f.attributes, kFieldKeys, &fj);
          fields.push_back(std::move(fj));
        }
        out["fields"] = std::move(fields);
        break;
      }
      case Type::kEnum:
        out["symbols"] = s.symbols();
        break;
      case Type::kFixed:
        out["size"] = s.fixed_size();
        break;
      case Type::kArray:
        out["items"] = Render(s.items(), enclosing_ns);
        break;
      case Type::kMap:
        out["values"] = Render(s.values(), enclosing_ns);
        break;
      default:
        break;
    }
    AppendAttributes(attrs, kSchemaKeys, &out);
    return out;
  }

 private:
  static void AppendAttributes(const json& attrs, std::span<const std::string_view> skip,
                               ordered_json* out) {
    if (!attrs.is_object()) return;
    for (auto it = attrs.begin(); it != attrs.end(); ++it) {
      // Validate rejects reserved keys; rendering never lets them clobber the model.
      if (IsOneOf(it.key(), skip)) continue;
      (*out)[it.key()] = ordered_json(it.value());
    }
  }

  std::set<std::string> defined_;
};

// ---------------------------------------------------------------------------------------------
// Validation

class Validator {
 public:
  Status Check(const Schema& s, int depth) {
    if (depth > kMaxSchemaDepth) {
      return InvalidArgument("schema nests deeper than " + std::to_string(kMaxSchemaDepth) +
                             " levels");
    }
    const Type t = s.type();
    PG2I_RETURN_IF_ERROR(CheckAttributes(s));
    if (IsNamedType(t)) {
      std::string full = s.full_name();
      if (!IsValidName(s.name()) || !IsValidNamespace(s.name_space())) {
        return InvalidArgument("invalid Avro name " + Quote(full) +
                               "; names match [A-Za-z_][A-Za-z0-9_]*");
      }
      if (PrimitiveFromName(full)) {
        return InvalidArgument("a named type may not be called " + Quote(full));
      }
      auto [it, inserted] = defined_.emplace(full, s);
      if (!inserted) {
        if (it->second == s) return Status::Ok();  // the same definition again: a reference
        return InvalidArgument("type " + Quote(full) +
                               " is defined twice with different definitions");
      }
    }
    switch (t) {
      case Type::kRecord: {
        std::set<std::string_view> seen;
        for (const Field& f : s.fields()) {
          Status st = CheckField(f, depth, &seen);
          if (!st.ok()) return st.WithContext("record " + Quote(s.full_name()));
        }
        return Status::Ok();
      }
      case Type::kEnum: {
        std::set<std::string_view> seen;
        for (const std::string& sym : s.symbols()) {
          if (!IsValidName(sym) || !seen.insert(sym).second) {
            return InvalidArgument("enum " + Quote(s.full_name()) +
                                   " has an invalid or duplicate symbol " + Quote(sym));
          }
        }
        if (const json* def = s.attribute("default")) {
          if (!def->is_string() || seen.count(def->get_ref<const std::string&>()) == 0) {
            return InvalidArgument("enum " + Quote(s.full_name()) +
                                   " has a default that is not one of its symbols");
          }
        }
        return Status::Ok();
      }
      case Type::kFixed:
        if (s.fixed_size() < 0 || s.fixed_size() > std::numeric_limits<int32_t>::max()) {
          return InvalidArgument("fixed " + Quote(s.full_name()) + " has an invalid size");
        }
        return Status::Ok();
      case Type::kArray:
        return Check(s.items(), depth + 1);
      case Type::kMap:
        return Check(s.values(), depth + 1);
      case Type::kUnion: {
        if (s.branches().empty()) return InvalidArgument("a union needs at least one branch");
        for (size_t i = 0; i < s.branches().size(); ++i) {
          const Schema& b = s.branches()[i];
          if (b.type() == Type::kUnion) {
            return InvalidArgument("a union may not directly contain a union");
          }
          for (size_t k = 0; k < i; ++k) {
            if (SameUnionBranch(s.branches()[k], b)) {
              return InvalidArgument("union has two branches of type " + BranchName(b));
            }
          }
          PG2I_RETURN_IF_ERROR(Check(b, depth + 1));
        }
        return Status::Ok();
      }
      default:
        return Status::Ok();
    }
  }

 private:
  static Status CheckAttributes(const Schema& s) {
    const json& attrs = s.attributes();
    if (!attrs.is_object()) return InvalidArgument("schema attributes must be a JSON object");
    if (attrs.empty()) return Status::Ok();
    if (s.type() == Type::kUnion) {
      return InvalidArgument("a union cannot carry attributes in Avro JSON");
    }
    for (auto it = attrs.begin(); it != attrs.end(); ++it) {
      if (IsOneOf(it.key(), kSchemaKeys)) {
        return InvalidArgument("attribute " + Quote(it.key()) + " is reserved by Avro");
      }
    }
    return Status::Ok();
  }

  Status CheckField(const Field& f, int depth, std::set<std::string_view>* seen) {
    if (!IsValidName(f.name)) {
      return InvalidArgument("invalid field name " + Quote(f.name) +
                             "; names match [A-Za-z_][A-Za-z0-9_]*");
    }
    if (!seen->insert(f.name).second) {
      return InvalidArgument("duplicate field " + Quote(f.name));
    }
    if (!f.attributes.is_null() && !f.attributes.is_object()) {
      return InvalidArgument("attributes of field " + Quote(f.name) + " must be a JSON object");
    }
    if (f.attributes.is_object()) {
      for (auto it = f.attributes.begin(); it != f.attributes.end(); ++it) {
        if (IsOneOf(it.key(), kFieldKeys)) {
          return InvalidArgument("attribute " + Quote(it.key()) + " of field " +
                                 Quote(f.name) + " is reserved by Avro");
        }
      }
    }
    Status st = Check(f.type, depth + 1);
    if (!st.ok()) return st.WithContext("field " + Quote(f.name));
    if (f.default_value) {
      auto d = DatumFromJson(f.type, *f.default_value);
      if (!d.ok()) {
        return InvalidArgument("field " + Quote(f.name) + " has an invalid default " +
                               f.default_value->dump(-1, ' ', false,
                                                     json::error_handler_t::replace) +
                               ": " + d.status().message());
      }
    }
    return Status::Ok();
  }

  std::map<std::string, Schema> defined_;
};

bool AttributesEqual(const json& a, const json& b) {
  auto empty = [](const json& j) { return j.is_null() || (j.is_object() && j.empty()); };
  if (empty(a) || empty(b)) return empty(a) && empty(b);
  return a == b;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Schema

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBoolean: return "boolean";
    case Type::kInt: return "int";
    case Type::kLong: return "long";
    case Type::kFloat: return "float";
    case Type::kDouble: return "double";
    case Type::kBytes: return "bytes";
    case Type::kString: return "string";
    case Type::kRecord: return "record";
    case Type::kEnum: return "enum";
    case Type::kArray: return "array";
    case Type::kMap: return "map";
    case Type::kUnion: return "union";
    case Type::kFixed: return "fixed";
  }
  return "unknown";
}

Schema::Schema() : Schema(Null()) {}
Schema::Schema(std::shared_ptr<const internal::SchemaNode> node) : node_(std::move(node)) {}

#define PG2I_AVRO_PRIMITIVE(Fn, T)                                    \
  Schema Schema::Fn() {                                               \
    static const Schema* const kSchema = new Schema(NewPrimitive(T)); \
    return *kSchema;                                                  \
  }
PG2I_AVRO_PRIMITIVE(Null, Type::kNull)
PG2I_AVRO_PRIMITIVE(Boolean, Type::kBoolean)
PG2I_AVRO_PRIMITIVE(Int, Type::kInt)
PG2I_AVRO_PRIMITIVE(Long, Type::kLong)
PG2I_AVRO_PRIMITIVE(Float, Type::kFloat)
PG2I_AVRO_PRIMITIVE(Double, Type::kDouble)
PG2I_AVRO_PRIMITIVE(Bytes, Type::kBytes)
PG2I_AVRO_PRIMITIVE(String, Type::kString)
#undef PG2I_AVRO_PRIMITIVE

Schema Schema::Record(std::string full_name, std::vector<Field> fields, std::string doc) {
  auto node = std::make_shared<SchemaNode>();
  node->type = Type::kRecord;
  SplitFullName(std::move(full_name), &node->name, &node->name_space);
  node->fields = std::move(fields);
  node->doc = std::move(doc);
  return Finish(std::move(node));
}

Schema Schema::Enum(std::string full_name, std::vector<std::string> symbols, std::string doc) {
  auto node = std::make_shared<SchemaNode>();
  node->type = Type::kEnum;
  SplitFullName(std::move(full_name), &node->name, &node->name_space);
  node->symbols = std::move(symbols);
  node->doc = std::move(doc);
  return Finish(std::move(node));
}

Schema Schema::Fixed(std::string full_name, int64_t size) {
  auto node = std::make_shared<SchemaNode>();
  node->type = Type::kFixed;
  SplitFullName(std::move(full_name), &node->name, &node->name_space);
  node->size = size;
  return Finish(std::move(node));
}

Schema Schema::Array(Schema items) {
  auto node = std::make_shared<SchemaNode>();
  node->type = Type::kArray;
  node->children.push_back(std::move(items));
  return Finish(std::move(node));
}

Schema Schema::Map(Schema values) {
  auto node = std::make_shared<SchemaNode>();
  node->type = Type::kMap;
  node->children.push_back(std::move(values));
  return Finish(std::move(node));
}

Schema Schema::Union(std::vector<Schema> branches) {
  auto node = std::make_shared<SchemaNode>();
  node->type = Type::kUnion;
  node->children = std::move(branches);
  return Finish(std::move(node));
}

Schema Schema::Optional(Schema value) { return Union({Null(), std::move(value)}); }

Schema Schema::WithAttribute(std::string key, nlohmann::json value) const {
  auto node = std::make_shared<SchemaNode>(*node_);
  if (!node->attributes.is_object()) node->attributes = json::object();
  node->attributes[std::move(key)] = std::move(value);
  return Finish(std::move(node));
}

Result<Schema> Schema::Parse(std::string_view json_text) {
  json j = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("Avro schema is not valid JSON");
  return FromJson(j);
}

Result<Schema> Schema::FromJson(const nlohmann::json& json) {
  if (internal::JsonNestsDeeperThan(json, kMaxJsonDepth)) {
    return InvalidArgument("Avro schema JSON nests deeper than " +
                           std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    Parser parser;
    return parser.Parse(json, "", 0);
  } catch (const nlohmann::json::exception& e) {
    return Internal(std::string("Avro schema parser: unexpected JSON error: ") + e.what());
  }
}

std::string Schema::ToString() const {
  std::call_once(node_->rendered_once, [this] {
    try {
      Renderer renderer;
      node_->rendered =
          renderer.Render(*this, "").dump(-1, ' ', false, json::error_handler_t::replace);
    } catch (const nlohmann::json::exception& e) {
      // Rendering our own model cannot fail; keep the exception inside the codec regardless.
      node_->rendered = std::string("{\"error\":") + Quote(e.what()) + "}";
    }
  });
  return node_->rendered;
}

Status Schema::Validate() const {
  try {
    Validator validator;
    return validator.Check(*this, 0);
  } catch (const nlohmann::json::exception& e) {
    return Internal(std::string("Avro schema validation: unexpected JSON error: ") + e.what());
  }
}

Type Schema::type() const { return node_->type; }
bool Schema::is_named() const { return IsNamedType(node_->type); }
const std::string& Schema::name() const { return node_->name; }
const std::string& Schema::name_space() const { return node_->name_space; }
std::string Schema::full_name() const { return JoinName(node_->name_space, node_->name); }
const std::string& Schema::doc() const { return node_->doc; }
const std::vector<Field>& Schema::fields() const { return node_->fields; }

const Field* Schema::FindField(std::string_view name) const {
  int i = FieldIndex(name);
  return i < 0 ? nullptr : &node_->fields[static_cast<size_t>(i)];
}

int Schema::FieldIndex(std::string_view name) const {
  for (size_t i = 0; i < node_->fields.size(); ++i) {
    if (node_->fields[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

const std::vector<std::string>& Schema::symbols() const { return node_->symbols; }
int64_t Schema::fixed_size() const { return node_->size; }

const Schema& Schema::items() const {
  static const Schema* const kNull = new Schema(Null());
  return node_->type == Type::kArray && !node_->children.empty() ? node_->children[0] : *kNull;
}

const Schema& Schema::values() const {
  static const Schema* const kNull = new Schema(Null());
  return node_->type == Type::kMap && !node_->children.empty() ? node_->children[0] : *kNull;
}

const std::vector<Schema>& Schema::branches() const {
  static const std::vector<Schema>* const kEmpty = new std::vector<Schema>();
  return node_->type == Type::kUnion ? node_->children : *kEmpty;
}

const nlohmann::json& Schema::attributes() const { return node_->attributes; }

const nlohmann::json* Schema::attribute(std::string_view key) const {
  if (!node_->attributes.is_object()) return nullptr;
  auto it = node_->attributes.find(key);
  return it == node_->attributes.end() ? nullptr : &*it;
}

int64_t Schema::min_encoded_size() const { return node_->min_size; }

bool Schema::operator==(const Schema& other) const {
  if (node_ == other.node_) return true;
  const SchemaNode& a = *node_;
  const SchemaNode& b = *other.node_;
  return a.type == b.type && a.name == b.name && a.name_space == b.name_space &&
         a.doc == b.doc && a.size == b.size && a.symbols == b.symbols &&
         AttributesEqual(a.attributes, b.attributes) && a.fields == b.fields &&
         a.children == b.children;
}

bool Field::operator==(const Field& other) const {
  return name == other.name && type == other.type && default_value == other.default_value &&
         doc == other.doc && AttributesEqual(attributes, other.attributes);
}

}  // namespace pg2iceberg::avro
